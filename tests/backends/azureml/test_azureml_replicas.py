"""Two replicas on the Azure ML backend sharing one PostgreSQL database: the leader stops dead
with 5 runs in flight (no shutdown code, no lease release, as after SIGKILL), and the other
takes over within the lease, polls the same Azure jobs again and finishes all 5; none is
submitted twice. The fake workspace lives in this process, so the two replicas are two app
instances here, each with its own backend (its own MLClient) over that one workspace."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fakeaml import FakeClock, FakeWorkspace

from app.backends.azureml import AzureMLBackend
from app.lifecycle.runtime import Lifecycle
from app.settings import Settings
from tests.support.asgi import AppThread
from tests.support.databases import postgres_database

pytestmark = pytest.mark.slow


@pytest.fixture
def pg_url() -> Iterator[str]:
    with postgres_database() as url:
        yield url


def lifecycle(replica: AppThread) -> Lifecycle:
    found: Lifecycle = replica.app.state.services.lifecycle
    return found


async def die(replica: AppThread) -> None:
    """What SIGKILL leaves: nothing renews the lease or drives a run; nothing is released."""
    life = lifecycle(replica)
    await life.leadership.stop()
    await life.reconciler.stop(final_pass=False)
    await life.callbacks.stop()
    await life.feed.stop()


def until(check: Callable[[], Any], timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
    return found


def test_a_dead_leaders_azure_runs_are_finished_by_the_other_replica(
    backend_factory: Callable[..., AzureMLBackend],
    settings_factory: Callable[..., Settings],
    workspace: FakeWorkspace,
    clock: FakeClock,
    pg_url: str,
) -> None:
    from app.main import create_app

    settings = settings_factory(azure_poll_seconds=0.2, database_url=pg_url, lease_seconds=2)
    replicas = [AppThread(create_app(settings, backend=backend_factory(settings))).start() for _ in range(2)]
    try:
        until(lambda: [lifecycle(r).leadership.leader for r in replicas].count(True) == 1, timeout=10)
        leader, follower = sorted(replicas, key=lambda r: not lifecycle(r).leadership.leader)
        body = {"kind": "job", "experiment_name": "replicas", "compute": "cpu-cluster"}
        ids = [replicas[i % 2].post("/v1/training-runs", json=body).json()["id"] for i in range(5)]
        # The leader submitted all five (whichever replica took the request).
        until(lambda: all(follower.get(f"/v1/training-runs/{r}").json()["backend_job_name"] for r in ids))
        clock.advance(40)
        statuses = {follower.get(f"/v1/training-runs/{r}").json()["status"] for r in ids}
        assert statuses.isdisjoint({"completed", "failed", "canceled"}), statuses  # all in flight

        leader.run(die(leader))
        died = time.monotonic()
        until(lambda: lifecycle(follower).leadership.leader, timeout=10)
        assert time.monotonic() - died < 10

        clock.advance(600)
        runs = until(
            lambda: (
                (found := [follower.get(f"/v1/training-runs/{r}").json() for r in ids])
                and all(r["status"] == "completed" for r in found)
                and found
            )
        )
        assert [r["raw_status"] for r in runs] == ["Completed"] * 5
        assert len(workspace.jobs) == 5
        for run_id in ids:  # each Azure job created exactly once, by whichever leader
            # (a first PUT naming a component version not registered yet is refused with 404 and
            # creates nothing; the assets are registered and the job is put once more)
            puts = workspace.transport.requests("PUT", f"/jobs/trainctl-{run_id}")
            assert [p.status for p in puts if p.status < 300] == [201], [p.status for p in puts]
        listed = follower.get("/v1/training-runs", params={"experiment_name": "replicas"}).json()["items"]
        assert sorted(r["id"] for r in listed) == sorted(ids)
    finally:
        for replica in replicas:
            replica.stop()
