"""Lets requests wait for news of a run (the ``/wait`` long-poll) without polling the database.

Any committed change to a run wakes its waiters, which then read the run again: a change made
in this process (the store's listeners), or by another replica (the change feed, e.g.
PostgreSQL NOTIFY). So a request waiting on one replica hears of a run that the leader, on
another, finished. ``close()`` (a draining replica) wakes every waiter for good, so long-polls
answer with the run as it is instead of holding up the shutdown.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict


class RunEvents:
    def __init__(self) -> None:
        self._waiters: defaultdict[str, set[asyncio.Future[None]]] = defaultdict(set)
        self.closing = False

    def changed(self, run_id: str) -> None:
        for waiter in self._waiters.get(run_id, ()):
            _wake(waiter)

    #: The reconciler recorded a run's end (a change like any other for the waiters).
    finished = changed

    def wake_all(self) -> None:
        """Changes may have been missed (the change feed reconnected): everybody looks again."""
        for waiters in list(self._waiters.values()):
            for waiter in waiters:
                _wake(waiter)

    def close(self) -> None:
        self.closing = True
        self.wake_all()

    async def wait_changed(self, run_id: str, timeout: float) -> bool:
        """True when the run changed (or the service is closing) within ``timeout`` seconds."""
        if self.closing:
            return True
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters[run_id].add(waiter)
        try:
            async with asyncio.timeout(timeout):
                await waiter
            return True
        except TimeoutError:
            return False
        finally:
            waiters = self._waiters.get(run_id)
            if waiters is not None:
                waiters.discard(waiter)
                if not waiters:
                    del self._waiters[run_id]


def _wake(waiter: asyncio.Future[None]) -> None:
    # Thread-safe: a store listener may run in a worker thread.
    loop = waiter.get_loop()
    loop.call_soon_threadsafe(lambda: None if waiter.done() else waiter.set_result(None))
