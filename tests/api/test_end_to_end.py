"""The real thing: uvicorn in its own process, a pipeline over HTTP, then a crash and restart."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from tests.support.server import ServiceProcess


def wait_final(client: httpx.Client, run_id: str, timeout: float = 180) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = client.get(f"/v1/training-runs/{run_id}/wait", params={"timeout": 30}).json()
        if run["status"] in ("completed", "failed", "canceled"):
            return run
    raise TimeoutError(run_id)


def test_pipeline_over_http_with_real_uvicorn(tmp_path: Path, database_url: str) -> None:
    service = ServiceProcess(tmp_path / "data", env={"TRAINCTL_DATABASE_URL": database_url}).start()
    try:
        with service.client() as client:
            created = client.post("/v1/training-runs", json={"model_name": "e2e-model"})
            assert created.status_code == 202
            run = wait_final(client, created.json()["id"])
            assert run["status"] == "completed", run
            run_id = run["id"]
            metrics = client.get(f"/v1/training-runs/{run_id}/metrics").json()
            assert metrics["steps"][0]["metrics"]["roc_auc"] > 0.5
            outcome = client.get(f"/v1/training-runs/{run_id}/outcome").json()
            assert outcome["deploy"] is True and outcome["registered_model"]["version"] == "1"
            png = client.get(f"/v1/training-runs/{run_id}/artifacts/train-model/confusion_matrix.png")
            assert png.headers["content-type"] == "image/png" and png.content[:4] == b"\x89PNG"
            model = client.get("/v1/models/e2e-model").json()
            assert model["champion_version"] == "1"
            assert client.get("/docs").status_code == 200
            assets = client.get("/v1/data-assets").json()["items"]
            assert assets[0]["name"] == "diabetes-diagnostics" and assets[0]["latest_version"] == "1"
    finally:
        service.stop()


def test_sigkill_mid_run_then_restart_loses_nothing(tmp_path: Path, database_url: str) -> None:
    data_dir = tmp_path / "data"
    db = {"TRAINCTL_DATABASE_URL": database_url}
    service = ServiceProcess(data_dir, env=db).start()
    try:
        with service.client() as client:
            # Several runs in flight, some queued behind the two step slots.
            ids = [
                client.post(
                    "/v1/training-runs",
                    json={"model_name": "crash-model", "hyperparameters": {"reg_rate": 0.01 * (i + 1)}},
                ).json()["id"]
                for i in range(4)
            ]
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                steps = [s for r in ids for s in client.get(f"/v1/training-runs/{r}").json()["steps"]]
                if any(s["status"] == "running" for s in steps):
                    break
                time.sleep(0.05)
        service.kill()
    finally:
        service.stop()

    restarted = ServiceProcess(data_dir, port=service.port, env=db).start()
    try:
        with restarted.client() as client:
            runs = [wait_final(client, r) for r in ids]
            assert [r["status"] for r in runs] == ["completed"] * 4, [(r["id"], r["error"]) for r in runs]
            listed = client.get("/v1/training-runs", params={"limit": 200}).json()["items"]
            assert sorted(r["id"] for r in listed) == sorted(ids)  # none lost, none duplicated
            model = client.get("/v1/models/crash-model").json()
            registered_by = [v["lineage"].get("trainctl.run_id") for v in model["versions"]]
            assert len(registered_by) == len(set(registered_by)), "a run registered its model twice"
            champions = [v for v in model["versions"] if v["is_champion"]]
            assert len(champions) == 1
            assert champions[0]["version"] == model["champion_version"]
            tagged = [v for v in model["versions"] if v["lineage"].get("champion") == "true"]
            assert [v["version"] for v in tagged] == [model["champion_version"]]
    finally:
        restarted.stop()


def test_sigterm_lets_the_running_step_finish_and_the_rest_resume(tmp_path: Path, database_url: str) -> None:
    data_dir = tmp_path / "data"
    db = {"TRAINCTL_DATABASE_URL": database_url}
    service = ServiceProcess(data_dir, env={"TRAINCTL_SHUTDOWN_GRACE_SECONDS": "60", **db}).start()
    try:
        with service.client() as client:
            run_id = client.post(
                "/v1/training-runs", json={"model_name": "term-model", "force_rerun": True}
            ).json()["id"]
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                steps = client.get(f"/v1/training-runs/{run_id}").json()["steps"]
                if steps[0]["status"] == "running":
                    break
                time.sleep(0.02)
            assert steps[0]["status"] == "running"
    finally:
        service.stop()  # SIGTERM, waits for the process to exit
    # uvicorn re-raises the SIGTERM once its graceful shutdown is done.
    assert service.proc is not None
    assert service.proc.returncode in (0, -15)

    restart_began = datetime.now(UTC)
    restarted = ServiceProcess(data_dir, port=service.port, env=db).start()
    try:
        with restarted.client() as client:
            run = wait_final(client, run_id)
            assert run["status"] == "completed", run
    finally:
        restarted.stop()
    # The step that was running at SIGTERM finished then, and keeps the times it really ran.
    train = run["steps"][0]
    assert train["reused"] is False
    assert datetime.fromisoformat(train["ended_at"]) < restart_began, train
    assert train["duration_seconds"] > 0.05, train
    # The restart did not run it again.
    train_logs = sorted((data_dir / "logs" / run_id).glob("train-model.*.log"))
    assert [p.name for p in train_logs] == ["train-model.1.log"]
