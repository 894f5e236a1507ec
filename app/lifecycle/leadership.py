"""Which replica drives the lifecycle (the reconciler, the callback sender, the backend's own
work such as the local engine's steps): the one that holds the "lifecycle" lease.

Every replica runs this loop. A follower tries to take the lease every ``renew_seconds`` (at
once when the leader announces that it let go); the leader renews it as often. The lease lasts
``ttl`` seconds on the database's clock, so when a leader dies, even by SIGKILL, another
replica takes over within ``ttl + renew_seconds``. A leader that cannot renew (the database is
unreachable, the process was paused) steps down by itself before its lease can have expired;
should it be too late for that, the fencing token refuses its writes anyway
(``store.leases.LeaseFence``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable

from app.store.leases import LIFECYCLE, LeaseFence, LeaseStore

log = logging.getLogger(__name__)


def new_replica_id() -> str:
    """host:pid, plus a few random characters: a restarted container has the same host name
    and often the same pid, and must not be mistaken for the replica it replaces."""
    return f"{socket.gethostname()}:{os.getpid()}-{secrets.token_hex(2)}"


class Leadership:
    def __init__(
        self,
        leases: LeaseStore,
        fence: LeaseFence,
        *,
        ttl: float,
        on_elected: Callable[[int], Awaitable[None]],
        on_deposed: Callable[[], Awaitable[None]],
        renew_seconds: float = 1.0,
    ) -> None:
        self.leases = leases
        self.fence = fence
        self.replica_id = fence.holder
        self.ttl = ttl
        self.renew_seconds = renew_seconds
        self._on_elected = on_elected
        self._on_deposed = on_deposed
        self.leader = False
        self._valid_until = 0.0
        self._kick = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._turn = asyncio.Lock()
        fence.on_lost = self.kick

    def kick(self) -> None:
        """Look at the lease now: it was released, or a write found it lost. Thread-safe."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._kick.set)

    async def start(self) -> None:
        """The first look happens here, so a lone replica leads as soon as it has started."""
        self._loop = asyncio.get_running_loop()
        await self.tick()
        self._task = self._loop.create_task(self._run(), name="leadership")

    async def stop(self) -> None:
        """Stop looking after the lease (keep it: see ``release``)."""
        task, self._task = self._task, None
        while task is not None and not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=1)

    async def release(self) -> None:
        """Give the lease up (after the lifecycle stopped): a follower takes over at once."""
        if not self.leader:
            return
        self.leader, self.fence.token = False, None
        try:
            await asyncio.to_thread(self.leases.release, LIFECYCLE, self.replica_id)
            log.info("replica %s released the lifecycle lease", self.replica_id)
        except Exception:  # it then expires by itself within ttl
            log.exception("could not release the lifecycle lease")

    async def _run(self) -> None:
        while True:
            # asyncio.timeout, not wait_for: Python 3.11's wait_for can swallow a cancel that
            # comes as its timeout fires, and this loop would then never stop.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.renew_seconds):
                    await self._kick.wait()
            self._kick.clear()
            try:
                await self.tick()
            except Exception:  # the loop must outlive any single failure
                log.exception("leadership check failed")

    async def tick(self) -> None:
        async with self._turn:
            asked_at = time.monotonic()
            try:
                async with asyncio.timeout(self.ttl / 2):
                    token = await asyncio.to_thread(self.leases.acquire, LIFECYCLE, self.replica_id, self.ttl)
            except Exception as error:
                # The lease may run out while the database is unreachable: step down while it
                # surely has not, leaving a renewal's worth of margin.
                if self.leader and time.monotonic() >= self._valid_until - 2 * self.renew_seconds:
                    log.error("cannot renew the lifecycle lease (%s); stepping down", error)
                    await self._depose()
                elif not self.leader:
                    log.warning("cannot reach the lifecycle lease: %s", error)
                return
            if token is None:
                if self.leader:
                    log.warning("replica %s lost the lifecycle lease to another replica", self.replica_id)
                    await self._depose()
                return
            # Held from at most when we asked: a conservative bound on the database's expiry.
            self._valid_until = asked_at + self.ttl
            if self.leader and token == self.fence.token:
                return
            if self.leader:  # a new term: what the old one started must not go on as it was
                await self._depose()
            await self._elect(token)

    async def _elect(self, token: int) -> None:
        self.fence.token, self.leader = token, True
        log.info("replica %s leads the lifecycle (fencing token %d)", self.replica_id, token)
        try:
            await self._on_elected(token)
        except Exception:
            log.exception("taking over the lifecycle failed")

    async def _depose(self) -> None:
        self.fence.token, self.leader = None, False
        try:
            await self._on_deposed()
        except Exception:
            log.exception("stepping down from the lifecycle failed")
