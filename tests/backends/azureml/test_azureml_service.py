"""The whole service on the Azure ML backend: POST -> Azure pipeline -> status -> metrics ->
outcome, and POST -> cancel, through the API, the reconciler, the real SDK and the fake
workspace (MLflow read-back from the loopback mlflow server)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from fakeaml import STEP_SECONDS, FakeClock, FakeWorkspace
from fakeaml.mlflow_server import CANDIDATE_METRICS, MlflowServer, Registry

from tests.support.asgi import AppThread

pytestmark = pytest.mark.slow


@pytest.fixture
def tracking_uri(mlflow_server: MlflowServer) -> str:
    return mlflow_server.uri


def _until(
    service: AppThread, run_id: str, done: Callable[[dict[str, Any]], bool], timeout: float = 60
) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        run = service.get(f"/v1/training-runs/{run_id}").json()
        if done(run):
            return run
        assert time.monotonic() < deadline, run
        time.sleep(0.1)


def test_pipeline_through_the_api(
    service: AppThread, workspace: FakeWorkspace, clock: FakeClock, registry: Registry
) -> None:
    seeded = registry.promoted
    runs = seeded.by_display_name()
    workspace.child_namer = lambda parent, display: runs[display]

    created = service.post(
        "/v1/training-runs",
        json={
            "kind": "pipeline",
            "experiment_name": "api-azure",
            "model_name": registry.model_name,
            "compute": "cpu-cluster",
            "step_compute": {"train-model": "gpu-cluster"},
            "hyperparameters": {"reg_rate": 0.05, "solver": "liblinear"},
        },
    )
    assert created.status_code == 202, created.text
    run_id = created.json()["id"]

    run = _until(service, run_id, lambda r: r["backend_job_name"] is not None)
    assert run["backend"] == "azureml"
    assert run["backend_job_name"] == f"trainctl-{run_id}"
    assert "/runs/trainctl-" in run["studio_url"]
    assert workspace.job(run["backend_job_name"]).body["properties"]["tags"]["trainctl.run_id"] == run_id

    clock.advance(4 * STEP_SECONDS)
    run = _until(service, run_id, lambda r: r["status"] == "completed")
    assert run["raw_status"] == "Completed"
    assert [(s["name"], s["raw_status"], s["mlflow_run_id"]) for s in run["steps"]] == [
        (name, "Completed", runs[name]) for name in ("train-model", "evaluate-model", "register-model")
    ]

    metrics = service.get(f"/v1/training-runs/{run_id}/metrics").json()
    by_step = {s["step"]: s["metrics"] for s in metrics["steps"]}
    assert by_step["train-model"]["roc_auc"] == CANDIDATE_METRICS["roc_auc"]

    outcome = service.get(f"/v1/training-runs/{run_id}/outcome").json()
    assert outcome["deploy"] is True
    assert outcome["registered_model"]["version"] == seeded.registered_version

    assert len(workspace.jobs) == 1


def test_cancel_through_the_api(service: AppThread, workspace: FakeWorkspace, clock: FakeClock) -> None:
    created = service.post(
        "/v1/training-runs", json={"kind": "job", "experiment_name": "api-azure", "compute": "cpu-cluster"}
    )
    assert created.status_code == 202, created.text
    run_id = created.json()["id"]
    run = _until(service, run_id, lambda r: r["backend_job_name"] is not None)
    clock.advance(40)

    cancelled = service.post(f"/v1/training-runs/{run_id}/cancel")
    assert cancelled.status_code in (200, 202), cancelled.text
    assert workspace.transport.requests("POST", f"/jobs/{run['backend_job_name']}/cancel")

    clock.advance(10)
    run = _until(service, run_id, lambda r: r["status"] == "canceled")
    assert run["raw_status"] == "Canceled"
