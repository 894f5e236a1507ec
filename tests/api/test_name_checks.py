"""POST checks the names the backend can verify: one 422 names every unknown field, and nothing
is stored or queued for a refused request."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.support.fakebackend import AppFactory


def test_unknown_data_asset_and_computes_are_named_in_one_422(make_app: AppFactory) -> None:
    built = make_app()
    built.backend.unknown_data_assets = {"no-such-data"}
    built.backend.unknown_computes = {"no-such-cluster", "no-such-gpu"}
    with TestClient(built.app) as client:
        refused = client.post(
            "/v1/training-runs",
            json={
                "kind": "pipeline",
                "data_asset": {"name": "no-such-data"},
                "compute": "no-such-cluster",
                "step_compute": {"train-model": "no-such-gpu", "evaluate-model": "cpu-cluster"},
            },
        )
        listed = client.get("/v1/training-runs").json()

    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    names = [p["name"] for p in refused.json()["invalid-params"]]
    assert sorted(names) == ["body.compute", "body.data_asset", "body.step_compute.train-model"]
    assert listed["items"] == []


def test_known_names_are_accepted(make_app: AppFactory) -> None:
    built = make_app()
    built.backend.unknown_computes = {"no-such-cluster"}
    with TestClient(built.app) as client:
        accepted = client.post("/v1/training-runs", json={"kind": "job", "compute": "cpu-cluster"})

    assert accepted.status_code == 202, accepted.text
