"""The event hub on a real SQLite store: a stuck subscriber is dropped without delaying the
writers or the other subscribers, a subscriber joining mid-stream misses nothing between its
catch-up and the live fan-out, and stopping ends every stream."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from app.domain.status import RunStatus
from app.lifecycle.eventhub import Dropped, Event, EventHub
from app.store import Store
from app.store.db import make_engine, migrate, session_factory
from app.store.events import EventFilter
from tests.support.rows import run_row

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    migrate(engine)
    yield Store(session_factory(engine))
    engine.dispose()


async def take(
    stream: AsyncIterator[Event | None], count: int, timeout: float = 5, into: list[Event] | None = None
) -> list[Event]:
    found: list[Event] = [] if into is None else into
    async with asyncio.timeout(timeout):
        async for event in stream:
            if event is not None:
                found.append(event)
                if len(found) == count:
                    return found
    return found


def write_runs(store: Store, prefix: str, count: int) -> None:
    for n in range(count):
        store.runs.create(run_row(f"{prefix}-{n}", kind="job"), ["train-model"])


async def test_a_stuck_subscriber_is_dropped_and_delays_nobody(store: Store) -> None:
    hub = EventHub(store.events, store.event_notifier, buffer=10)
    hub.start()
    stuck = hub.events_of(await hub.subscribe(EventFilter(), None), keepalive=60)
    healthy = hub.events_of(await hub.subscribe(EventFilter(), None), keepalive=60)
    stuck_first = asyncio.ensure_future(take(stuck, 1))  # joins the fan-out, takes one, then stalls
    delivered: list[Event] = []
    healthy_all = asyncio.ensure_future(take(healthy, 40, into=delivered))
    await asyncio.sleep(0.05)

    started = time.perf_counter()
    for n in range(40):
        write_runs(store, f"r{n}", 1)
        # The healthy subscriber keeps up (never 10 behind, even on a loaded machine): the next
        # commit waits for its delivery, which the stuck subscriber must not hold up.
        async with asyncio.timeout(2):
            while len(delivered) < n + 1:
                await asyncio.sleep(0.001)
    writing = time.perf_counter() - started

    received = await healthy_all
    assert len(received) == 40 and [e.id for e in received] == sorted(e.id for e in received)
    assert len(await stuck_first) == 1
    # The stuck one holds at most its buffer, then is told to go away.
    with pytest.raises(Dropped):
        await take(stuck, 100)
    assert writing < 4.0
    await hub.stop()


async def test_a_subscriber_joining_mid_stream_misses_nothing(store: Store) -> None:
    hub = EventHub(store.events, store.event_notifier, buffer=1000)
    hub.start()
    write_runs(store, "before", 30)
    # Resume from the beginning while more events keep arriving.
    stream = hub.events_of(await hub.subscribe(EventFilter(), 0), keepalive=60)
    reader = asyncio.ensure_future(take(stream, 60))
    for n in range(30):
        write_runs(store, f"during{n}", 1)
        await asyncio.sleep(0)
    events = await reader
    assert [e.id for e in events] == list(range(1, 61))
    await hub.stop()


async def test_filters_apply_to_live_events(store: Store) -> None:
    hub = EventHub(store.events, store.event_notifier)
    hub.start()
    stream = hub.events_of(
        await hub.subscribe(EventFilter(run_id="keep", kinds=frozenset({"run.state"})), None), keepalive=60
    )
    reader = asyncio.ensure_future(take(stream, 1))
    await asyncio.sleep(0.05)
    store.runs.create(run_row("keep", kind="job"), ["train-model"])
    store.runs.create(run_row("other", kind="job"), ["train-model"])
    store.runs.finish("other", RunStatus.FAILED, "Failed", "x")
    store.runs.finish("keep", RunStatus.FAILED, "Failed", "x")
    (event,) = await reader
    assert (event.kind, event.run_id) == ("run.state", "keep")
    await hub.stop()


async def test_stopping_ends_every_stream_and_silence_yields_keep_alives(store: Store) -> None:
    hub = EventHub(store.events, store.event_notifier)
    hub.start()
    stream = hub.events_of(await hub.subscribe(EventFilter(), None), keepalive=0.05)
    assert await anext(stream) is None  # nothing happened: a keep-alive tick
    hub.close_streams()
    with pytest.raises(Dropped):
        await anext(stream)
    await hub.stop()
