"""Job and child-job life cycles, computed from the fake clock on every read.

A step walks NotStarted -> Queued -> Preparing -> Starting -> Running -> Finalizing ->
Completed (or Failed from Running when told to fail). Its run is *created* when the pipeline
reaches it and *starts* only when it runs: queueing, preparation and an image build lie in
between (the recorded child runs start minutes after their creation). The first job that
uses an environment version builds its image during Preparing; a build can fail, and then the
step fails without ever starting. A reused step completes within seconds and points at the
run that did the work. Pipeline steps run one after the other, in the order the pipeline body
lists them; a failed step ends the pipeline and the steps after it never start. Cancel moves
the job to CancelRequested, then Canceled.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from .runs import IMAGE_BUILD_FAILED, Reused, RunFacts, run_document
from .templates import iso

__all__ = ["FINAL", "STEP_SECONDS", "FakeJob", "Step", "iso"]

STEP_PHASES: tuple[tuple[float, str], ...] = (
    (0, "NotStarted"),
    (5, "Queued"),
    (10, "Preparing"),
    (20, "Starting"),
    (30, "Running"),
    (90, "Finalizing"),
    (100, "Completed"),
)
PREPARING_AT = 10.0  # an image build happens here and pushes the later phases back
RUNNING_AT = 30.0  # the run's start time: when its process runs, not when it was created
STEP_SECONDS = 100.0
FAIL_AT = 60.0  # seconds into a failing step
REUSED_SECONDS = 2.0
PIPELINE_START_DELAY = 2.0
CANCEL_SECONDS = 5.0
FINAL = {"Completed", "Failed", "Canceled"}


@dataclass
class Step:
    key: str
    display_name: str
    name: str
    start_offset: float = 0.0
    fails: bool = False
    status_override: str | None = None
    build_seconds: float = 0.0
    build_fails: bool = False
    reused: Reused | None = None
    reuse_key: str | None = None  # None: never reused (not deterministic, or forced to rerun)
    component: str = "azureml_anonymous"
    compute: str = "cpu-cluster"
    node_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    run_uuid: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def duration(self) -> float:
        """Seconds from the step's creation to its end, when nothing cancels it."""
        if self.reused is not None:
            return REUSED_SECONDS
        if self.build_fails:
            return STEP_PHASES[3][0] + self.build_seconds
        return (FAIL_AT if self.fails else STEP_SECONDS) + self.build_seconds

    def segment(self, elapsed: float) -> tuple[str, float | None, float | None]:
        """(status, started, ended) `elapsed` seconds after creation; times as offsets."""
        if self.reused is not None:
            if elapsed >= REUSED_SECONDS:
                return "Completed", 1.0, REUSED_SECONDS
            return ("Running", 1.0, None) if elapsed >= 1.0 else ("NotStarted", None, None)
        build = self.build_seconds
        if self.build_fails and elapsed >= self.duration:
            return "Failed", None, self.duration
        running_at = RUNNING_AT + build
        started = running_at if elapsed >= running_at else None
        if self.fails and elapsed >= FAIL_AT + build:
            return "Failed", running_at, FAIL_AT + build
        status = "NotStarted"
        for offset, phase in STEP_PHASES:
            if elapsed >= offset + (build if offset > PREPARING_AT else 0.0):
                status = phase
        return status, started, (STEP_SECONDS + build if status == "Completed" else None)


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
    solo: Step | None = None  # a command job's own timeline
    number: int = 1
    run_uuid: str = field(default_factory=lambda: str(uuid.uuid4()))
    api_version: str = ""

    def __post_init__(self) -> None:
        if self.kind != "Pipeline" and self.solo is None:
            self.solo = Step("job", self.name, self.name, fails=self.command_fails)

    # -- timeline ---------------------------------------------------------------------------
    def _cancel_cut(self) -> float | None:
        if self.cancel_requested is None:
            return None
        return (self.cancel_requested - self.created).total_seconds()

    def _at(self, offset: float | None) -> datetime | None:
        return None if offset is None else self.created + timedelta(seconds=offset)

    def step_status(self, step: Step, now: datetime) -> tuple[str, datetime | None, datetime | None]:
        """(status, started, ended) of a step; started is when it ran, not when it was created."""
        start = step.start_offset
        elapsed = (now - self.created).total_seconds() - start
        if step.status_override is not None:
            _, started, _ = step.segment(max(elapsed, RUNNING_AT + step.build_seconds))
            return step.status_override, self._at(None if started is None else start + started), None
        status, started, ended = step.segment(elapsed)
        cut = self._cancel_cut()
        if cut is not None and cut >= start:
            at_cut, started_at_cut, _ = step.segment(cut - start)
            if at_cut not in FINAL:
                # a step still open when cancel is requested ends Canceled
                began = self._at(None if started_at_cut is None else start + started_at_cut)
                if elapsed + start >= cut + CANCEL_SECONDS:
                    return "Canceled", began, self._at(cut + CANCEL_SECONDS)
                return "CancelRequested", began, None
        return (
            status,
            self._at(None if started is None else start + started),
            self._at(None if ended is None else start + ended),
        )

    def started_steps(self, now: datetime) -> list[Step]:
        """Steps that exist as child runs by `now` (a pipeline creates a child when it reaches it)."""
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
        if self.solo is not None:
            return self.step_status(self.solo, now)[0]
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
        """When the job itself started and ended (a pipeline's Execution stage)."""
        if self.solo is not None:
            _, started, ended = self.step_status(self.solo, now)
            return started, ended
        status = self.status(now)
        if status == "NotStarted":
            return None, None
        started = self.created + timedelta(seconds=PIPELINE_START_DELAY)
        if status not in FINAL:
            return started, None
        ends = [self.step_status(s, now)[2] for s in self.started_steps(now)]
        if self.cancel_requested is not None:
            ends.append(self.cancel_requested + timedelta(seconds=CANCEL_SECONDS))
        known = [e for e in ends if e is not None]
        return started, max(known) if known else now

    # -- run history ------------------------------------------------------------------------
    def _facts(self, step: Step, now: datetime, parent: str | None) -> RunFacts:
        status, started, ended = self.step_status(step, now)
        created = self.created + timedelta(seconds=step.start_offset)
        return RunFacts(
            run_id=step.name,
            parent=parent,
            experiment_id=self.experiment_id,
            display_name=step.display_name,
            component=step.component,
            status=status,
            created=created,
            started=started,
            ended=ended,
            modified=ended or started or created,
            node_id=step.node_id,
            compute=step.compute,
            run_uuid=step.run_uuid if parent else self.run_uuid,
            parent_uuid=self.run_uuid if parent else None,
            number=self.number,
            error=IMAGE_BUILD_FAILED if step.build_fails else None,
            reused=step.reused,
            step_run=parent is not None,
        )

    def children(self, now: datetime, *, api_host: str, scope: str) -> list[dict[str, Any]]:
        return [
            run_document(
                self._facts(step, now, self.name), root=self.name, api_host=api_host, scope=scope, now=now
            )
            for step in self.started_steps(now)
        ]

    def run(self, now: datetime, *, api_host: str, scope: str) -> dict[str, Any]:
        """This job read alone from run history (a command job's times and error)."""
        if self.solo is not None:
            facts = self._facts(self.solo, now, None)
        else:
            started, ended = self.times(now)
            facts = RunFacts(
                run_id=self.name,
                parent=None,
                experiment_id=self.experiment_id,
                display_name=self.name,
                component="pipelinerun",
                status=self.status(now),
                created=self.created,
                started=started,
                ended=ended,
                modified=ended or started or self.created,
                node_id=self.run_uuid[:8],
                compute="",
                run_uuid=self.run_uuid,
                parent_uuid=None,
                number=self.number,
                step_run=False,
            )
        return run_document(facts, root=self.name, api_host=api_host, scope=scope, now=now)

    def child(self, run_id: str) -> Step | None:
        return next((step for step in self.steps if step.name == run_id), None)
