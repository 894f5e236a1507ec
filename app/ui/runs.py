"""The dashboard's runs: the list (live through the event stream), one run with its steps,
decision, metrics, plots and logs, and the pieces the page scripts refresh in place."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import FileResponse, JSONResponse

from app.api.runs import media_type
from app.domain.clock import utcnow
from app.domain.errors import DomainError, NotFound
from app.domain.status import RunStatus
from app.lifecycle.queries import RunQueries
from app.store.tables import RunRow
from app.ui.common import PageNotFound, Reader, may_submit, svc
from app.ui.render import SECURITY_HEADERS, fragment, page
from app.ui.timeline import decision_view, step_timeline

router = APIRouter(prefix="/ui", include_in_schema=False)

PAGE_SIZE = 50
STATUSES = [s.value for s in RunStatus]
KINDS = ["job", "pipeline"]
Text = Annotated[str | None, Query(max_length=128)]


@dataclass(frozen=True)
class Filters:
    status: str | None
    kind: str | None
    model: str | None
    experiment: str | None

    @classmethod
    def of(cls, status: str | None, kind: str | None, model: str | None, experiment: str | None) -> Filters:
        # Unknown values are dropped, not refused: a hand-edited URL still shows a page.
        return cls(
            status if status in STATUSES else None,
            kind if kind in KINDS else None,
            model or None,
            experiment or None,
        )

    def query(self) -> dict[str, Any]:
        return {
            "status": RunStatus(self.status) if self.status else None,
            "kind": self.kind,
            "experiment_name": self.experiment,
            "model_name": self.model,
        }

    def matches(self, row: RunRow) -> bool:
        return all(
            wanted is None or wanted == actual
            for wanted, actual in (
                (self.status, row.status),
                (self.kind, row.kind),
                (self.model, row.model_name),
                (self.experiment, row.experiment_name),
            )
        )


def seconds_between(start: datetime | None, end: datetime | None) -> float | None:
    if start is None:
        return None
    return max(0.0, ((end or utcnow()) - start).total_seconds())


def row_view(row: RunRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "kind": row.kind,
        "status": row.status,
        "model": row.model_name,
        "experiment": row.experiment_name,
        "submitted_by": row.submitted_by or "",
        "created_at": row.created_at,
        "started_at": row.started_at,
        "ended_at": row.ended_at,
        "seconds": seconds_between(row.started_at, row.ended_at),
        "running": not RunStatus(row.status).is_final,
    }


def _queries(request: Request) -> RunQueries:
    return svc(request).lifecycle.queries


@router.get("")
async def home() -> Response:
    return Response(status_code=303, headers={"Location": "/ui/runs"})


@router.get("/runs")
async def runs_page(
    request: Request,
    principal: Reader,
    status: Text = None,
    kind: Text = None,
    model: Text = None,
    experiment: Text = None,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    filters = Filters.of(status, kind, model, experiment)
    queries = _queries(request)
    rows, next_cursor = queries.page(**filters.query(), cursor=cursor, limit=PAGE_SIZE)
    models, experiments = queries.runs.names()
    return page(
        request,
        "runs.html",
        runs=[row_view(r) for r in rows],
        filters=filters,
        total=queries.count(**filters.query()),
        next_cursor=next_cursor,
        first_page=cursor is None,
        statuses=STATUSES,
        kinds=KINDS,
        models=models,
        experiments=experiments,
        last_event_id=svc(request).lifecycle.hub.position,
        can_submit=may_submit(principal),
    )


@router.get("/runs/{run_id}/row")
async def run_row(
    request: Request,
    run_id: str,
    principal: Reader,
    status: Text = None,
    kind: Text = None,
    model: Text = None,
    experiment: Text = None,
) -> Response:
    """One table row, for the list's script; 204 when the run no longer matches its filters."""
    row = _queries(request).runs.get(run_id)
    if row is None or not Filters.of(status, kind, model, experiment).matches(row):
        return Response(status_code=204, headers=SECURITY_HEADERS)
    return fragment("_run_row.html", run=row_view(row))


async def _run_context(request: Request, run_id: str) -> dict[str, Any]:
    queries = _queries(request)
    row = queries.runs.get(run_id)
    if row is None:
        raise PageNotFound(f"training run {run_id}")
    try:
        metrics = (await queries.metrics(run_id)).steps
        plots = [a.path for a in await queries.artifacts(run_id) if a.path.endswith(".png")]
        unavailable = None
    except DomainError as error:  # the backend is briefly unreachable: show the rest
        metrics, plots, unavailable = [], [], error.detail
    names = sorted({name for step in metrics for name in step.metrics})
    trials = None
    if row.spec.sweep is not None:
        try:
            trials = await svc(request).lifecycle.trials.trials(run_id)
        except DomainError as error:
            unavailable = unavailable or error.detail
    return {
        "run": row_view(row),
        "row": row,
        "spec": row.spec,
        "steps": step_timeline(row.steps),
        "decision": decision_view(row),
        "metric_names": names,
        "metrics": metrics,
        "plots": plots,
        "unavailable": unavailable,
        "trials": trials,
    }


@router.get("/runs/{run_id}")
async def run_page(request: Request, run_id: str, principal: Reader) -> Response:
    context = await _run_context(request, run_id)
    return page(request, "run.html", **context, last_event_id=svc(request).lifecycle.hub.position)


@router.get("/runs/{run_id}/live")
async def run_live(request: Request, run_id: str, principal: Reader) -> Response:
    """The run page's changing sections, re-rendered for its script after each event."""
    return fragment("_run_live.html", **(await _run_context(request, run_id)))


@router.get("/runs/{run_id}/log")
async def run_log(
    request: Request,
    run_id: str,
    principal: Reader,
    step: Annotated[str, Query(max_length=64)],
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    """The part of a step's log after `offset` characters, and whether the step has ended
    (then the script stops following it)."""
    queries = _queries(request)
    row = queries.runs.get(run_id)
    found = next((s for s in row.steps if s.name == step), None) if row else None
    if row is None or found is None:
        return JSONResponse({"detail": "no such run or step"}, status_code=404, headers=SECURITY_HEADERS)
    try:
        text = await queries.logs(run_id, step)
    except DomainError:  # no log yet (NotFound), or the backend is briefly unreachable
        text = ""
    body = {"text": text[offset:], "offset": len(text), "final": RunStatus(found.status).is_final}
    return JSONResponse(body, headers=SECURITY_HEADERS)


@router.get("/runs/{run_id}/artifacts/{path:path}")
async def run_artifact(request: Request, run_id: str, path: str, principal: Reader) -> Response:
    """A plot, for the run page's <img> (the browser sends the session cookie, not a key)."""
    try:
        file = await _queries(request).artifact(run_id, path)
    except NotFound:
        return Response("not found", status_code=404, media_type="text/plain", headers=SECURITY_HEADERS)
    headers = {**SECURITY_HEADERS, "Cache-Control": "private, max-age=3600"}
    return FileResponse(file, media_type=media_type(path), headers=headers)
