"""Liveness, readiness and which backend is in use."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from app.api.deps import BackendDep, StoreDep
from app.security.roles import Role

router = APIRouter(tags=["service"])


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    ready: bool
    checks: dict[str, str]


class BackendRead(BaseModel):
    kind: str
    details: dict[str, str]


@router.get("/healthz", response_model=Health, summary="Liveness: the process answers")
async def healthz() -> Health:
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Readiness,
    summary="Readiness: the store and the training backend can take work",
    responses={503: {"model": Readiness, "description": "Not ready; `checks` says what is wrong"}},
)
async def readyz(store: StoreDep, backend: BackendDep) -> JSONResponse:
    checks: dict[str, str] = {}
    try:
        store.ping()
        checks["store"] = "ok"
    except Exception as error:  # report, don't crash: this endpoint exists to say what is wrong
        checks["store"] = f"database unreachable: {error}"
    report = await backend.ready()
    checks.update(report.checks)
    ready = checks["store"] == "ok" and report.ready
    body = Readiness(ready=ready, checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)


@router.get(
    "/v1/backend", response_model=BackendRead, summary="Which backend, workspace and identity are in use"
)
async def backend_info(backend: BackendDep, request: Request) -> BackendRead:
    info = backend.describe()
    principal = getattr(request.state, "principal", None)
    admin = principal is not None and principal.role is not None and principal.role >= Role.ADMIN
    # Local paths and connection strings tell a reader where to aim: admins only.
    return BackendRead(kind=info.kind, details={**info.details, **(info.private if admin else {})})
