"""The run repository on a real SQLite database: idempotent creation, typed specs, state writes
with the outcome and champion entry in one transaction, and change notifications."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.domain.clock import utcnow
from app.domain.outcome import ModelRef, Outcome
from app.domain.state import RunState, StepState
from app.domain.status import RunStatus
from app.store import Store
from app.store.run_sql import IdempotencyConflict, RunFilter
from app.store.tables import ChampionEventRow
from tests.support.rows import run_row

STEPS = ["train-model", "evaluate-model", "register-model"]


def outcome(version: str) -> Outcome:
    model = ModelRef(name="diabetes-classifier", version=version, metrics={"roc_auc": 0.9})
    return Outcome(
        deploy=True,
        reason="no champion yet",
        rule={"metric": "roc_auc", "min_improvement": 0.0},
        candidate_metrics={"roc_auc": 0.9},
        champion_before=None,
        champion_after=model,
        registered_model=model,
    )


def completed(ended: bool = True) -> RunState:
    now = utcnow()
    return RunState(
        raw_status="Completed",
        steps=[StepState(name, "Completed", started_at=now, ended_at=now) for name in STEPS],
        started_at=now - timedelta(seconds=2),
        ended_at=now if ended else None,
    )


def test_a_run_is_stored_with_its_typed_spec_and_steps(store: Store) -> None:
    row = run_row("run-1", hyperparameters={"reg_rate": 0.5, "solver": "saga"}, tags={"t": "1"})
    _, is_new = store.runs.create(row, STEPS)
    assert is_new
    loaded = store.runs.get("run-1")
    assert loaded is not None
    assert loaded.spec == row.spec
    assert loaded.spec.hyperparameters.reg_rate == 0.5
    assert [s.name for s in loaded.steps] == STEPS
    assert {s.status for s in loaded.steps} == {"queued"}


def test_the_same_key_gives_the_same_run_and_another_body_is_a_conflict(store: Store) -> None:
    store.runs.create(run_row("run-a", key="k1", body_hash="same"), STEPS)
    again, created = store.runs.create(run_row("run-b", key="k1", body_hash="same"), STEPS)
    assert (again.id, created) == ("run-a", False)
    with pytest.raises(IdempotencyConflict) as conflict:
        store.runs.create(run_row("run-c", key="k1", body_hash="other"), STEPS)
    assert conflict.value.existing.id == "run-a"
    assert store.runs.get("run-b") is None and store.runs.get("run-c") is None
    # The same key from another caller is another run.
    _, created = store.runs.create(
        run_row("run-d", key="k1", body_hash="other", caller="someone-else"), STEPS
    )
    assert created and store.runs.by_idempotency_key("someone-else", "k1") is not None


def test_outcome_and_champion_entry_land_with_the_final_state_once(store: Store) -> None:
    store.runs.create(run_row("run-o"), STEPS)
    champion = ChampionEventRow(
        model_name="diabetes-classifier",
        version="1",
        run_id="run-o",
        metric="roc_auc",
        value=0.9,
        promoted_at=utcnow(),
    )
    updated = store.runs.apply_state("run-o", completed(), outcome("1"), champion)
    assert updated is not None and updated.status == "completed"
    loaded = store.runs.get("run-o")
    assert loaded is not None and loaded.outcome == outcome("1") and loaded.outcome.promoted
    # A final run is never written again, and the champion history holds one entry.
    assert store.runs.apply_state("run-o", completed(), outcome("2"), champion) is None
    assert [(e.version, e.run_id) for e in store.champions.history("diabetes-classifier")] == [("1", "run-o")]


def test_apply_state_reports_only_real_changes(store: Store) -> None:
    store.runs.create(run_row("run-s", kind="job"), ["train-model"])
    running = RunState(raw_status="Running", steps=[StepState("train-model", "Running")])
    assert store.runs.apply_state("run-s", running) is not None
    assert store.runs.apply_state("run-s", running) is None


def test_finish_ends_open_steps_and_leaves_final_runs_alone(store: Store) -> None:
    store.runs.create(run_row("run-f"), STEPS)
    ended = store.runs.finish("run-f", RunStatus.CANCELED, "Canceled", "canceled before it started")
    assert ended is not None and ended.ended_at is not None
    assert {s.status for s in ended.steps} == {"canceled"}
    assert store.runs.finish("run-f", RunStatus.FAILED, "Failed", "late") is None
    assert store.runs.count_active() == 0


def test_listeners_hear_of_every_committed_change(store: Store) -> None:
    heard: list[str] = []
    store.runs.run_changed.append(heard.append)
    store.runs.create(run_row("run-l", kind="job"), ["train-model"])
    store.runs.set_submitted("run-l", "job-1", None, "Queued")
    store.runs.record_callback_attempt(
        "run-l", {"at": utcnow().isoformat(), "status_code": 200, "error": None}, "delivered"
    )
    assert heard == ["run-l", "run-l"]


def test_listing_is_newest_first_with_filters_and_a_cursor(store: Store) -> None:
    for n in range(5):
        store.runs.create(run_row(f"run-{n}", model_name="a" if n % 2 else "b"), STEPS)
    assert [r.id for r in store.runs.find(RunFilter(limit=3))] == ["run-4", "run-3", "run-2"]
    assert [r.id for r in store.runs.find(RunFilter(before_id="run-2"))] == ["run-1", "run-0"]
    assert [r.id for r in store.runs.find(RunFilter(model_name="a"))] == ["run-3", "run-1"]
    assert store.runs.count_by_status() == {"queued": 5}
