"""Runs and their steps: all the SQL of the run aggregate. Each method is one transaction, and
the events describing a change (``store/events.py``) are written in the same transaction.

Every committed change is announced: to this process's listeners at once, and to the other
replicas through the change feed (``notify.publish``). The lifecycle's writes (submission to
the backend, state, end, callback attempts) go through a store ``fenced`` by the leader's
lease: a replica that lost the lease cannot change a run any more.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
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
from app.store.events import EventNotifier, record
from app.store.notify import publish
from app.store.run_events import outcome_data, promotion_data, record_changes, record_run, snapshot
from app.store.run_sql import (
    Fence,
    IdempotencyConflict,
    QueueFull,
    RunFilter,
    assign_changed,
    count_active_runs,
    filtered,
    one_at_a_time,
)
from app.store.tables import ChampionEventRow, RunRow, StepRow
from app.store.trials import summarize, write_trials

_FINAL = tuple(s.value for s in FINAL_STATUSES)


class RunStore:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        notifier: EventNotifier | None = None,
        *,
        fence: Fence | None = None,
    ) -> None:
        self._sessions = sessions
        self.notifier = notifier or EventNotifier()
        self._fence = fence
        #: Called with a run id after every committed change to that run (cache invalidation).
        self.run_changed: list[Callable[[str], None]] = []

    def fenced(self, fence: Fence) -> RunStore:
        """The same store whose lifecycle writes first check ``fence`` in their transaction."""
        view = RunStore(self._sessions, self.notifier, fence=fence)
        view.run_changed = self.run_changed  # one list: listeners hear both
        return view

    @contextmanager
    def _run_tx(self, run_id: str, kind: str = "changed", *, fenced: bool = True) -> Iterator[Session]:
        committed: Session | None = None
        try:
            with self._sessions.begin() as session:
                if fenced and self._fence is not None:
                    self._fence.check(session)
                yield session
                publish(session, kind, run_id)
            committed = session
        finally:
            for listener in self.run_changed:
                listener(run_id)
        # After the cache is invalidated: a woken subscriber that reads the run sees the change.
        self.notifier.after_commit(committed)

    # -- creating and reading ---------------------------------------------------------------

    def create(
        self,
        row: RunRow,
        step_names: Sequence[str],
        *,
        max_active: int | None = None,
        max_per_caller: int | None = None,
    ) -> tuple[RunRow, bool]:
        """Insert a run; with an idempotency key already used, return that run instead.

        Returns (run, created). Raises IdempotencyConflict when the key was used for a
        different request body, QueueFull when ``max_active`` runs (or ``max_per_caller`` of
        this caller's) are queued or running.
        The limit holds across replicas: submissions take turns (a lock in the database)
        between counting and inserting; the key's uniqueness is the table's constraint.
        """
        row.steps = [
            StepRow(name=name, position=i, status="queued", raw_status="NotStarted", reused=False)
            for i, name in enumerate(step_names)
        ]
        existing: RunRow | None = None
        caller = row.submitted_by or ""
        try:
            with self._sessions.begin() as session:
                if max_active is not None:
                    one_at_a_time(session, "submit")
                    if row.idempotency_key is not None:
                        existing = session.scalars(
                            select(RunRow).where(
                                RunRow.submitted_by == caller, RunRow.idempotency_key == row.idempotency_key
                            )
                        ).first()
                    if existing is None and count_active_runs(session) >= max_active:
                        raise QueueFull(max_active, "service")
                    caller_full = (
                        max_per_caller is not None and count_active_runs(session, caller) >= max_per_caller
                    )
                    if existing is None and caller_full:
                        raise QueueFull(max_per_caller or 0, "caller")
                if existing is None:
                    session.add(row)
                    session.flush()
                    record_run(session, events.RUN_CREATED, row)
                    publish(session, "created", row.id)
            if existing is None:
                self.notifier.after_commit(session)
                return row, True
        except IntegrityError:
            if row.idempotency_key is None:
                raise
        if existing is None:
            assert row.idempotency_key is not None
            existing = self.by_idempotency_key(caller, row.idempotency_key)
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
        query = filtered(select(RunRow), flt).order_by(RunRow.id.desc()).limit(flt.limit)
        if flt.before_id:
            query = query.where(RunRow.id < flt.before_id)
        with self._sessions() as session:
            return list(session.scalars(query))

    def count(self, flt: RunFilter) -> int:
        """How many runs match `flt` (its cursor and limit aside)."""
        query = filtered(select(func.count()).select_from(RunRow), flt)
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
        with self._sessions() as session:
            return count_active_runs(session, caller)

    def count_by_status(self) -> dict[str, int]:
        query = select(RunRow.status, func.count()).group_by(RunRow.status)
        with self._sessions() as session:
            return {status: int(n) for status, n in session.execute(query)}

    def request_cancel(self, run_id: str) -> RunRow | None:
        """Record that a cancel was asked (by any replica); the leader carries it out. None
        when the run does not exist or already ended."""
        with self._run_tx(run_id, "cancel", fenced=False) as session:
            row = session.get(RunRow, run_id)
            if row is None or row.status in _FINAL:
                return None
            if row.cancel_requested_at is None:
                row.cancel_requested_at = row.updated_at = utcnow()
            return row

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
                record_run(session, events.RUN_STATE, row)

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
            before = snapshot(row)
            changed = assign_changed(
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
                changed |= assign_changed(
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
                written, trials = write_trials(session, run_id, state.trials, assign_changed)
                changed |= written
                changed |= assign_changed(row, trial_summary=summarize(trials))
            if state.status.is_final and row.ended_at is None:
                row.ended_at = utcnow()
            promoted = False
            if outcome is not None:
                row.outcome = outcome
                if champion is not None:
                    promoted = add_champion_event(session, champion)
            record_changes(session, row, before)
            if outcome is not None:
                record(
                    session,
                    events.OUTCOME_DECIDED,
                    run_id=row.id,
                    model_name=row.model_name,
                    data=outcome_data(row.id, outcome),
                )
            if promoted and champion is not None:
                record(
                    session,
                    events.MODEL_PROMOTED,
                    run_id=row.id,
                    model_name=champion.model_name,
                    data=promotion_data(champion, outcome),
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
            before = snapshot(row)
            row.status, row.raw_status, row.error = status.value, raw_status, error
            row.ended_at = row.updated_at = utcnow()
            for step in row.steps:
                if step.status not in _FINAL:
                    step.status, step.raw_status = status.value, raw_status
            record_changes(session, row, before)
            return row

    def record_callback_attempt(self, run_id: str, attempt: dict[str, Any], state: str) -> None:
        with self._run_tx(run_id) as session:
            row = session.get(RunRow, run_id)
            if row is None:
                return
            row.callback_attempts = [*row.callback_attempts, attempt]
            row.callback_state = state
            row.updated_at = utcnow()  # the attempts are part of the run's body

    def pending_callbacks(self) -> list[RunRow]:
        query = select(RunRow).where(RunRow.callback_state == "pending")
        with self._sessions() as session:
            return list(session.scalars(query))
