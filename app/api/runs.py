"""/v1/training-runs: submit, poll, wait, cancel, and read what a run produced."""

from __future__ import annotations

import mimetypes
from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Request, Response
from fastapi.responses import FileResponse

from app.api.deps import CallerDep, RunsDep, SubmissionDep, TrialsDep
from app.api.errors import problem_responses
from app.domain.spec import RunKind
from app.domain.status import RunStatus
from app.domain.steps import PIPELINE_STEPS
from app.lifecycle.schemas import (
    ArtifactList,
    ArtifactRead,
    LogsRead,
    OutcomeRead,
    RunMetricsRead,
    TrainingRunCreate,
    TrainingRunList,
    TrainingRunRead,
    TrialsRead,
)
from app.lifecycle.views import run_read

router = APIRouter(prefix="/v1/training-runs", tags=["training runs"])

RunId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        description="Same key + same body returns the same run; same key + another body is a 409.",
    ),
]
MAX_WAIT_SECONDS = 300.0


def media_type(path: str) -> str:
    """Content type of an artifact by its name (plots are image/png)."""
    if path.endswith(".json"):
        return "application/json"
    return mimetypes.guess_type(path)[0] or "application/octet-stream"


@router.post(
    "",
    status_code=202,
    response_model=TrainingRunRead,
    summary="Submit a training job or pipeline",
    responses=problem_responses(401, 403, 409, 413, 422, 429, 502, 503),
)
async def submit_run(
    body: TrainingRunCreate,
    submission: SubmissionDep,
    caller: CallerDep,
    request: Request,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> TrainingRunRead:
    row, created = await submission.submit(body, idempotency_key, caller)
    response.headers["Location"] = str(request.url_for("get_run", run_id=row.id).path)
    if not created:
        response.headers["Idempotent-Replayed"] = "true"
    return run_read(row)


@router.get(
    "",
    response_model=TrainingRunList,
    summary="List runs, newest first",
    responses=problem_responses(401, 403, 422),
)
async def list_runs(
    runs: RunsDep,
    status: RunStatus | None = None,
    kind: RunKind | None = None,
    experiment_name: Annotated[str | None, Query(max_length=128)] = None,
    model_name: Annotated[str | None, Query(max_length=128)] = None,
    cursor: Annotated[
        str | None, Query(max_length=64, description="next_cursor of the previous page")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> TrainingRunList:
    page, next_cursor = runs.page(
        status=status,
        kind=kind,
        experiment_name=experiment_name,
        model_name=model_name,
        cursor=cursor,
        limit=limit,
    )
    return TrainingRunList(items=[run_read(r) for r in page], next_cursor=next_cursor)


@router.get(
    "/{run_id}",
    response_model=TrainingRunRead,
    summary="A run: status, raw backend status, steps",
    responses=problem_responses(401, 403, 404, 422),
)
async def get_run(run_id: RunId, runs: RunsDep) -> Response:
    return Response(runs.read_json(run_id), media_type="application/json")


@router.get(
    "/{run_id}/wait",
    response_model=TrainingRunRead,
    summary="Long-poll: return when the run ends or the timeout passes",
    responses=problem_responses(401, 403, 404, 422),
)
async def wait_run(
    run_id: RunId,
    runs: RunsDep,
    timeout: Annotated[float, Query(gt=0, le=MAX_WAIT_SECONDS, description="seconds, at most 300")] = 30.0,
) -> TrainingRunRead:
    return run_read(await runs.wait(run_id, timeout))


@router.post(
    "/{run_id}/cancel",
    status_code=202,
    response_model=TrainingRunRead,
    summary="Cancel a queued or running run",
    responses=problem_responses(401, 403, 404, 409, 422, 502, 503),
)
async def cancel_run(run_id: RunId, submission: SubmissionDep) -> TrainingRunRead:
    return run_read(await submission.cancel(run_id))


@router.get(
    "/{run_id}/metrics",
    response_model=RunMetricsRead,
    summary="Metrics per step (custom and autologged)",
    responses=problem_responses(401, 403, 404, 422, 502, 503),
)
async def run_metrics(run_id: RunId, runs: RunsDep) -> RunMetricsRead:
    return await runs.metrics(run_id)


@router.get(
    "/{run_id}/trials",
    response_model=TrialsRead,
    summary="A sweep's trials, best first: hyper-parameters, status, objective, metrics",
    responses=problem_responses(401, 403, 404, 422, 502, 503),
)
async def run_trials(run_id: RunId, trials: TrialsDep) -> TrialsRead:
    return await trials.trials(run_id)


@router.get(
    "/{run_id}/outcome",
    response_model=OutcomeRead,
    summary="The promotion decision and what was registered, with the reason",
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def run_outcome(run_id: RunId, runs: RunsDep) -> OutcomeRead:
    return runs.outcome(run_id)


@router.get(
    "/{run_id}/artifacts",
    response_model=ArtifactList,
    summary="Plots and files the steps logged",
    responses=problem_responses(401, 403, 404, 422, 502, 503),
)
async def list_artifacts(run_id: RunId, runs: RunsDep, request: Request) -> ArtifactList:
    items = await runs.artifacts(run_id)
    base = str(request.url_for("list_artifacts", run_id=run_id).path)
    return ArtifactList(
        run_id=run_id,
        items=[
            ArtifactRead(path=a.path, size=a.size, media_type=media_type(a.path), url=f"{base}/{a.path}")
            for a in items
        ],
    )


@router.get(
    "/{run_id}/artifacts/{path:path}",
    summary="One artifact (plots are image/png)",
    response_class=FileResponse,
    responses={
        200: {"content": {"image/png": {}, "application/octet-stream": {}}},
        **problem_responses(401, 403, 404, 422, 502, 503),
    },
)
async def get_artifact(run_id: RunId, path: str, runs: RunsDep) -> FileResponse:
    file = await runs.artifact(run_id, path)
    return FileResponse(file, media_type=media_type(path))


@router.get(
    "/{run_id}/logs",
    response_model=LogsRead,
    summary="A step's log",
    responses=problem_responses(401, 403, 404, 422, 502, 503),
)
async def run_logs(
    run_id: RunId,
    runs: RunsDep,
    step: Annotated[
        str,
        Query(max_length=64, description=f"one of {', '.join(PIPELINE_STEPS)}, or a sweep's trial"),
    ] = PIPELINE_STEPS[0].value,
) -> LogsRead:
    return LogsRead(run_id=run_id, step=step, text=await runs.logs(run_id, step))
