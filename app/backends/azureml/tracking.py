"""Azure ML job objects -> RunState / StepState (raw status kept, normalized beside it)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from app.domain.state import RunState, StepState
from app.domain.status import normalize_status
from app.domain.steps import PIPELINE_STEPS, StepName

FINAL_RAW = {"Completed", "Failed", "Canceled"}


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
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def studio_url(job: Any) -> str | None:
    url = getattr(job, "studio_url", None)
    if url:
        return str(url)
    services = getattr(job, "services", None) or {}
    studio = services.get("Studio") if isinstance(services, dict) else None
    endpoint = getattr(studio, "endpoint", None) if studio is not None else None
    return str(endpoint) if endpoint else None


def child_studio_url(parent_url: str | None, parent_name: str, child: Any) -> str | None:
    """Children listed by run history rarely carry a Studio link; the parent's link with the
    child's name in place of the parent's points at the same workspace and tenant."""
    own = studio_url(child)
    if own:
        return own
    if parent_url and f"/runs/{parent_name}" in parent_url:
        return parent_url.replace(f"/runs/{parent_name}", f"/runs/{child.name}", 1)
    return None


def _job_times(job: Any) -> tuple[datetime | None, datetime | None]:
    props = getattr(job, "properties", None) or {}
    return parse_time(props.get("StartTimeUtc")), parse_time(props.get("EndTimeUtc"))


def step_from_child(child: Any, parent_name: str, parent_url: str | None) -> StepState:
    status = raw_status(getattr(child, "status", None))
    context = getattr(child, "creation_context", None)
    created = parse_time(getattr(context, "created_at", None))
    modified = parse_time(getattr(context, "last_modified_at", None))
    started, ended = _job_times(child)
    node_id = (getattr(child, "properties", None) or {}).get("azureml.nodeid")
    name = getattr(child, "display_name", None) or node_id or child.name
    step = StepState(
        name=str(name),
        raw_status=status,
        started_at=started or (created if status not in ("NotStarted", "Queued") else None),
        ended_at=ended or (modified if status in FINAL_RAW else None),
        backend_job_name=str(child.name),
        studio_url=child_studio_url(parent_url, parent_name, child),
        mlflow_run_id=str(child.name),  # an Azure ML job's MLflow run id is its name
    )
    if status == "Failed":
        step.error = f"step {name} failed; see its logs in Azure ML studio"
    return step


def pipeline_state(job: Any, children: list[Any], expected_steps: Sequence[str] = PIPELINE_STEPS) -> RunState:
    parent_status = raw_status(job.status)
    url = studio_url(job)
    steps = [step_from_child(child, job.name, url) for child in children if child is not None]
    seen = {step.name for step in steps}
    order = {name: index for index, name in enumerate(expected_steps)}
    # Steps not started yet are not children yet; list them so the shape is stable.
    steps.extend(StepState(name=name, raw_status="NotStarted") for name in expected_steps if name not in seen)
    steps.sort(key=lambda step: order.get(step.name, len(order)))
    started, ended = _job_times(job)
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


def command_state(job: Any) -> RunState:
    status = raw_status(job.status)
    url = studio_url(job)
    started, ended = _job_times(job)
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
        step.error = f"step {StepName.TRAIN} failed; see its logs in Azure ML studio"
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
        failed = [s.name for s in steps if s.raw_status == "Failed"]
        return f"Azure ML job failed at step {', '.join(failed)}" if failed else "Azure ML job failed"
    if status == "Canceled":
        return "canceled"
    return None
