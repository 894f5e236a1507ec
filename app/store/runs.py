"""Runs and their steps: all the SQL of the run aggregate. Each method is one transaction, and
the events describing a change (``store/events.py``) are written in the same transaction."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from app.domain.clock import utcnow
from app.domain.outcome import Outcome
from app.domain.state import RunState
from app.domain.status import FINAL_STATUSES, RunStatus
from app.store import events
from app.store.champions import add_champion_event
from app.store.events import EventNotifier, record, run_data, step_data
from app.store.tables import ChampionEventRow, RunRow, StepRow
from app.store.trials import summarize, write_trials

_FINAL = tuple(s.value for s in FINAL_STATUSES)


class IdempotencyConflict(Exception):
    def __init__(self, existing: RunRow) -> None:
        super().__init__(existing.id)
        self.existing = existing


@dataclass(frozen=True)
class RunFilter:
    status: str | None = None
    kind: str | None = None
    experiment_name: str | None = None
    model_name: str | None = None
    before_id: str | None = None  # cursor: ids are time-ordered, newest first
    limit: int = 50


class RunStore:
    def __init__(self, sessions: sessionmaker[Session], notifier: EventNotifier | None = None) -> None:
        self._sessions = sessions
        self.notifier = notifier or EventNotifier()
        #: Called with a run id after every committed change to that run (cache invalidation).
        self.run_changed: list[Callable[[str], None]] = []

    @contextmanager
    def _run_tx(self, run_id: str) -> Iterator[Session]:
        committed: Session | None = None
        try:
            with self._sessions.begin() as session:
                yield session
            committed = session
        finally:
            for listener in self.run_changed:
                listener(run_id)
        # After the cache is invalidated: a woken subscriber that reads the run sees the change.
        self.notifier.after_commit(committed)

    # -- creating and reading ---------------------------------------------------------------

    def create(self, row: RunRow, step_names: Sequence[str]) -> tuple[RunRow, bool]:
        """Insert a run; with an idempotency key already used, return that run instead.

        Returns (run, created). Raises IdempotencyConflict when the key was used for a
        different request body.
        """
        row.steps = [
            StepRow(name=name, position=i, status="queued", raw_status="NotStarted", reused=False)
            for i, name in enumerate(step_names)
        ]
        try:
            with self._sessions.begin() as session:
                session.add(row)
                _record_run(session, events.RUN_CREATED, row)
            self.notifier.after_commit(session)
            return row, True
        except IntegrityError:
            if row.idempotency_key is None:
                raise
        existing = self.by_idempotency_key(row.submitted_by or "", row.idempotency_key)
        if existing is None:  # the key's owner vanished between both statements
            raise RuntimeError("idempotency key lookup failed")
        if existing.request_hash != row.request_hash:
            raise IdempotencyConflict(existing)
        return existing, False

    def by_idempotency_key(self, caller: str, key: str) -> RunRow | None:
        """The caller's own run with this key: another caller's same key is another run."""
        query = select(RunRow).where(RunRow.submitted_by == caller, RunRow.idempotency_key == key)
        with self._sessions() as session:
            return session.scalars(query).first()

    def get(self, run_id: str) -> RunRow | None:
        with self._sessions() as session:
            return session.get(RunRow, run_id)

    def find(self, flt: RunFilter) -> list[RunRow]:
        query = _filtered(select(RunRow), flt).order_by(RunRow.id.desc()).limit(flt.limit)
        if flt.before_id:
            query = query.where(RunRow.id < flt.before_id)
        with self._sessions() as session:
            return list(session.scalars(query))

    def count(self, flt: RunFilter) -> int:
        """How many runs match `flt` (its cursor and limit aside)."""
        query = _filtered(select(func.count()).select_from(RunRow), flt)
        with self._sessions() as session:
            return int(session.scalar(query) or 0)

    def names(self) -> tuple[list[str], list[str]]:
        """Every model name and every experiment name runs were submitted with (both indexed)."""
        with self._sessions() as session:
            models = session.scalars(select(RunRow.model_name).distinct().order_by(RunRow.model_name))
            experiments = session.scalars(
                select(RunRow.experiment_name).distinct().order_by(RunRow.experiment_name)
            )
            return list(models), list(experiments)

    def active(self) -> list[RunRow]:
        query = select(RunRow).where(RunRow.status.not_in(_FINAL)).order_by(RunRow.id)
        with self._sessions() as session:
            return list(session.scalars(query))

    def count_active(self, caller: str | None = None) -> int:
        """Queued or running runs, of one caller or of everyone."""
        query = select(func.count()).select_from(RunRow).where(RunRow.status.not_in(_FINAL))
        if caller is not None:
            query = query.where(RunRow.submitted_by == caller)
        with self._sessions() as session:
            return int(session.scalar(query) or 0)

    def count_by_status(self) -> dict[str, int]:
        query = select(RunRow.status, func.count()).group_by(RunRow.status)
        with self._sessions() as session:
            return {status: int(n) for status, n in session.execute(query)}

    # -- the lifecycle's writes -------------------------------------------------------------

    def set_submitted(
        self, run_id: str, backend_job_name: str, studio_url: str | None, raw_status: str
    ) -> None:
        with self._run_tx(run_id) as session:
            row = session.get(RunRow, run_id)
            if row is None:
                return
            raw_changed = row.raw_status != raw_status
            row.backend_job_name = backend_job_name
            row.studio_url = studio_url
            row.raw_status = raw_status
            row.updated_at = utcnow()
            if raw_changed:
                _record_run(session, events.RUN_STATE, row)

    def apply_state(
        self,
        run_id: str,
        state: RunState,
        outcome: Outcome | None = None,
        champion: ChampionEventRow | None = None,
    ) -> RunRow | None:
        """Write a backend's view of a run (and, when it ended, its outcome in the same
        transaction, so no reader sees a completed pipeline without its decision).
        Returns the row when anything changed."""
        with self._run_tx(run_id) as session:
            row = session.get(RunRow, run_id)
            if row is None or row.status in _FINAL:
                return None
            before = _snapshot(row)
            changed = _assign(
                row,
                status=state.status.value,
                raw_status=state.raw_status,
                started_at=state.started_at,
                ended_at=state.ended_at if state.status.is_final else None,
                error=state.error,
                studio_url=state.studio_url or row.studio_url,
            )
            existing = {s.name: s for s in row.steps}
            for position, step in enumerate(state.steps):
                target = existing.get(step.name)
                if target is None:
                    target = StepRow(run_id=run_id, name=step.name, position=position)
                    row.steps.append(target)
                    changed = True
                changed |= _assign(
                    target,
                    status=step.status.value,
                    raw_status=step.raw_status,
                    reused=step.reused,
                    exit_code=step.exit_code,
                    started_at=step.started_at,
                    ended_at=step.ended_at,
                    backend_job_name=step.backend_job_name,
                    studio_url=step.studio_url,
                    mlflow_run_id=step.mlflow_run_id,
                    error=step.error,
                )
            if state.trials:
                written, trials = write_trials(session, run_id, state.trials, _assign)
                changed |= written
                changed |= _assign(row, trial_summary=summarize(trials))
            if state.status.is_final and row.ended_at is None:
                row.ended_at = utcnow()
            promoted = False
            if outcome is not None:
                row.outcome = outcome
                if champion is not None:
                    promoted = add_champion_event(session, champion)
            _record_changes(session, row, before)
            if outcome is not None:
                record(
                    session,
                    events.OUTCOME_DECIDED,
                    run_id=row.id,
                    model_name=row.model_name,
                    data=_outcome_data(row.id, outcome),
                )
            if promoted and champion is not None:
                record(
                    session,
                    events.MODEL_PROMOTED,
                    run_id=row.id,
                    model_name=champion.model_name,
                    data=_promotion_data(champion, outcome),
                )
            if changed:
                row.updated_at = utcnow()
                return row
            return None

    def finish(self, run_id: str, status: RunStatus, raw_status: str, error: str | None) -> RunRow | None:
        """End a run the backend cannot report on (canceled before submission, lost, refused)."""
        with self._run_tx(run_id) as session:
            row = session.get(RunRow, run_id)
            if row is None or row.status in _FINAL:
                return None
            before = _snapshot(row)
            row.status, row.raw_status, row.error = status.value, raw_status, error
            row.ended_at = row.updated_at = utcnow()
            for step in row.steps:
                if step.status not in _FINAL:
                    step.status, step.raw_status = status.value, raw_status
            _record_changes(session, row, before)
            return row

    def record_callback_attempt(self, run_id: str, attempt: dict[str, Any], state: str) -> None:
        with self._run_tx(run_id) as session:
            row = session.get(RunRow, run_id)
            if row is None:
                return
            row.callback_attempts = [*row.callback_attempts, attempt]
            row.callback_state = state

    def pending_callbacks(self) -> list[RunRow]:
        query = select(RunRow).where(RunRow.callback_state == "pending")
        with self._sessions() as session:
            return list(session.scalars(query))


def _filtered(query: Any, flt: RunFilter) -> Any:
    if flt.status:
        query = query.where(RunRow.status == flt.status)
    if flt.kind:
        query = query.where(RunRow.kind == flt.kind)
    if flt.experiment_name:
        query = query.where(RunRow.experiment_name == flt.experiment_name)
    if flt.model_name:
        query = query.where(RunRow.model_name == flt.model_name)
    return query


def _record_run(session: Session, kind: str, row: RunRow) -> None:
    record(session, kind, run_id=row.id, model_name=row.model_name, data=run_data(row))


_Snapshot = tuple[tuple[str, str], dict[str, tuple[str, str, bool]]]


def _snapshot(row: RunRow) -> _Snapshot:
    """What a subscriber is told about when it changes: states, not every field."""
    return (row.status, row.raw_status), {s.name: (s.status, s.raw_status, s.reused) for s in row.steps}


def _record_changes(session: Session, row: RunRow, before: _Snapshot) -> None:
    """run.state and step.state events for what differs from `before`; a run's end comes after
    its steps' ends, its start before theirs, so a reader can follow the events in order."""
    run_before, steps_before = before
    run_event = (row.status, row.raw_status) != run_before
    step_events = [s for s in row.steps if steps_before.get(s.name) != (s.status, s.raw_status, s.reused)]
    final = row.status in _FINAL
    if run_event and not final:
        _record_run(session, events.RUN_STATE, row)
    for step in step_events:
        record(session, events.STEP_STATE, run_id=row.id, model_name=row.model_name, data=step_data(step))
    if run_event and final:
        _record_run(session, events.RUN_STATE, row)


def _outcome_data(run_id: str, outcome: Outcome) -> dict[str, Any]:
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


def _promotion_data(champion: ChampionEventRow, outcome: Outcome | None) -> dict[str, Any]:
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


def _assign(target: object, **values: Any) -> bool:
    changed = False
    for name, value in values.items():
        if getattr(target, name) != value:
            setattr(target, name, value)
            changed = True
    return changed
