"""Changes made by one process, heard by the others: the change feed.

Writers ``publish`` a change inside their transaction. On PostgreSQL that is a ``NOTIFY``,
delivered to every listening replica when (and only if) the transaction commits. Readers
subscribe to a feed:

- ``ChangeFeed``: this process makes every change (it owns its SQLite file): nothing crosses a
  process boundary, the store's in-process listeners say it all.
- ``PostgresFeed``: ``LISTEN`` on one dedicated connection, reconnecting when it drops.
- ``PollingFeed``: workers sharing one SQLite file (no NOTIFY there) look for runs whose
  ``updated_at`` moved, ten times a second.

A ``resync`` change means "changes may have been missed": drop caches, look again. While a
feed is not ``healthy``, readers must not trust what they cached.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from app.domain.clock import utcnow
from app.domain.status import FINAL_STATUSES
from app.store.tables import RunRow

log = logging.getLogger(__name__)

CHANNEL = "trainctl_changes"
#: created: a new run (the leader should look); cancel: a cancel was asked (ditto);
#: changed: anything else about a run; lease: the lease was released; resync: see above.
KINDS = ("created", "cancel", "changed", "lease", "resync")
_FINAL = {s.value for s in FINAL_STATUSES}


@dataclass(frozen=True)
class Change:
    kind: str
    subject: str = ""


Listener = Callable[[Change], None]


def publish(session: Session, kind: str, subject: str) -> None:
    """Announce a change when the caller's transaction commits (PostgreSQL; elsewhere the
    in-process listeners and polling do it)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("SELECT pg_notify(:channel, :payload)"), {"channel": CHANNEL, "payload": f"{kind} {subject}"}
        )


class ChangeFeed:
    """The feed of a process that makes every change itself: nothing to listen to."""

    cross_process = False

    def __init__(self) -> None:
        self._listeners: list[Listener] = []
        self.healthy = True

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def dispatch(self, change: Change) -> None:
        for listener in self._listeners:
            try:
                listener(change)
            except Exception:  # one broken listener must not silence the others
                log.exception("change listener failed on %s", change)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None


class _LoopFeed(ChangeFeed):
    cross_process = True

    def __init__(self) -> None:
        super().__init__()
        self.healthy = False
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name=type(self).__name__)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        raise NotImplementedError

    def _lost(self, error: Exception) -> None:
        if self.healthy:
            log.warning("change feed interrupted (%s); caches are bypassed until it is back", error)
        self.healthy = False
        self.dispatch(Change("resync"))


class PostgresFeed(_LoopFeed):
    """``LISTEN`` on a connection of its own (psycopg, asynchronous, in the event loop)."""

    #: How often a quiet connection is checked: a dead one must not pass for a quiet one.
    CHECK_SECONDS = 10.0

    def __init__(self, url: str) -> None:
        super().__init__()
        self._conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)

    async def _run(self) -> None:
        import psycopg

        delay = 0.2
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self._conninfo,
                    autocommit=True,
                    connect_timeout=5,
                    # A peer that vanished without closing the connection is noticed in ~20 s.
                    keepalives=1,
                    keepalives_idle=10,
                    keepalives_interval=5,
                    keepalives_count=2,
                ) as connection:
                    await connection.execute(f"LISTEN {CHANNEL}")
                    self.healthy, delay = True, 0.2
                    self.dispatch(Change("resync"))  # whatever happened while nobody listened
                    while True:
                        async for note in connection.notifies(timeout=self.CHECK_SECONDS):
                            kind, _, subject = note.payload.partition(" ")
                            self.dispatch(Change(kind, subject))
                        await connection.execute("SELECT 1")
            except asyncio.CancelledError:
                raise
            except Exception as error:
                self._lost(error)
            await asyncio.sleep(delay)
            delay = min(5.0, delay * 2)


class PollingFeed(_LoopFeed):
    """For workers sharing one SQLite file: runs whose ``updated_at`` moved since the last look."""

    INTERVAL_SECONDS = 0.1
    #: A write stamps ``updated_at`` before it waits for SQLite's write lock (up to its 30 s busy
    #: timeout), so look that far back; rows already seen with the same stamp are skipped.
    WINDOW = timedelta(seconds=60)

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        super().__init__()
        self._sessions = sessions
        self._seen: dict[str, datetime] = {}

    async def _run(self) -> None:
        first = True
        while True:
            try:
                self._poll(announce=not first)
                if not self.healthy:
                    self.healthy = True
                    self.dispatch(Change("resync"))
                first = False
            except Exception as error:
                self._lost(error)
            await asyncio.sleep(self.INTERVAL_SECONDS)

    def _poll(self, *, announce: bool) -> None:
        since = utcnow() - self.WINDOW
        query = select(
            RunRow.id, RunRow.updated_at, RunRow.status, RunRow.backend_job_name, RunRow.cancel_requested_at
        ).where(RunRow.updated_at >= since)
        with self._sessions() as session:
            rows = session.execute(query).all()
        for run_id, updated_at, status, job_name, cancel_requested_at in rows:
            if self._seen.get(run_id) == updated_at:
                continue
            self._seen[run_id] = updated_at
            if not announce:
                continue
            if status in _FINAL:
                kind = "changed"
            elif cancel_requested_at is not None:
                kind = "cancel"
            else:
                kind = "created" if job_name is None else "changed"
            self.dispatch(Change(kind, run_id))
        self._seen = {k: v for k, v in self._seen.items() if v >= since}
