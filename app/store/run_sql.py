"""The run repository's vocabulary and shared SQL: filters, the fence a leader's writes check,
the queue count taken under a database-wide lock, and the outcomes a submission can meet."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from app.domain.status import FINAL_STATUSES
from app.store.db import advisory_key
from app.store.tables import RunRow

_FINAL = tuple(s.value for s in FINAL_STATUSES)


class Fence(Protocol):
    def check(self, session: Session) -> None:
        """Raise (LeaseLost) unless this replica may still write as the leader."""
        ...


class QueueFull(Exception):
    def __init__(self, limit: int, scope: str = "service") -> None:
        super().__init__(limit)
        self.limit = limit
        self.scope = scope  # "service" or "caller"


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


def filtered(query: Any, flt: RunFilter) -> Any:
    if flt.status:
        query = query.where(RunRow.status == flt.status)
    if flt.kind:
        query = query.where(RunRow.kind == flt.kind)
    if flt.experiment_name:
        query = query.where(RunRow.experiment_name == flt.experiment_name)
    if flt.model_name:
        query = query.where(RunRow.model_name == flt.model_name)
    return query


def count_active_runs(session: Session, caller: str | None = None) -> int:
    query = select(func.count()).select_from(RunRow).where(RunRow.status.not_in(_FINAL))
    if caller is not None:
        query = query.where(RunRow.submitted_by == caller)
    return int(session.scalar(query) or 0)


def one_at_a_time(session: Session, name: str) -> None:
    """Serialize the rest of this transaction with every other one that says the same."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": advisory_key(name)})
    else:
        # Any write statement takes SQLite's database write lock now instead of at commit,
        # so the count below cannot go stale before the insert.
        session.execute(text("UPDATE leases SET token = token WHERE 1 = 0"))


def assign_changed(target: object, **values: Any) -> bool:
    changed = False
    for name, value in values.items():
        if getattr(target, name) != value:
            setattr(target, name, value)
            changed = True
    return changed
