"""SIGTERM to `trainctl serve` drains before the listener closes: /readyz says 503 at once, the
API keeps answering (each response asking the client to close its connection), a waiting
long-poll answers at once instead of holding the shutdown, and then the process exits."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from tests.support.server import ServiceProcess

DRAIN = 3.0


def test_sigterm_says_not_ready_keeps_serving_then_exits(tmp_path: Path, database_url: str) -> None:
    env = {"TRAINCTL_DATABASE_URL": database_url, "TRAINCTL_DRAIN_SECONDS": str(DRAIN)}
    service = ServiceProcess(tmp_path / "data", env=env, serve=True).start()
    try:
        with service.client() as client, ThreadPoolExecutor(1) as pool:
            run_id = client.post("/v1/training-runs", json={"kind": "job", "force_rerun": True}).json()["id"]
            ready = client.get("/readyz").json()
            assert ready["replica"]["leader"] and not ready["replica"]["draining"]
            waiting = pool.submit(client.get, f"/v1/training-runs/{run_id}/wait", params={"timeout": 120})
            time.sleep(0.3)
            service.terminate()
            started = time.monotonic()
            assert waiting.result(10).status_code == 200  # answered, not held until the end
            with httpx.Client(base_url=service.url, timeout=5) as fresh:
                draining = fresh.get("/readyz")
                assert draining.status_code == 503 and draining.json()["replica"]["draining"]
                status = fresh.get(f"/v1/training-runs/{run_id}")
                assert status.status_code == 200 and status.headers["connection"] == "close"
            assert time.monotonic() - started < DRAIN  # all of that within the drain period
        assert service.proc is not None
        assert service.proc.wait(60) in (0, -15)
    finally:
        service.stop()
