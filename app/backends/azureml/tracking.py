"""Azure ML job objects and run history documents -> RunState / StepState.

The raw status is kept and the normalized one derived beside it (a status this code has never
heard of normalizes as Azure's own `Unknown`). Where the times come from, per the recordings
of the real service (`../shared/azure-recordings`):
- a step's run (run history) has `createdUtc` when the pipeline reached it and `startTimeUtc`
  when it actually ran: queueing, preparation and an image build lie between, so a step's
  start is `startTimeUtc`, never its creation;
- a pipeline's ARM job carries no times while it runs; once it ends, the property
  `azureml.pipelines.stages` holds the Execution stage's start and end;
- a command job's ARM document has no times at all: they come from its own run.

A step Azure ML reused did no work of its own: its run's properties say so
(`azureml.isreused: "true"`) and name the run that did (`azureml.reusedrunid`, plus the
node, pipeline and pipeline run). The step is reported `reused`, and its MLflow run, where
the metrics, plots and logs are, is that original run.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from app.domain.state import RunState, StepState
from app.domain.status import normalize_status
from app.domain.steps import PIPELINE_STEPS, StepName

from .environments import image_build_error, is_image_build_failure

FINAL_RAW = {"Completed", "Failed", "Canceled"}
# Not started yet: their runs have no start time to read.
WAITING_RAW = {"NotStarted", "Queued", "Preparing", "Provisioning"}
STAGES_PROPERTY = "azureml.pipelines.stages"
REUSED_PROPERTY = "azureml.isreused"
REUSED_RUN_PROPERTY = "azureml.reusedrunid"
_MESSAGE_LIMIT = 300


def raw_status(value: Any) -> str:
    """JobStatus arrives as a str-enum from some SDK paths and a plain string from others."""
    if value is None:
        return "Unknown"
    text = str(getattr(value, "value", value))
    return text or "Unknown"


def parse_time(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    text = str(value).strip().replace("Z", "+00:00")
    # Azure sends up to 7 fractional digits; fromisoformat takes at most 6.
    if "." in text:
        head, _, tail = text.partition(".")
        digits = "".join(ch for ch in tail if ch.isdigit())
        zone = tail[len(digits) :]
        text = f"{head}.{digits[:6]}{zone}"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.year <= 1:
        return None  # .NET's DateTime.MinValue, run history's "no time"
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def studio_url(job: Any) -> str | None:
    url = getattr(job, "studio_url", None)
    if url:
        return str(url)
    services = getattr(job, "services", None) or {}
    studio = services.get("Studio") if isinstance(services, dict) else None
    endpoint = getattr(studio, "endpoint", None) if studio is not None else None
    return str(endpoint) if endpoint else None


def child_studio_url(parent_url: str | None, parent_name: str, child_name: str) -> str | None:
    """Step runs carry no Studio link; the parent's link with the child's name in place of the
    parent's points at the same workspace and tenant."""
    if parent_url and f"/runs/{parent_name}" in parent_url:
        return parent_url.replace(f"/runs/{parent_name}", f"/runs/{child_name}", 1)
    return None


def error_message(run: Mapping[str, Any] | None) -> str | None:
    """The sentence a person needs from a run's error document.

    Run history nests it (`error.error.message`); the service's messages often start with
    `Error Code:`/`Native Error:` lines and end with `| session_id=...`, and the line after
    `Error Message:` is the readable one.
    """
    if not run:
        return None
    outer = run.get("error")
    inner = outer.get("error") if isinstance(outer, Mapping) else None
    message = inner.get("message") if isinstance(inner, Mapping) else None
    if not isinstance(message, str) or not message.strip():
        return None
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    chosen = next((line for line in lines if line.startswith("Error Message:")), lines[0])
    chosen = chosen.removeprefix("Error Message:").split("| session_id=")[0].strip()
    code = inner.get("code") if isinstance(inner, Mapping) else None
    detail = next((line for line in lines if line.startswith("Error Code:")), None)
    if detail:
        code = detail.removeprefix("Error Code:").strip()
    text = f"{chosen} ({code})" if code and code not in chosen else chosen
    return text[:_MESSAGE_LIMIT]


def step_from_run(
    run: Mapping[str, Any], parent_name: str, parent_url: str | None, environment: str | None = None
) -> StepState:
    status = raw_status(run.get("status"))
    properties = run.get("properties") or {}
    run_id = str(run.get("runId") or run.get("name") or "")
    name = str(run.get("displayName") or properties.get("azureml.nodeid") or run_id)
    reused = str(properties.get(REUSED_PROPERTY, "")).lower() == "true"
    original = str(properties.get(REUSED_RUN_PROPERTY) or "") if reused else ""
    step = StepState(
        name=name,
        raw_status=status,
        started_at=parse_time(run.get("startTimeUtc")),
        ended_at=parse_time(run.get("endTimeUtc")),
        reused=reused,
        backend_job_name=run_id,
        studio_url=child_studio_url(parent_url, parent_name, run_id),
        # an Azure ML job's MLflow run id is its name; a reused step's is the original's
        mlflow_run_id=original or run_id,
    )
    if status == "Failed":
        step.error = _step_error(name, run, environment)
    return step


def _step_error(name: str, run: Mapping[str, Any] | None, environment: str | None) -> str:
    reason = error_message(run)
    if reason and environment and is_image_build_failure(reason):
        # the step never ran: say which environment did not build, not only that a step failed
        return image_build_error(name, reason, environment)
    return (
        f"step {name} failed: {reason}" if reason else f"step {name} failed; see its logs in Azure ML studio"
    )


def _stages(job: Any) -> tuple[datetime | None, datetime | None]:
    """The Execution stage of a finished pipeline: `{"Execution": {"StartTime", "EndTime"}}`."""
    properties = getattr(job, "properties", None) or {}
    try:
        stages = json.loads(properties.get(STAGES_PROPERTY) or "{}")
    except (TypeError, ValueError):
        return None, None
    execution = stages.get("Execution") if isinstance(stages, dict) else None
    if not isinstance(execution, dict):
        return None, None
    return parse_time(execution.get("StartTime")), parse_time(execution.get("EndTime"))


def pipeline_state(
    job: Any,
    runs: Sequence[Mapping[str, Any]],
    expected_steps: Sequence[str] = PIPELINE_STEPS,
    environment: str | None = None,
) -> RunState:
    """`environment` (the one the run uses) names it in an image-build failure."""
    parent_status = raw_status(job.status)
    url = studio_url(job)
    steps = [step_from_run(run, str(job.name), url, environment) for run in runs if run]
    seen = {step.name for step in steps}
    order = {name: index for index, name in enumerate(expected_steps)}
    # Steps not started yet are not children yet; list them so the shape is stable.
    steps.extend(StepState(name=name, raw_status="NotStarted") for name in expected_steps if name not in seen)
    steps.sort(key=lambda step: order.get(step.name, len(order)))
    started, ended = _stages(job)
    if started is None:
        started = min((s.started_at for s in steps if s.started_at), default=None)
    if ended is None and parent_status in FINAL_RAW:
        ended = max((s.ended_at for s in steps if s.ended_at), default=None)
    return RunState(
        raw_status=parent_status,
        steps=steps,
        started_at=started,
        ended_at=ended,
        error=_run_error(parent_status, steps),
        studio_url=url,
    )


def command_state(job: Any, run: Mapping[str, Any] | None, environment: str | None = None) -> RunState:
    """A command job; `run` is its run history document (None while it waits to start)."""
    status = raw_status(job.status)
    url = studio_url(job)
    run = run or {}
    started, ended = parse_time(run.get("startTimeUtc")), parse_time(run.get("endTimeUtc"))
    step = StepState(
        name=StepName.TRAIN,
        raw_status=status,
        started_at=started,
        ended_at=ended,
        backend_job_name=str(job.name),
        studio_url=url,
        mlflow_run_id=str(job.name),
    )
    if status == "Failed":
        step.error = _step_error(StepName.TRAIN, run, environment)
    return RunState(
        raw_status=status,
        steps=[step],
        started_at=started,
        ended_at=ended,
        error=_run_error(status, [step]),
        studio_url=url,
    )


def _run_error(status: str, steps: list[StepState]) -> str | None:
    if normalize_status(status).value == "failed":
        failed = [s for s in steps if s.raw_status == "Failed"]
        if not failed:
            return "Azure ML job failed"
        detail = next((s.error.split(": ", 1)[1] for s in failed if s.error and ": " in s.error), None)
        message = f"Azure ML job failed at step {', '.join(s.name for s in failed)}"
        return f"{message}: {detail}" if detail else message
    if status == "Canceled":
        return "canceled"
    return None
