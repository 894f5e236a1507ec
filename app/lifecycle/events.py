"""Lets requests wait for a run to end (long-poll) without polling the database."""

from __future__ import annotations

import asyncio
from collections import defaultdict


class RunEvents:
    def __init__(self) -> None:
        self._finished: defaultdict[str, asyncio.Event] = defaultdict(asyncio.Event)
        self._waiters: defaultdict[str, int] = defaultdict(int)

    def finished(self, run_id: str) -> None:
        if run_id in self._finished:
            self._finished[run_id].set()

    async def wait_finished(self, run_id: str, timeout: float) -> bool:
        event = self._finished[run_id]
        self._waiters[run_id] += 1
        try:
            await asyncio.wait_for(event.wait(), timeout)
            return True
        except TimeoutError:
            return False
        finally:
            self._waiters[run_id] -= 1
            if self._waiters[run_id] == 0:
                del self._waiters[run_id]
                self._finished.pop(run_id, None)
