"""Two `trainctl serve` replicas on loopback against one real PostgreSQL database, sharing one
data directory (the local backend: steps run on the leader's machine, every replica reads the
MLflow store there): the leader dies by SIGKILL with runs in flight, many callers race on one
Idempotency-Key across both, and a rolling restart happens under a steady stream of requests.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.balancer import Balancer
from tests.support.databases import postgres_database
from tests.support.server import ServiceProcess

FINAL = ("completed", "failed", "canceled")


@pytest.fixture
def pg_url() -> Iterator[str]:
    with postgres_database() as url:
        yield url


def start_replicas(tmp_path: Path, url: str, n: int = 2, **env: str) -> list[ServiceProcess]:
    data_dir = tmp_path / "data"
    common = {"TRAINCTL_DATABASE_URL": url, **env}
    return [ServiceProcess(data_dir, env=common, serve=True).start() for _ in range(n)]


def replica_info(service: ServiceProcess) -> dict[str, Any]:
    info: dict[str, Any] = httpx.get(f"{service.url}/v1/backend", timeout=10).json()["replica"]
    return info


def wait_leader(services: list[ServiceProcess], timeout: float = 15) -> ServiceProcess:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for service in services:
            try:
                if replica_info(service)["leader"]:
                    return service
            except httpx.HTTPError:
                pass
        time.sleep(0.1)
    raise TimeoutError("no replica leads")


def wait_final(client: httpx.Client, run_id: str, timeout: float = 240) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run: dict[str, Any] = client.get(f"/v1/training-runs/{run_id}/wait", params={"timeout": 30}).json()
        if run["status"] in FINAL:
            return run
    raise TimeoutError(run_id)


def stop_all(services: list[ServiceProcess]) -> None:
    for service in services:
        service.stop()


def test_sigkill_the_leader_with_5_runs_in_flight_and_the_other_finishes_them(
    tmp_path: Path, pg_url: str
) -> None:
    services = start_replicas(tmp_path, pg_url)
    try:
        leader = wait_leader(services)
        (follower,) = [s for s in services if s is not leader]
        ids = []
        for i in range(5):  # submitted through both replicas
            via = services[i % 2]
            body = {"model_name": "kill-model", "hyperparameters": {"reg_rate": 0.01 * (i + 1)}}
            ids.append(httpx.post(f"{via.url}/v1/training-runs", json=body, timeout=30).json()["id"])
        with follower.client() as client:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                runs = [client.get(f"/v1/training-runs/{r}").json() for r in ids]
                if any(s["status"] == "running" for r in runs for s in r["steps"]):
                    break
                time.sleep(0.05)
            before = {r["id"]: {s["name"] for s in r["steps"] if s["status"] == "completed"} for r in runs}
            assert not all(r["status"] in FINAL for r in runs), "nothing was in flight"
            leader.kill()
            killed_at = time.monotonic()
            while not replica_info(follower)["leader"]:
                assert time.monotonic() - killed_at < 10, "no takeover within 10 s"
                time.sleep(0.1)

            finished = [wait_final(client, r) for r in ids]
            assert [r["status"] for r in finished] == ["completed"] * 5, [
                (r["id"], r["error"]) for r in finished
            ]
            listed = client.get("/v1/training-runs", params={"model_name": "kill-model"}).json()["items"]
            assert sorted(r["id"] for r in listed) == sorted(ids)  # none lost, none duplicated
            model = client.get("/v1/models/kill-model").json()
            registered_by = [v["lineage"].get("trainctl.run_id") for v in model["versions"]]
            assert len(registered_by) == len(set(registered_by)), "a run registered its model twice"
            assert len([v for v in model["versions"] if v["is_champion"]]) == 1
        # A step that had completed before the kill was not run again by the new leader.
        logs = tmp_path / "data" / "logs"
        for run_id, done in before.items():
            for step in done:
                assert len(list((logs / run_id).glob(f"{step}.*.log"))) == 1, (run_id, step)
    finally:
        stop_all(services)


def test_200_concurrent_posts_with_one_key_over_two_replicas_make_one_run(
    tmp_path: Path, pg_url: str
) -> None:
    services = start_replicas(tmp_path, pg_url)
    try:
        body = {"kind": "job", "model_name": "same-key-replicas", "hyperparameters": {"reg_rate": 0.02}}

        async def hammer() -> list[httpx.Response]:
            limits = httpx.Limits(max_connections=100)
            clients = [httpx.AsyncClient(base_url=s.url, timeout=60, limits=limits) for s in services]
            try:
                return await asyncio.gather(
                    *(
                        clients[i % 2].post(
                            "/v1/training-runs", json=body, headers={"Idempotency-Key": "k-200"}
                        )
                        for i in range(200)
                    )
                )
            finally:
                for client in clients:
                    await client.aclose()

        responses = asyncio.run(hammer())
        assert {r.status_code for r in responses} == {202}
        ids = {r.json()["id"] for r in responses}
        assert len(ids) == 1
        with services[1].client() as client:
            listed = client.get("/v1/training-runs", params={"model_name": "same-key-replicas"}).json()[
                "items"
            ]
            assert [r["id"] for r in listed] == list(ids)
            assert wait_final(client, ids.pop())["status"] == "completed"
    finally:
        stop_all(services)


def test_a_rolling_restart_under_a_steady_stream_of_requests_fails_none(tmp_path: Path, pg_url: str) -> None:
    services = start_replicas(tmp_path, pg_url)
    failures: list[str] = []
    keys: list[str] = []
    served: list[int] = []
    stop = False
    try:
        with Balancer([s.url for s in services]) as balancer:
            seed = balancer.request(
                "POST", "/v1/training-runs", json={"kind": "job", "model_name": "rolling"}
            )
            known = seed.json()["id"]
            keys.append(seed.json()["id"])

            def one(n: int) -> None:
                try:
                    if n % 10 == 0:  # a submission now and then, each with a key of its own
                        key = f"rolling-{n}"
                        body = {"kind": "job", "model_name": "rolling", "tags": {"n": str(n)}}
                        answer = balancer.request(
                            "POST", "/v1/training-runs", json=body, headers={"Idempotency-Key": key}
                        )
                        keys.append(key)
                    elif n % 10 == 5:
                        answer = balancer.request(
                            "GET", f"/v1/training-runs/{known}/wait", params={"timeout": 1}
                        )
                    elif n % 2:
                        answer = balancer.request("GET", f"/v1/training-runs/{known}")
                    else:
                        answer = balancer.request("GET", "/v1/training-runs", params={"limit": 5})
                    if answer.status_code >= 300:
                        failures.append(f"{n}: {answer.status_code} {answer.text[:200]}")
                    served.append(n)
                except Exception as error:  # any failure of a sent request counts
                    failures.append(f"{n}: {type(error).__name__}: {error}")

            def stream() -> None:
                with ThreadPoolExecutor(8) as pool:
                    n = 0
                    while not stop:
                        pool.submit(one, n)
                        n += 1
                        time.sleep(1 / 40)  # about 40 requests a second

            with ThreadPoolExecutor(1) as runner:
                streaming = runner.submit(stream)
                time.sleep(2)
                for i in range(len(services)):
                    services[i].terminate()
                    assert services[i].proc is not None
                    services[i].proc.wait(120)
                    services[i] = ServiceProcess(
                        services[i].data_dir, port=services[i].port, env=services[i].env, serve=True
                    ).start()
                    time.sleep(2)
                stop = True
                streaming.result()
            # Readiness alone kept traffic away from each stopping replica: not even a
            # connection was refused (the drain period is what makes this hold).
            retries = balancer.connect_retries
        assert failures == [], failures[:20]
        assert retries == 0
        assert len(served) > 200
        with services[0].client() as client:
            runs: list[dict[str, Any]] = []
            query: dict[str, Any] = {"model_name": "rolling", "limit": 200}
            while True:  # every page
                page = client.get("/v1/training-runs", params=query).json()
                runs += page["items"]
                if not page["next_cursor"]:
                    break
                query["cursor"] = page["next_cursor"]
            assert len(runs) == len(keys)  # one run per key, none lost
            for run in runs:
                ended = wait_final(client, run["id"])
                assert ended["status"] == "completed", (ended["error"], ended["steps"])
    finally:
        stop_all(services)


def test_the_event_stream_of_one_replica_carries_what_another_replica_submitted(
    tmp_path: Path, pg_url: str
) -> None:
    services = start_replicas(tmp_path, pg_url)
    try:
        leader = wait_leader(services)
        follower = next(s for s in services if s is not leader)
        seen: list[dict[str, Any]] = []

        def listen() -> None:
            import json

            deadline = time.monotonic() + 90  # keep-alive comments arrive at least every 15 s

            with (
                httpx.Client(base_url=follower.url, timeout=httpx.Timeout(60, read=60)) as client,
                client.stream("GET", "/v1/events", params={"kind": "run.state"}) as stream,
            ):
                for line in stream.iter_lines():
                    if time.monotonic() > deadline:
                        return
                    if line.startswith("data:"):
                        event = json.loads(line[5:])
                        seen.append(event)
                        if event.get("data", {}).get("status") in FINAL:
                            return

        with ThreadPoolExecutor(1) as pool:
            listening = pool.submit(listen)
            time.sleep(1.0)  # the subscription is open before the run exists
            with leader.client() as client:
                run_id = client.post(
                    "/v1/training-runs", json={"kind": "job", "model_name": "events-x"}
                ).json()["id"]
            listening.result(timeout=120)
        statuses = [e["data"]["status"] for e in seen if e.get("run_id") == run_id]
        assert statuses and statuses[-1] == "completed", seen
    finally:
        stop_all(services)
