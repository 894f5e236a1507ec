"""Job and child-job life cycles, computed from the fake clock on every read.

A step walks NotStarted -> Queued -> Preparing -> Starting -> Running -> Finalizing ->
Completed (or Failed from Running when told to fail). Pipeline steps run one after the
other, in the order the pipeline body lists them; a failed step ends the pipeline and the
steps after it never start. Cancel moves the job to CancelRequested, then Canceled.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

STEP_PHASES: tuple[tuple[float, str], ...] = (
    (0, "NotStarted"),
    (5, "Queued"),
    (10, "Preparing"),
    (20, "Starting"),
    (30, "Running"),
    (90, "Finalizing"),
    (100, "Completed"),
)
STEP_SECONDS = 100.0
FAIL_AT = 60.0  # seconds into a failing step
PIPELINE_START_DELAY = 2.0
CANCEL_SECONDS = 5.0
FINAL = {"Completed", "Failed", "Canceled"}


@dataclass
class Step:
    key: str
    display_name: str
    name: str
    start_offset: float
    fails: bool = False
    status_override: str | None = None


@dataclass
class FakeJob:
    name: str
    kind: str  # "Command" or "Pipeline"
    body: dict[str, Any]
    created: datetime
    experiment_name: str
    experiment_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    steps: list[Step] = field(default_factory=list)
    command_fails: bool = False
    cancel_requested: datetime | None = None
    status_override: str | None = None

    # -- timeline ---------------------------------------------------------------------------
    def _cancel_cut(self) -> float | None:
        if self.cancel_requested is None:
            return None
        return (self.cancel_requested - self.created).total_seconds()

    def _segment_status(self, elapsed: float, fails: bool) -> tuple[str, float | None]:
        """Status of one unit of work `elapsed` seconds after it started, and when it ended."""
        if fails and elapsed >= FAIL_AT:
            return "Failed", FAIL_AT
        status = "NotStarted"
        for offset, phase in STEP_PHASES:
            if elapsed >= offset:
                status = phase
        return status, (STEP_SECONDS if status == "Completed" else None)

    def step_status(self, step: Step, now: datetime) -> tuple[str, datetime | None, datetime | None]:
        """(status, started, ended) of a step, or NotStarted if it has not begun."""
        elapsed_job = (now - self.created).total_seconds()
        if step.status_override is not None:
            started = self.created + timedelta(seconds=step.start_offset)
            return step.status_override, started, None
        start = step.start_offset
        started_at = self.created + timedelta(seconds=start)
        cut = self._cancel_cut()
        # a step that is still open when cancel is requested ends Canceled
        status, end = self._segment_status(elapsed_job - start, step.fails)
        if cut is not None and cut >= start:
            at_cut, _end_at_cut = self._segment_status(cut - start, step.fails)
            if at_cut not in FINAL:
                if elapsed_job >= cut + CANCEL_SECONDS:
                    ended = self.created + timedelta(seconds=cut + CANCEL_SECONDS)
                    return "Canceled", started_at, ended
                return "CancelRequested", started_at, None
        ended_at = started_at + timedelta(seconds=end) if end is not None else None
        return status, started_at, ended_at

    def started_steps(self, now: datetime) -> list[Step]:
        """Steps that exist as child runs by `now` (a pipeline creates a child when it starts)."""
        elapsed = (now - self.created).total_seconds()
        visible: list[Step] = []
        for step in self.steps:
            if elapsed < step.start_offset:
                break
            cut = self._cancel_cut()
            if cut is not None and cut < step.start_offset:
                break
            visible.append(step)
            status, _, _ = self.step_status(step, now)
            if status in {"Failed", "Canceled", "CancelRequested"}:
                break
        return visible

    def status(self, now: datetime) -> str:
        if self.status_override is not None:
            return self.status_override
        if self.kind != "Pipeline":
            solo = Step("job", self.name, self.name, 0.0, fails=self.command_fails)
            return self.step_status(solo, now)[0]
        elapsed = (now - self.created).total_seconds()
        cut = self._cancel_cut()
        if cut is not None:
            return "Canceled" if elapsed >= cut + CANCEL_SECONDS else "CancelRequested"
        if elapsed < PIPELINE_START_DELAY:
            return "NotStarted"
        started = self.started_steps(now)
        if started:
            last_status = self.step_status(started[-1], now)[0]
            if last_status == "Failed":
                return "Failed"
            if len(started) == len(self.steps) and last_status == "Completed":
                return "Completed"
        return "Running"

    def times(self, now: datetime) -> tuple[datetime | None, datetime | None]:
        status = self.status(now)
        started = self.created + timedelta(seconds=PIPELINE_START_DELAY if self.kind == "Pipeline" else 30)
        if status in ("NotStarted", "Queued", "Preparing"):
            return None, None
        if status not in FINAL:
            return started, None
        if self.kind == "Pipeline" and self.steps:
            ends = [self.step_status(s, now)[2] for s in self.started_steps(now)]
            known = [e for e in ends if e is not None]
            return started, max(known) if known else now
        return started, self.step_status(Step("job", self.name, self.name, 0.0, self.command_fails), now)[2]


def steps_from_pipeline_body(
    body: dict[str, Any], failing: set[str], name_child: Callable[[str], str]
) -> list[Step]:
    """Pipeline nodes in body order, each a sequential step of STEP_SECONDS."""
    nodes: dict[str, Any] = body.get("properties", {}).get("jobs", {}) or {}
    steps: list[Step] = []
    for index, (key, node) in enumerate(nodes.items()):
        display = (node or {}).get("display_name") or key
        steps.append(
            Step(
                key=key,
                display_name=display,
                name=name_child(display),
                start_offset=PIPELINE_START_DELAY + index * STEP_SECONDS,
                fails=display in failing or key in failing,
            )
        )
    return steps


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def child_runs(job: FakeJob, now: datetime) -> list[dict[str, Any]]:
    """The pipeline's started steps as run history lists them (`Run` objects)."""
    runs = []
    for step in job.started_steps(now):
        status, started, ended = job.step_status(step, now)
        runs.append(
            {
                "runId": step.name,
                "parentRunId": job.name,
                "rootRunId": job.name,
                "experimentId": job.experiment_id,
                "displayName": step.display_name,
                "name": step.key,
                "status": status,
                "runType": "azureml.StepRun",
                "createdUtc": iso(started),
                "startTimeUtc": iso(started) if status not in ("NotStarted", "Queued") else None,
                "endTimeUtc": iso(ended),
                "lastModifiedUtc": iso(ended or now),
                "tags": {},
                "properties": {"azureml.nodeid": step.key},
                "services": {},
            }
        )
    return runs
