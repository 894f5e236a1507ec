"""Fans the event log out to live subscribers (the SSE stream and the dashboard).

One pump reads new rows from the events table after each wake-up (the store's notifier; a
cross-replica notifier only has to call ``notify`` as well) and hands each live subscriber the
rows it wants, without ever waiting for one: every subscriber has a bounded buffer, and one that
falls behind by more than that is dropped and told to reconnect, which it does from its last
event id, reading what it missed from the table. The reconciler and the writers only ever pay
for one thread-safe wake-up call.

A subscriber starts by catching up from the table (its ``Last-Event-ID``, or now), paging
through the rows itself at its own pace, and joins the live fan-out once it has reached the
pump's position; the hand-over happens without an ``await`` in between, so no row falls
between the two.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

from app.domain.clock import utcnow
from app.store.events import EventFilter, EventNotifier, EventStore
from app.store.tables import EventRow

log = logging.getLogger(__name__)

PAGE = 500
PRUNE_EVERY_SECONDS = 600.0


@dataclass(frozen=True)
class Event:
    """One event as every subscriber gets it: the row's facts plus its JSON, encoded once."""

    id: int
    kind: str
    run_id: str | None
    model_name: str | None
    json: str

    @classmethod
    def of(cls, row: EventRow) -> Event:
        document = {
            "id": row.id,
            "kind": row.kind,
            "time": row.created_at.isoformat(),
            "run_id": row.run_id,
            "model_name": row.model_name,
            "data": row.data,
        }
        return cls(row.id, row.kind, row.run_id, row.model_name, json.dumps(document, separators=(",", ":")))

    def matches(self, flt: EventFilter) -> bool:
        return (
            (flt.run_id is None or self.run_id == flt.run_id)
            and (flt.model_name is None or self.model_name == flt.model_name)
            and (not flt.kinds or self.kind in flt.kinds)
        )


class Dropped(Exception):
    """The subscriber fell behind (its buffer filled) or the service is stopping."""


class Subscription:
    def __init__(self, flt: EventFilter, cursor: int, buffer: int) -> None:
        self.filter = flt
        self.cursor = cursor  # the last event id this subscriber has been given (or skipped)
        self.queue: asyncio.Queue[Event] = asyncio.Queue(buffer)
        self.live = False
        self.dropped = False
        self.wake = asyncio.Event()  # set when `dropped` turns true


class EventHub:
    def __init__(
        self,
        events: EventStore,
        notifier: EventNotifier,
        *,
        buffer: int = 1000,
        retention_seconds: float = 7 * 24 * 3600,
    ) -> None:
        self.events = events
        self.notifier = notifier
        self.buffer = buffer
        self.retention_seconds = retention_seconds
        self.position = 0  # the highest event id the pump has read
        self._live: set[Subscription] = set()
        self._all: set[Subscription] = set()
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: list[asyncio.Task[None]] = []

    # -- start and stop ---------------------------------------------------------------------

    def start(self) -> None:
        """On the service's event loop, before it serves requests."""
        self._loop = asyncio.get_running_loop()
        self.position = self.events.last_id()
        self.notifier.subscribe(self.notify)
        self._tasks = [
            self._loop.create_task(self._pump(), name="event-pump"),
            self._loop.create_task(self._prune_periodically(), name="event-prune"),
        ]

    async def stop(self) -> None:
        self.notifier.unsubscribe(self.notify)
        self.close_streams()
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    def close_streams(self) -> None:
        """End every open stream (each is told to retry): the service is going away."""
        for sub in list(self._all):
            self._drop(sub)

    # -- writers' side ---------------------------------------------------------------------------

    def notify(self) -> None:
        """New events are committed. Safe from any thread, and cheap."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._wake.set()
        else:
            loop.call_soon_threadsafe(self._wake.set)

    async def _pump(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self._read_new()
            except Exception:  # keep pumping: the next wake-up reads from the same position
                log.exception("reading new events failed")

    async def _read_new(self) -> None:
        while True:
            rows = await asyncio.to_thread(self.events.after, self.position, limit=PAGE)
            if not rows:
                return
            batch = [Event.of(row) for row in rows]
            # From here to the position update there is no await: a subscriber turning live
            # sees either the old position (and gets this batch) or the new one (and read it).
            for sub in list(self._live):
                self._deliver(sub, batch)
            self.position = batch[-1].id
            if len(rows) < PAGE:
                return

    def _deliver(self, sub: Subscription, batch: list[Event]) -> None:
        for event in batch:
            if event.id <= sub.cursor:
                continue
            if event.matches(sub.filter):
                try:
                    sub.queue.put_nowait(event)
                except asyncio.QueueFull:
                    self._drop(sub)
                    return
            sub.cursor = event.id

    def _drop(self, sub: Subscription) -> None:
        sub.dropped = True
        sub.wake.set()
        self._live.discard(sub)
        self._all.discard(sub)

    async def _prune_periodically(self) -> None:
        while True:
            try:
                cutoff = utcnow() - timedelta(seconds=self.retention_seconds)
                removed = await asyncio.to_thread(self.events.prune, cutoff)
                if removed:
                    log.info("pruned %d events older than %s", removed, cutoff.isoformat())
            except Exception:
                log.exception("pruning events failed")
            await asyncio.sleep(PRUNE_EVERY_SECONDS)

    # -- subscribers' side ------------------------------------------------------------------------

    async def subscribe(self, flt: EventFilter, last_event_id: int | None) -> Subscription:
        """A subscription starting after `last_event_id`, or at the newest event."""
        start = last_event_id if last_event_id is not None else await asyncio.to_thread(self.events.last_id)
        sub = Subscription(flt, max(0, start), self.buffer)
        self._all.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._live.discard(sub)
        self._all.discard(sub)

    async def missed(self, last_event_id: int) -> bool:
        """True when events after `last_event_id` were already pruned: the client missed some."""
        oldest = await asyncio.to_thread(self.events.oldest_id)
        newest = self.position
        if oldest is None:
            return last_event_id < newest
        return last_event_id < oldest - 1

    async def events_of(self, sub: Subscription, keepalive: float) -> AsyncIterator[Event | None]:
        """The subscriber's events in id order; None every `keepalive` seconds of silence.
        Raises Dropped when it fell behind or the service is stopping."""
        try:
            while not sub.live:
                target = self.position
                rows = await asyncio.to_thread(
                    self.events.after, sub.cursor, up_to=target, flt=sub.filter, limit=PAGE
                )
                for row in rows:
                    sub.cursor = row.id
                    yield Event.of(row)
                if sub.dropped:
                    raise Dropped
                if len(rows) < PAGE:
                    sub.cursor = max(sub.cursor, target)
                    if self.position == target:  # no await since the check: join the fan-out
                        sub.live = True
                        self._live.add(sub)
            while True:
                if sub.queue.empty():
                    if sub.dropped:
                        raise Dropped
                    sub.wake.clear()
                    getter = asyncio.ensure_future(sub.queue.get())
                    dropped = asyncio.ensure_future(sub.wake.wait())
                    try:
                        done, _ = await asyncio.wait(
                            {getter, dropped}, timeout=keepalive, return_when=asyncio.FIRST_COMPLETED
                        )
                    finally:
                        dropped.cancel()
                        if not getter.done():
                            getter.cancel()
                    if getter in done and not getter.cancelled():
                        yield getter.result()
                    elif not done:
                        yield None
                    continue
                yield sub.queue.get_nowait()
        finally:
            self.unsubscribe(sub)
