"""The reconciler's state machine, pass by pass, on a real store with a scripted backend:
submission, state copies, outcome and champion history, back-off, failure, cancel in each
phase, finish hooks, and restarts."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Literal

import pytest

from app.domain.clock import utcnow
from app.domain.errors import BackendError
from app.domain.outcome import ModelRef, Outcome
from app.domain.spec import DataAssetRef, DataAssetSelector, RunSpec
from app.domain.state import RunState, StepState, Submitted
from app.lifecycle.events import RunEvents
from app.lifecycle.reconciler import Reconciler
from app.store import Store
from app.store.db import make_engine, migrate, session_factory
from app.store.tables import RunRow
from tests.support.rows import run_row

STEPS = ["train-model", "evaluate-model", "register-model"]


@dataclass
class ScriptedBackend:
    """Answers refresh with the state the test sets per run; records every call."""

    kind: Literal["local"] = "local"
    poll_seconds: float = 0.05
    states: dict[str, RunState] = field(default_factory=dict)
    outcome_of: dict[str, Outcome] = field(default_factory=dict)
    submit_errors: list[BackendError] = field(default_factory=list)
    submitted: list[RunSpec] = field(default_factory=list)
    canceled: list[str] = field(default_factory=list)
    released: list[str] = field(default_factory=list)
    submit_gate: asyncio.Event | None = None

    async def submit(self, spec: RunSpec) -> Submitted:
        if self.submit_gate is not None:
            await self.submit_gate.wait()
        if self.submit_errors:
            raise self.submit_errors.pop(0)
        self.submitted.append(spec)
        return Submitted(backend_job_name=f"job-{spec.run_id}", raw_status="Queued")

    async def refresh(self, spec: RunSpec, backend_job_name: str) -> RunState:
        return self.states.get(spec.run_id, RunState(raw_status="Queued"))

    async def outcome(self, spec: RunSpec, backend_job_name: str) -> Outcome | None:
        return self.outcome_of.get(spec.run_id)

    async def cancel(self, spec: RunSpec, backend_job_name: str) -> None:
        self.canceled.append(spec.run_id)

    def release(self, run_id: str) -> None:
        self.released.append(run_id)

    async def wait_for_change(self) -> None:
        await asyncio.sleep(self.poll_seconds)

    async def resolve_data_asset(self, selector: DataAssetSelector) -> DataAssetRef:
        return DataAssetRef(name=selector.name, version=selector.version)

    async def check_computes(self, compute: str | None, step_compute: Mapping[str, str]) -> None:
        return None


def steps(raw: str, *, reused_register: bool = False) -> list[StepState]:
    now = utcnow()
    return [
        StepState(
            name, raw, started_at=now, ended_at=now, reused=reused_register and name == "register-model"
        )
        for name in STEPS
    ]


def promoted(run_id: str, version: str = "1") -> Outcome:
    model = ModelRef(name="diabetes-classifier", version=version, metrics={"roc_auc": 0.91})
    return Outcome(
        deploy=True,
        reason="no champion yet",
        rule={"metric": "roc_auc", "min_improvement": 0.0},
        candidate_metrics={"roc_auc": 0.91},
        champion_before=None,
        champion_after=model,
        registered_model=model,
    )


@dataclass
class Harness:
    store: Store
    backend: ScriptedBackend
    reconciler: Reconciler
    events: RunEvents
    finished: list[str]

    def add(self, run_id: str, kind: str = "pipeline") -> None:
        self.store.runs.create(run_row(run_id, kind=kind), STEPS if kind == "pipeline" else STEPS[:1])

    def run(self, run_id: str) -> RunRow:
        row = self.store.runs.get(run_id)
        assert row is not None
        return row

    def pass_once(self) -> None:
        asyncio.run(self.reconciler.pass_once())


@pytest.fixture
def harness(database_url: str) -> Iterator[Harness]:
    engine = make_engine(database_url)
    migrate(engine)
    store = Store(session_factory(engine))
    backend = ScriptedBackend()
    events = RunEvents()
    finished: list[str] = []

    async def hook(row: RunRow) -> None:
        finished.append(row.id)

    reconciler = Reconciler(store.runs, backend, events, on_finished=[hook])  # type: ignore[arg-type]
    yield Harness(store, backend, reconciler, events, finished)
    engine.dispose()


def test_a_queued_run_is_submitted_once_with_its_stored_spec(harness: Harness) -> None:
    harness.add("run-1")
    harness.pass_once()
    harness.pass_once()
    assert [s.run_id for s in harness.backend.submitted] == ["run-1"]
    assert harness.backend.submitted[0] == harness.run("run-1").spec
    row = harness.run("run-1")
    assert (row.backend_job_name, row.status, row.raw_status) == ("job-run-1", "queued", "Queued")


def test_running_then_completed_records_outcome_champion_and_finishes_once(harness: Harness) -> None:
    harness.add("run-2")
    harness.backend.states["run-2"] = RunState(
        raw_status="Running", steps=steps("Running"), started_at=utcnow()
    )
    harness.pass_once()
    assert harness.run("run-2").status == "running" and harness.finished == []

    harness.backend.states["run-2"] = RunState(
        raw_status="Completed", steps=steps("Completed"), ended_at=utcnow()
    )
    harness.backend.outcome_of["run-2"] = promoted("run-2")
    harness.pass_once()
    harness.pass_once()  # a final run is not looked at again
    row = harness.run("run-2")
    assert row.status == "completed" and row.outcome == promoted("run-2")
    assert [(e.version, e.run_id) for e in harness.store.champions.history("diabetes-classifier")] == [
        ("1", "run-2")
    ]
    assert harness.finished == ["run-2"] and harness.backend.released == ["run-2"]


def test_a_reused_registration_adds_no_champion_entry(harness: Harness) -> None:
    harness.add("run-3")
    harness.backend.states["run-3"] = RunState(
        raw_status="Completed", steps=steps("Completed", reused_register=True), ended_at=utcnow()
    )
    harness.backend.outcome_of["run-3"] = promoted("run-3")
    harness.pass_once()
    assert harness.run("run-3").outcome is not None
    assert harness.store.champions.history("diabetes-classifier") == []


def test_transient_errors_back_off_and_never_fail_the_run(harness: Harness) -> None:
    harness.add("run-4", kind="job")
    harness.backend.submit_errors = [BackendError("throttled", transient=True)]
    harness.pass_once()
    assert harness.run("run-4").status == "queued" and harness.backend.submitted == []
    harness.pass_once()  # inside the back-off window: not retried yet
    assert harness.backend.submitted == []
    harness.reconciler._retry_at["run-4"] = 0  # the window has passed
    harness.pass_once()
    assert [s.run_id for s in harness.backend.submitted] == ["run-4"]


def test_a_permanent_error_fails_the_run_with_its_reason(harness: Harness) -> None:
    harness.add("run-5", kind="job")
    harness.backend.submit_errors = [BackendError("compute gpu-x does not exist")]
    harness.pass_once()
    row = harness.run("run-5")
    assert (row.status, row.error) == ("failed", "compute gpu-x does not exist")
    assert harness.finished == ["run-5"]


def test_cancel_before_submission_ends_the_run_without_the_backend(harness: Harness) -> None:
    harness.add("run-6")
    asyncio.run(harness.reconciler.cancel(harness.run("run-6")))
    row = harness.run("run-6")
    assert (row.status, row.error) == ("canceled", "canceled before it started")
    harness.pass_once()
    assert harness.backend.submitted == [] and harness.backend.canceled == []
    assert harness.finished == ["run-6"]


def test_cancel_during_submission_cancels_once_the_backend_has_the_run(harness: Harness) -> None:
    harness.add("run-7")
    gate = asyncio.Event()
    harness.backend.submit_gate = gate

    async def scenario() -> None:
        passing = asyncio.ensure_future(harness.reconciler.pass_once())
        await asyncio.sleep(0.05)  # the submission is under way
        await harness.reconciler.cancel(harness.run("run-7"))
        assert harness.run("run-7").status == "queued"  # not ended behind the backend's back
        gate.set()
        await passing

    asyncio.run(scenario())
    assert harness.backend.canceled == ["run-7"]


def test_cancel_after_submission_asks_the_backend_and_records_its_end(harness: Harness) -> None:
    harness.add("run-8")
    harness.pass_once()
    asyncio.run(harness.reconciler.cancel(harness.run("run-8")))
    assert harness.backend.canceled == ["run-8"] and harness.run("run-8").status == "queued"
    harness.backend.states["run-8"] = RunState(
        raw_status="Canceled", steps=steps("Canceled"), error="canceled"
    )
    harness.pass_once()
    assert harness.run("run-8").status == "canceled" and harness.finished == ["run-8"]


def test_a_failing_hook_does_not_stop_the_others(harness: Harness) -> None:
    async def broken(row: RunRow) -> None:
        raise RuntimeError("hook bug")

    harness.reconciler.on_finished.insert(0, broken)
    harness.add("run-9", kind="job")
    harness.backend.states["run-9"] = RunState(raw_status="Failed", steps=steps("Failed")[:1], error="boom")
    harness.pass_once()
    assert harness.run("run-9").status == "failed" and harness.finished == ["run-9"]


def test_waiters_wake_when_the_run_ends(harness: Harness) -> None:
    harness.add("run-10", kind="job")

    async def scenario() -> bool:
        waiting = asyncio.ensure_future(harness.events.wait_changed("run-10", timeout=5))
        await asyncio.sleep(0)
        harness.backend.states["run-10"] = RunState(raw_status="Completed", steps=steps("Completed")[:1])
        await harness.reconciler.pass_once()
        return await waiting

    assert asyncio.run(scenario()) is True


def test_after_a_restart_a_submitted_run_is_refreshed_not_resubmitted(harness: Harness) -> None:
    harness.add("run-11")
    harness.pass_once()
    restarted = Reconciler(harness.store.runs, harness.backend, RunEvents())  # type: ignore[arg-type]
    harness.backend.states["run-11"] = RunState(raw_status="Running", steps=steps("Running"))
    asyncio.run(restarted.pass_once())
    assert len(harness.backend.submitted) == 1
    assert harness.run("run-11").status == "running"


def test_the_loop_wakes_on_demand_and_stops_cleanly(harness: Harness) -> None:
    harness.backend.poll_seconds = 30  # only a wake can make it look again soon

    async def scenario() -> None:
        harness.reconciler.start()
        await asyncio.sleep(0.05)
        harness.add("run-12", kind="job")
        harness.reconciler.wake()
        for _ in range(100):
            if harness.backend.submitted:
                break
            await asyncio.sleep(0.01)
        await harness.reconciler.stop()

    asyncio.run(scenario())
    assert [s.run_id for s in harness.backend.submitted] == ["run-12"]


def test_stop_ends_the_loop_even_when_a_pass_swallows_the_cancel(harness: Harness) -> None:
    """Python 3.11's wait_for returns the result instead of raising when a cancel lands as its
    call completes (gh-86296); a pass that loses the cancel that way once hung a shutdown."""
    swallowed: list[bool] = []

    async def pass_losing_the_cancel(*, submit: bool = True) -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            swallowed.append(True)  # as the race does: the call "completed", the cancel is gone

    harness.reconciler.pass_once = pass_losing_the_cancel  # type: ignore[method-assign]

    async def scenario() -> None:
        harness.reconciler.start()
        await asyncio.sleep(0.05)
        await asyncio.wait_for(harness.reconciler.stop(final_pass=False), timeout=5)

    asyncio.run(scenario())
    assert swallowed == [True]
