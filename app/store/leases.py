"""Leases with fencing tokens, kept in the ``leases`` table: which replica drives the lifecycle.

A lease is held until ``expires_at``, a time on the database's own clock (replicas on different
machines never compare their clocks). Taking a lease that changes hands increments its token;
every write the holder makes as leader is checked against that token inside the write's own
transaction (``LeaseFence``), so a replica that lost the lease (paused, cut off, presumed dead)
can no longer change a run, even if it does not know yet that it lost it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Float, case, or_, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.functions import FunctionElement

from app.store.notify import publish
from app.store.tables import LeaseRow

LIFECYCLE = "lifecycle"


class LeaseLost(Exception):
    """This replica's write was refused: another replica holds the lease now."""


class db_epoch(FunctionElement[float]):
    """Now, in seconds since the epoch, on the database server's clock."""

    type = Float()
    inherit_cache = True


@compiles(db_epoch, "postgresql")
def _epoch_postgresql(element: Any, compiler: Any, **kw: Any) -> str:
    return "EXTRACT(EPOCH FROM clock_timestamp())::float8"


@compiles(db_epoch, "sqlite")
def _epoch_sqlite(element: Any, compiler: Any, **kw: Any) -> str:
    return "((julianday('now') - 2440587.5) * 86400.0)"


@dataclass(frozen=True)
class LeaseView:
    holder: str | None
    token: int
    expires_in: float  # seconds; <= 0 when nobody holds it


class LeaseStore:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def acquire(self, name: str, holder: str, ttl: float) -> int | None:
        """Take or renew the lease for ``ttl`` seconds; the fencing token if ``holder`` holds
        it now, None if another replica does. A renewal keeps the token: nobody else held the
        lease in between, so nothing this holder wrote can have been overtaken."""
        self._ensure(name)
        now = db_epoch()
        statement = (
            update(LeaseRow)
            .where(
                LeaseRow.name == name,
                or_(LeaseRow.holder == holder, LeaseRow.holder.is_(None), LeaseRow.expires_at <= now),
            )
            .values(
                token=case((LeaseRow.holder == holder, LeaseRow.token), else_=LeaseRow.token + 1),
                holder=holder,
                expires_at=now + ttl,
                renewed_at=now,
            )
            .returning(LeaseRow.token)
        )
        with self._sessions.begin() as session:
            token = session.scalar(statement)
        return None if token is None else int(token)

    def release(self, name: str, holder: str) -> None:
        """Give the lease up at once (a graceful stop), and tell the other replicas."""
        with self._sessions.begin() as session:
            session.execute(
                update(LeaseRow)
                .where(LeaseRow.name == name, LeaseRow.holder == holder)
                .values(holder=None, expires_at=0.0)
            )
            publish(session, "lease", name)

    def view(self, name: str) -> LeaseView:
        query = select(LeaseRow.holder, LeaseRow.token, LeaseRow.expires_at - db_epoch()).where(
            LeaseRow.name == name
        )
        with self._sessions() as session:
            row = session.execute(query).first()
        if row is None:
            return LeaseView(None, 0, 0.0)
        holder, token, expires_in = row
        return LeaseView(holder if expires_in > 0 else None, int(token), float(expires_in))

    def _ensure(self, name: str) -> None:
        with self._sessions() as session:
            if session.get(LeaseRow, name) is not None:
                return
        try:
            with self._sessions.begin() as session:
                session.add(LeaseRow(name=name, holder=None, token=0, expires_at=0.0))
        except IntegrityError:  # another replica created it first
            pass


class LeaseFence:
    """Checks, inside a write's transaction, that this replica still holds the lease with the
    token it was given. ``token`` is None while this replica is not the leader."""

    def __init__(self, name: str, holder: str) -> None:
        self.name = name
        self.holder = holder
        self.token: int | None = None
        #: Told when a write finds the lease lost, so the holder steps down without delay.
        self.on_lost: Callable[[], None] | None = None

    def check(self, session: Session) -> None:
        token = self.token
        if token is None:
            raise LeaseLost(f"{self.holder} is not the leader")
        if session.get_bind().dialect.name == "postgresql":
            # FOR SHARE: a takeover's UPDATE of the lease waits until this write commits, and
            # writes after it see the new token. Concurrent writes of the leader do not block.
            found = session.execute(
                text("SELECT holder, token FROM leases WHERE name = :name FOR SHARE"), {"name": self.name}
            ).first()
            held = found is not None and found[0] == self.holder and int(found[1]) == token
        else:
            # SQLite: this takes the database's write lock, so no takeover can commit between
            # the check and this transaction's commit.
            result = session.execute(
                text(
                    "UPDATE leases SET token = token"
                    " WHERE name = :name AND holder = :holder AND token = :token"
                ),
                {"name": self.name, "holder": self.holder, "token": token},
            )
            held = getattr(result, "rowcount", 0) == 1
        if not held:
            if self.on_lost is not None:
                self.on_lost()
            raise LeaseLost(f"{self.holder} lost the {self.name} lease (token {token})")
