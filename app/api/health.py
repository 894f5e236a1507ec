"""Liveness, readiness, which backend is in use, and which replica leads."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from app.api.deps import BackendDep, LifecycleDep, StoreDep
from app.security.roles import Role

router = APIRouter(tags=["service"])


class Health(BaseModel):
    status: str


class ReplicaRead(BaseModel):
    id: str = Field(description="this replica: host:pid (plus a few characters)")
    leader: bool = Field(description="whether this replica drives the runs now")
    leader_id: str | None = Field(description="the replica that drives the runs now, if any")
    draining: bool = Field(description="shutting down: finishing requests, taking no new ones")


class Readiness(BaseModel):
    ready: bool
    checks: dict[str, str]
    replica: ReplicaRead


class BackendRead(BaseModel):
    kind: str
    details: dict[str, str]
    replica: ReplicaRead


async def _replica(lifecycle: LifecycleDep) -> ReplicaRead:
    try:
        leader_id = await asyncio.to_thread(lifecycle.leader_id)
    except Exception:  # the store check reports the database itself
        leader_id = None
    return ReplicaRead(
        id=lifecycle.replica_id,
        leader=lifecycle.leadership.leader,
        leader_id=leader_id,
        draining=lifecycle.draining,
    )


@router.get("/healthz", response_model=Health, summary="Liveness: the process answers")
async def healthz() -> Health:
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Readiness,
    summary="Readiness: the store and the training backend can take work",
    responses={503: {"model": Readiness, "description": "Not ready; `checks` says what is wrong"}},
)
async def readyz(store: StoreDep, backend: BackendDep, lifecycle: LifecycleDep) -> JSONResponse:
    checks: dict[str, str] = {}
    try:
        store.ping()
        checks["store"] = "ok"
    except Exception as error:  # report, don't crash: this endpoint exists to say what is wrong
        checks["store"] = f"database unreachable: {error}"
    report = await backend.ready()
    checks.update(report.checks)
    replica = await _replica(lifecycle)
    if replica.draining:
        checks["replica"] = "draining: this replica is stopping; send requests to the others"
    ready = checks["store"] == "ok" and report.ready and not replica.draining
    body = Readiness(ready=ready, checks=checks, replica=replica)
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)


@router.get(
    "/v1/backend", response_model=BackendRead, summary="Which backend, workspace and identity are in use"
)
async def backend_info(backend: BackendDep, lifecycle: LifecycleDep, request: Request) -> BackendRead:
    info = backend.describe()
    principal = getattr(request.state, "principal", None)
    admin = principal is not None and principal.role is not None and principal.role >= Role.ADMIN
    # Local paths and connection strings tell a reader where to aim: admins only.
    details = {**info.details, **(info.private if admin else {})}
    return BackendRead(kind=info.kind, details=details, replica=await _replica(lifecycle))
