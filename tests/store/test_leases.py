"""The lifecycle lease on a real database: one holder at a time, renewals keep the fencing
token, a change of hands increments it, expiry on the database's clock, and the fence refuses
the writes of a replica that lost the lease (while letting the holder's through)."""

from __future__ import annotations

import time

import pytest

from app.store import Store
from app.store.leases import LIFECYCLE, LeaseFence, LeaseLost
from app.store.notify import PollingFeed
from tests.support.rows import run_row


def test_one_holder_at_a_time_and_renewal_keeps_the_token(store: Store) -> None:
    first = store.leases.acquire(LIFECYCLE, "a", ttl=30)
    assert first is not None
    assert store.leases.acquire(LIFECYCLE, "b", ttl=30) is None
    assert store.leases.acquire(LIFECYCLE, "a", ttl=30) == first
    view = store.leases.view(LIFECYCLE)
    assert view.holder == "a" and view.token == first and 25 < view.expires_in <= 30


def test_an_expired_lease_changes_hands_with_a_new_token(store: Store) -> None:
    first = store.leases.acquire(LIFECYCLE, "a", ttl=0.3)
    assert first is not None
    assert store.leases.acquire(LIFECYCLE, "b", ttl=30) is None
    time.sleep(0.4)
    second = store.leases.acquire(LIFECYCLE, "b", ttl=30)
    assert second == first + 1
    assert store.leases.acquire(LIFECYCLE, "a", ttl=30) is None  # the old holder cannot renew


def test_release_lets_another_replica_take_it_at_once(store: Store) -> None:
    first = store.leases.acquire(LIFECYCLE, "a", ttl=30)
    assert first is not None
    store.leases.release(LIFECYCLE, "a")
    assert store.leases.view(LIFECYCLE).holder is None
    assert store.leases.acquire(LIFECYCLE, "b", ttl=30) == first + 1


def test_the_fence_refuses_writes_once_the_lease_changed_hands(store: Store) -> None:
    store.runs.create(run_row("run-fenced", kind="job"), ["train-model"])
    old = LeaseFence(LIFECYCLE, "a")
    old.token = store.leases.acquire(LIFECYCLE, "a", ttl=0.2)
    lost: list[bool] = []
    old.on_lost = lambda: lost.append(True)
    leader_runs = store.runs.fenced(old)
    leader_runs.set_submitted("run-fenced", "job-1", None, "Queued")  # holder: allowed
    time.sleep(0.3)
    new = LeaseFence(LIFECYCLE, "b")
    new.token = store.leases.acquire(LIFECYCLE, "b", ttl=30)
    with pytest.raises(LeaseLost):
        leader_runs.set_submitted("run-fenced", "job-2", None, "Running")
    assert lost == [True]
    row = store.runs.get("run-fenced")
    assert row is not None and (row.backend_job_name, row.raw_status) == ("job-1", "Queued")
    store.runs.fenced(new).set_submitted("run-fenced", "job-3", None, "Running")
    # Requests any replica takes are not fenced: a cancel is asked, the leader carries it out.
    assert store.runs.request_cancel("run-fenced") is not None
    with pytest.raises(LeaseLost):
        store.runs.fenced(LeaseFence(LIFECYCLE, "c")).finish("run-fenced", *_canceled())


def test_the_queue_limit_is_counted_inside_the_insert(store: Store) -> None:
    from app.store.run_sql import QueueFull

    store.runs.create(run_row("run-q1", kind="job"), ["train-model"], max_active=2)
    store.runs.create(run_row("run-q2", kind="job"), ["train-model"], max_active=2)
    with pytest.raises(QueueFull):
        store.runs.create(run_row("run-q3", kind="job"), ["train-model"], max_active=2)
    # A replay of a known key is answered even when the queue is full.
    store.runs.create(run_row("run-k", kind="job", key="k"), ["train-model"])
    again, created = store.runs.create(run_row("run-k2", kind="job", key="k"), ["train-model"], max_active=1)
    assert (again.id, created) == ("run-k", False)


def test_polling_feed_hears_changes_made_by_another_connection(store: Store) -> None:
    heard: list[tuple[str, str]] = []
    feed = PollingFeed(store.sessions)
    feed.subscribe(lambda change: heard.append((change.kind, change.subject)))
    feed._poll(announce=False)  # what was there before it started is not news
    store.runs.create(run_row("run-p", kind="job"), ["train-model"])
    feed._poll(announce=True)
    store.runs.request_cancel("run-p")
    feed._poll(announce=True)
    feed._poll(announce=True)  # nothing new: nothing heard
    assert heard == [("created", "run-p"), ("cancel", "run-p")]


def _canceled() -> tuple:  # type: ignore[type-arg]
    from app.domain.status import RunStatus

    return (RunStatus.CANCELED, "Canceled", "canceled")
