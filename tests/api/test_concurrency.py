"""Many callers at once: idempotency holds under concurrency, and a full queue says 429."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.databases import database
from tests.support.server import ServiceProcess

QUEUE_LIMIT = 3


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory, db_kind: str) -> Iterator[ServiceProcess]:
    data_dir: Path = tmp_path_factory.mktemp("concurrency") / "data"
    with database(db_kind, data_dir) as url:
        env = {"TRAINCTL_MAX_QUEUED_RUNS": str(QUEUE_LIMIT), "TRAINCTL_DATABASE_URL": url}
        running = ServiceProcess(data_dir, env=env).start()
        yield running
        running.stop()


def test_200_concurrent_posts_with_one_key_create_one_run(service: ServiceProcess) -> None:
    body = {"kind": "job", "model_name": "same-key", "hyperparameters": {"reg_rate": 0.02}}

    async def hammer() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=200)
        async with httpx.AsyncClient(base_url=service.url, timeout=60, limits=limits) as client:
            return await asyncio.gather(
                *(
                    client.post("/v1/training-runs", json=body, headers={"Idempotency-Key": "k-200"})
                    for _ in range(200)
                )
            )

    responses = asyncio.run(hammer())
    assert {r.status_code for r in responses} == {202}
    ids = {r.json()["id"] for r in responses}
    assert len(ids) == 1
    with service.client() as client:
        listed = client.get("/v1/training-runs", params={"model_name": "same-key"}).json()["items"]
        assert [r["id"] for r in listed] == list(ids)
        client.get(f"/v1/training-runs/{ids.pop()}/wait", params={"timeout": 120})


def test_full_queue_answers_429_with_retry_after(service: ServiceProcess) -> None:
    with service.client() as client:
        answers = [
            client.post(
                "/v1/training-runs",
                json={"model_name": "queue-limit", "force_rerun": True, "hyperparameters": {"reg_rate": 0.5}},
            )
            for _ in range(QUEUE_LIMIT + 3)
        ]
        accepted = [a for a in answers if a.status_code == 202]
        refused = [a for a in answers if a.status_code == 429]
        assert len(accepted) == QUEUE_LIMIT, [a.status_code for a in answers]
        assert len(refused) == 3
        assert refused[0].headers["content-type"] == "application/problem+json"
        assert int(refused[0].headers["retry-after"]) > 0
        assert "TRAINCTL_MAX_QUEUED_RUNS" in refused[0].json()["detail"]
        for run in accepted:
            done = client.get(f"/v1/training-runs/{run.json()['id']}/wait", params={"timeout": 180}).json()
            assert done["status"] == "completed"
        # Room again once the queue drained.
        assert (
            client.post("/v1/training-runs", json={"kind": "job", "model_name": "queue-limit"}).status_code
            == 202
        )
