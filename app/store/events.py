"""The event log: what happened to runs and models, one row per event, in id order.

Writers add events inside the transaction of the change they describe (``record``), so an
event exists exactly when its change does. Readers (the event stream) read rows after an id.
After a commit that wrote events, the store calls ``EventNotifier.notify``: in this process
that wakes the subscribers, which then read the new rows from this table. A cross-replica
notifier (PostgreSQL LISTEN/NOTIFY) only has to call ``notify`` too: nothing travels in
process memory that a subscriber could not read from the table.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from app.domain.clock import utcnow
from app.store.tables import EventRow, RunRow, StepRow

#: The event kinds, in the order a pipeline usually produces them.
RUN_CREATED = "run.created"
RUN_STATE = "run.state"
STEP_STATE = "step.state"
OUTCOME_DECIDED = "outcome.decided"
MODEL_PROMOTED = "model.promoted"
EVENT_KINDS = (RUN_CREATED, RUN_STATE, STEP_STATE, OUTCOME_DECIDED, MODEL_PROMOTED)

# Set on a session that added events, so its owner knows to notify after the commit.
_WROTE = "trainctl_wrote_events"


@dataclass(frozen=True)
class EventFilter:
    run_id: str | None = None
    model_name: str | None = None
    kinds: frozenset[str] = frozenset()  # empty: every kind


class EventNotifier:
    """Calls its listeners after a commit that wrote events. Listeners must be cheap and
    thread-safe: writers commit on the event loop and in worker threads alike."""

    def __init__(self) -> None:
        self._listeners: list[Callable[[], None]] = []
        self._lock = threading.Lock()

    def subscribe(self, listener: Callable[[], None]) -> None:
        with self._lock:
            self._listeners.append(listener)

    def unsubscribe(self, listener: Callable[[], None]) -> None:
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def notify(self) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            listener()

    def after_commit(self, session: Session | None) -> None:
        """Notify if `session` (now committed; None when it was not) wrote events."""
        if session is not None and session.info.pop(_WROTE, False):
            self.notify()


def record(
    session: Session,
    kind: str,
    *,
    run_id: str | None,
    model_name: str | None,
    data: dict[str, Any],
) -> None:
    """Add an event inside the caller's transaction."""
    if not session.info.get(_WROTE) and session.get_bind().dialect.name == "postgresql":
        # Sequence values are taken at insert but become visible at commit: two writers could
        # commit ids out of order, and a reader resuming "after id N" would skip the later
        # one. One writer of events at a time keeps ids in commit order.
        session.execute(text("SELECT pg_advisory_xact_lock(7263901)"))
    session.info[_WROTE] = True
    session.add(EventRow(kind=kind, run_id=run_id, model_name=model_name, created_at=utcnow(), data=data))


class EventStore:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def after(
        self,
        after_id: int,
        *,
        up_to: int | None = None,
        flt: EventFilter | None = None,
        limit: int = 500,
    ) -> list[EventRow]:
        """Events with ids in (after_id, up_to], oldest first, matching `flt`."""
        query = select(EventRow).where(EventRow.id > after_id).order_by(EventRow.id).limit(limit)
        if up_to is not None:
            query = query.where(EventRow.id <= up_to)
        if flt is not None:
            if flt.run_id is not None:
                query = query.where(EventRow.run_id == flt.run_id)
            if flt.model_name is not None:
                query = query.where(EventRow.model_name == flt.model_name)
            if flt.kinds:
                query = query.where(EventRow.kind.in_(sorted(flt.kinds)))
        with self._sessions() as session:
            return list(session.scalars(query))

    def last_id(self) -> int:
        with self._sessions() as session:
            return int(session.scalar(select(func.max(EventRow.id))) or 0)

    def oldest_id(self) -> int | None:
        with self._sessions() as session:
            found = session.scalar(select(func.min(EventRow.id)))
            return None if found is None else int(found)

    def prune(self, older_than: datetime) -> int:
        """Delete events created before `older_than`; returns how many."""
        with self._sessions.begin() as session:
            result = session.execute(delete(EventRow).where(EventRow.created_at < older_than))
            return int(getattr(result, "rowcount", 0) or 0)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def run_data(row: RunRow) -> dict[str, Any]:
    """What a subscriber needs to show a run in a list without asking for it."""
    return {
        "run_id": row.id,
        "kind": row.kind,
        "status": row.status,
        "raw_status": row.raw_status,
        "experiment_name": row.experiment_name,
        "model_name": row.model_name,
        "submitted_by": row.submitted_by,
        "created_at": _iso(row.created_at),
        "started_at": _iso(row.started_at),
        "ended_at": _iso(row.ended_at),
        "error": row.error,
    }


def step_data(step: StepRow) -> dict[str, Any]:
    return {
        "run_id": step.run_id,
        "step": step.name,
        "status": step.status,
        "raw_status": step.raw_status,
        "reused": step.reused,
        "started_at": _iso(step.started_at),
        "ended_at": _iso(step.ended_at),
        "exit_code": step.exit_code,
        "error": step.error,
    }
