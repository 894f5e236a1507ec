"""The events a change to a run writes (run and step states, the outcome, a promotion), in the
same transaction as the change: the change feed behind GET /v1/events reads them in order."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from app.domain.outcome import Outcome
from app.domain.status import FINAL_STATUSES
from app.store import events
from app.store.events import record, run_data, step_data
from app.store.tables import ChampionEventRow, RunRow

_FINAL = tuple(s.value for s in FINAL_STATUSES)


def record_run(session: Session, kind: str, row: RunRow) -> None:
    record(session, kind, run_id=row.id, model_name=row.model_name, data=run_data(row))


Snapshot = tuple[tuple[str, str], dict[str, tuple[str, str, bool]]]


def snapshot(row: RunRow) -> Snapshot:
    """What a subscriber is told about when it changes: states, not every field."""
    return (row.status, row.raw_status), {s.name: (s.status, s.raw_status, s.reused) for s in row.steps}


def record_changes(session: Session, row: RunRow, before: Snapshot) -> None:
    """run.state and step.state events for what differs from `before`; a run's end comes after
    its steps' ends, its start before theirs, so a reader can follow the events in order."""
    run_before, steps_before = before
    run_event = (row.status, row.raw_status) != run_before
    step_events = [s for s in row.steps if steps_before.get(s.name) != (s.status, s.raw_status, s.reused)]
    final = row.status in _FINAL
    if run_event and not final:
        record_run(session, events.RUN_STATE, row)
    for step in step_events:
        record(session, events.STEP_STATE, run_id=row.id, model_name=row.model_name, data=step_data(step))
    if run_event and final:
        record_run(session, events.RUN_STATE, row)


def outcome_data(run_id: str, outcome: Outcome) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "deploy": outcome.deploy,
        "promoted": outcome.promoted,
        "reason": outcome.reason,
        "rule": outcome.rule,
        "candidate_metrics": outcome.candidate_metrics,
        "champion_before": outcome.champion_before.version if outcome.champion_before else None,
        "champion_after": outcome.champion_after.version if outcome.champion_after else None,
        "registered_version": outcome.registered_model.version if outcome.registered_model else None,
    }


def promotion_data(champion: ChampionEventRow, outcome: Outcome | None) -> dict[str, Any]:
    previous = outcome.champion_before if outcome is not None else None
    return {
        "model_name": champion.model_name,
        "version": champion.version,
        "run_id": champion.run_id,
        "metric": champion.metric,
        "value": champion.value,
        "previous_version": previous.version if previous else None,
        "promoted_at": champion.promoted_at.isoformat(),
    }
