"""Bad input gets a problem+json answer naming the field, never a 500."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.support.asgi import AppThread

PROBLEM = "application/problem+json"


def invalid_names(response: Any) -> set[str]:
    return {p["name"] for p in response.json().get("invalid-params", [])}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"hyperparameters": {"reg_rate": 0}}, "body.hyperparameters.reg_rate"),
        ({"hyperparameters": {"reg_rate": -1}}, "body.hyperparameters.reg_rate"),
        ({"hyperparameters": {"solver": "adam"}}, "body.hyperparameters.solver"),
        ({"kind": "notebook"}, "body.kind"),
        ({"promotion": {"metric": "loss"}}, "body.promotion.metric"),
        ({"promotion": {"min_improvement": 2}}, "body.promotion.min_improvement"),
        ({"model_name": "../etc"}, "body.model_name"),
        ({"model_name": "x" * 300}, "body.model_name"),
        ({"data_asset": {"version": "v1"}}, "body.data_asset.version"),
        ({"surprise": 1}, "body.surprise"),
        ({"tags": {"k": "v" * 1000}}, "body.tags.k"),
        ({"step_compute": {"deploy-model": "gpu"}}, "body.step_compute.deploy-model.[key]"),
    ],
)
def test_invalid_body_names_the_field(api: AppThread, body: dict[str, Any], field: str) -> None:
    response = api.post("/v1/training-runs", json=body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["status"] == 422 and problem["title"] and problem["type"]
    assert field in invalid_names(response), problem


def test_unknown_data_asset_and_version(api: AppThread) -> None:
    missing = api.post("/v1/training-runs", json={"data_asset": {"name": "nope"}})
    assert missing.status_code == 422
    assert "body.data_asset" in invalid_names(missing)
    assert "nope" in missing.json()["detail"]
    version = api.post(
        "/v1/training-runs", json={"data_asset": {"name": "diabetes-diagnostics", "version": "999"}}
    )
    assert version.status_code == 422
    assert "999" in version.json()["detail"]


def test_malformed_json(api: AppThread) -> None:
    response = api.post(
        "/v1/training-runs", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM


@pytest.mark.parametrize(
    "path",
    [
        "/v1/training-runs/run-doesnotexist",
        "/v1/training-runs/run-doesnotexist/outcome",
        "/v1/training-runs/run-doesnotexist/metrics",
        "/v1/models/no-such-model",
        "/v1/data-assets/no-such-asset",
        "/v1/nothing-here",
    ],
)
def test_unknown_things_are_404_problems(api: AppThread, path: str) -> None:
    response = api.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM


def test_wait_timeout_is_bounded(api: AppThread) -> None:
    response = api.get("/v1/training-runs/run-x/wait", params={"timeout": 100000})
    assert response.status_code == 422
    assert "query.timeout" in invalid_names(response)


def test_logs_of_unknown_step(api: AppThread) -> None:
    run = api.post("/v1/training-runs", json={"kind": "job", "model_name": "logs-step"}).json()
    response = api.get(f"/v1/training-runs/{run['id']}/logs", params={"step": "deploy"})
    assert response.status_code == 422
    assert "query.step" in invalid_names(response)
    api.get(f"/v1/training-runs/{run['id']}/wait", params={"timeout": 120})


def test_health_and_readiness(api: AppThread) -> None:
    assert api.get("/healthz").json() == {"status": "ok"}
    deadline = time.monotonic() + 60
    ready = api.get("/readyz")
    while ready.status_code == 503 and time.monotonic() < deadline:  # the MLflow store is being prepared
        assert ready.json()["checks"]["mlflow_store"] == "being prepared", ready.json()
        time.sleep(0.2)
        ready = api.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"]["store"] == "ok"
    backend = api.get("/v1/backend").json()
    assert backend["kind"] == "local"
