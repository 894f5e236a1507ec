"""The event log on a real SQLite database: each state change writes its events in its own
transaction, ids only grow (also after pruning), readers filter and page, and the notifier
hears only commits that wrote events."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import inspect

from app.domain.clock import utcnow
from app.domain.state import RunState, StepState
from app.domain.status import RunStatus
from app.store import Store
from app.store.events import EventFilter
from app.store.tables import ChampionEventRow
from tests.store.test_runs import STEPS, completed, outcome
from tests.support.rows import run_row


def kinds(store: Store, **flt: object) -> list[str]:
    return [e.kind for e in store.events.after(0, flt=EventFilter(**flt))]  # type: ignore[arg-type]


def test_a_pipeline_leaves_its_story_in_order(store: Store) -> None:
    row = run_row("run-1")
    row.submitted_by = "alice"
    store.runs.create(row, STEPS)
    store.runs.set_submitted("run-1", "job-1", None, "Queued")
    running = RunState(raw_status="Running", steps=[StepState("train-model", "Running")])
    store.runs.apply_state("run-1", running)
    store.runs.apply_state("run-1", running)  # nothing changed: no event
    champion = ChampionEventRow(
        model_name="diabetes-classifier", version="1", run_id="run-1", metric="roc_auc", value=0.9,
        promoted_at=utcnow(),
    )  # fmt: skip
    store.runs.apply_state("run-1", completed(), outcome("1"), champion)

    events = store.events.after(0)
    assert [e.kind for e in events] == [
        "run.created",
        "run.state",  # Queued
        "run.state",  # Running
        "step.state",  # train running
        "step.state",  # train, evaluate, register completed...
        "step.state",
        "step.state",
        "run.state",  # ...and then the run
        "outcome.decided",
        "model.promoted",
    ]
    ids = [e.id for e in events]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    created = events[0].data
    assert (created["run_id"], created["status"], created["submitted_by"]) == ("run-1", "queued", "alice")
    assert events[3].data["step"] == "train-model" and events[3].data["status"] == "running"
    assert events[7].data["status"] == "completed" and events[7].data["ended_at"] is not None
    assert events[8].data["promoted"] is True and events[8].data["registered_version"] == "1"
    assert events[9].data == {
        "model_name": "diabetes-classifier",
        "version": "1",
        "run_id": "run-1",
        "metric": "roc_auc",
        "value": 0.9,
        "previous_version": None,
        "promoted_at": champion.promoted_at.isoformat(),
    }
    assert {e.run_id for e in events} == {"run-1"}
    assert {e.model_name for e in events} == {"diabetes-classifier"}


def test_a_state_change_and_its_events_commit_together(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    store.runs.create(run_row("run-x", kind="job"), ["train-model"])
    before = store.events.last_id()

    import app.store.runs as runs_module

    def broken(*_: object, **__: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(runs_module, "record_changes", broken)
    with pytest.raises(RuntimeError):
        store.runs.apply_state(
            "run-x", RunState(raw_status="Running", steps=[StepState("train-model", "Running")])
        )
    loaded = store.runs.get("run-x")
    assert loaded is not None and loaded.status == "queued"  # rolled back with its events
    assert store.events.last_id() == before


def test_finish_describes_the_run_and_its_open_steps(store: Store) -> None:
    store.runs.create(run_row("run-f"), STEPS)
    store.runs.finish("run-f", RunStatus.CANCELED, "Canceled", "canceled before it started")
    assert kinds(store) == ["run.created", "step.state", "step.state", "step.state", "run.state"]
    assert store.events.after(0)[-1].data["error"] == "canceled before it started"


def test_readers_filter_and_page(store: Store) -> None:
    store.runs.create(run_row("run-a", model_name="a", kind="job"), ["train-model"])
    store.runs.create(run_row("run-b", model_name="b", kind="job"), ["train-model"])
    store.runs.finish("run-a", RunStatus.FAILED, "Failed", "boom")
    assert kinds(store, run_id="run-a") == ["run.created", "step.state", "run.state"]
    assert kinds(store, model_name="b") == ["run.created"]
    assert kinds(store, kinds=frozenset({"run.state"})) == ["run.state"]
    first, second = store.events.after(0, limit=2)
    assert [e.id for e in store.events.after(first.id, up_to=second.id)] == [second.id]


def test_notifier_hears_commits_that_wrote_events_only(store: Store) -> None:
    heard: list[int] = []
    store.event_notifier.subscribe(lambda: heard.append(store.events.last_id()))
    store.runs.create(run_row("run-n", kind="job"), ["train-model"])
    assert heard == [store.events.last_id()]  # called after the commit: the event is readable
    store.runs.record_callback_attempt(
        "run-n", {"at": utcnow().isoformat(), "status_code": 200, "error": None}, "delivered"
    )
    store.runs.set_submitted("run-n", "job", None, "NotStarted")  # raw status unchanged
    assert len(heard) == 1


def test_pruning_keeps_recent_events_and_ids_are_never_reused(store: Store) -> None:
    store.runs.create(run_row("run-p", kind="job"), ["train-model"])
    store.runs.finish("run-p", RunStatus.FAILED, "Failed", "x")
    last = store.events.last_id()
    assert store.events.prune(utcnow() - timedelta(hours=1)) == 0
    assert store.events.prune(utcnow() + timedelta(seconds=1)) == 3
    assert store.events.after(0) == [] and store.events.oldest_id() is None
    store.runs.create(run_row("run-q", kind="job"), ["train-model"])
    assert store.events.after(0)[0].id == last + 1


def test_migrations_create_the_events_table_and_the_submitter_column(store: Store) -> None:
    inspector = inspect(store.sessions.kw["bind"])
    tables = set(inspector.get_table_names())
    columns = {c["name"] for c in inspector.get_columns("runs")}
    assert "events" in tables
    assert "submitted_by" in columns
