"""The training-runs API against a real local backend (steps really run), via ASGITransport."""

from __future__ import annotations

from typing import Any

from tests.support.asgi import AppThread
from tests.support.runs import run_to_end

PROBLEM = "application/problem+json"


def pipeline(model: str, **extra: Any) -> dict[str, Any]:
    return {"kind": "pipeline", "model_name": model, "experiment_name": "api-tests", **extra}


def test_pipeline_promotes_first_then_reuses_then_rejects_a_worse_model(
    api: AppThread, unique_model: str
) -> None:
    # A reg_rate no other test uses: train must really run, not reuse another test's step.
    params = {"hyperparameters": {"reg_rate": 0.0123}}
    first = run_to_end(api, pipeline(unique_model, **params))
    assert first["status"] == "completed", first
    assert [s["name"] for s in first["steps"]] == ["train-model", "evaluate-model", "register-model"]
    assert all(s["status"] == "completed" and not s["reused"] and s["exit_code"] == 0 for s in first["steps"])
    assert first["raw_status"] == "Completed"
    assert first["started_at"] and first["ended_at"]

    outcome = api.get(f"/v1/training-runs/{first['id']}/outcome").json()
    assert outcome["deploy"] is True
    assert outcome["reason"].startswith("no champion yet")
    assert outcome["champion_before"] is None
    assert outcome["registered_model"] == {
        **outcome["registered_model"],
        "name": unique_model,
        "version": "1",
    }
    assert outcome["champion_after"]["version"] == "1"
    assert outcome["promoted"] is True
    assert set(outcome["candidate_metrics"]) == {"accuracy", "precision", "recall", "f1", "roc_auc"}

    again = run_to_end(api, pipeline(unique_model, **params))
    assert again["status"] == "completed"
    assert all(s["reused"] for s in again["steps"]), again["steps"]

    worse = run_to_end(api, pipeline(unique_model, hyperparameters={"reg_rate": 1000}))
    assert worse["status"] == "completed"
    verdict = api.get(f"/v1/training-runs/{worse['id']}/outcome").json()
    assert verdict["deploy"] is False
    assert verdict["registered_model"] is None
    assert verdict["champion_before"]["version"] == "1"
    assert verdict["champion_after"]["version"] == "1"
    assert "not better" in verdict["reason"]

    model = api.get(f"/v1/models/{unique_model}").json()
    assert model["champion_version"] == "1"
    assert [v["version"] for v in model["versions"]] == ["1"]
    assert model["versions"][0]["lineage"]["trainctl.run_id"] == first["id"]
    assert [(h["version"], h["run_id"]) for h in model["champion_history"]] == [("1", first["id"])]


def test_metrics_artifacts_and_logs(api: AppThread, unique_model: str) -> None:
    run = run_to_end(api, pipeline(unique_model, hyperparameters={"reg_rate": 0.05, "solver": "liblinear"}))
    metrics = api.get(f"/v1/training-runs/{run['id']}/metrics").json()
    by_step = {s["step"]: s["metrics"] for s in metrics["steps"]}
    assert 0.5 < by_step["train-model"]["roc_auc"] <= 1.0
    assert any(k.startswith("training_") for k in by_step["train-model"]), "autologged metrics missing"
    assert "candidate_roc_auc" in by_step["evaluate-model"]

    listing = api.get(f"/v1/training-runs/{run['id']}/artifacts").json()["items"]
    paths = {a["path"] for a in listing}
    for plot in ("roc_curve.png", "confusion_matrix.png", "precision_recall.png"):
        assert f"train-model/{plot}" in paths
    png = api.get(f"/v1/training-runs/{run['id']}/artifacts/train-model/roc_curve.png")
    assert png.status_code == 200
    assert png.headers["content-type"] == "image/png"
    assert png.content.startswith(b"\x89PNG")

    log = api.get(f"/v1/training-runs/{run['id']}/logs", params={"step": "train-model"})
    assert log.status_code == 200 and log.json()["step"] == "train-model"


def test_job_trains_only_and_has_no_outcome(api: AppThread, unique_model: str) -> None:
    run = run_to_end(api, {"kind": "job", "model_name": unique_model})
    assert run["status"] == "completed"
    assert [s["name"] for s in run["steps"]] == ["train-model"]
    outcome = api.get(f"/v1/training-runs/{run['id']}/outcome")
    assert outcome.status_code == 409
    assert outcome.headers["content-type"] == PROBLEM
    assert "job" in outcome.json()["detail"]


def test_idempotency_key_returns_same_run_and_rejects_other_body(api: AppThread, unique_model: str) -> None:
    headers = {"Idempotency-Key": f"key-{unique_model}"}
    body = {"kind": "job", "model_name": unique_model}
    first = api.post("/v1/training-runs", json=body, headers=headers)
    second = api.post("/v1/training-runs", json=body, headers=headers)
    assert first.status_code == second.status_code == 202
    assert first.json()["id"] == second.json()["id"]
    assert second.headers.get("Idempotent-Replayed") == "true"
    other = api.post("/v1/training-runs", json={**body, "hyperparameters": {"reg_rate": 2}}, headers=headers)
    assert other.status_code == 409
    assert other.headers["content-type"] == PROBLEM
    assert other.json()["run_id"] == first.json()["id"]
    api.get(f"/v1/training-runs/{first.json()['id']}/wait", params={"timeout": 120})


def test_list_filters_and_cursor_pagination(api: AppThread, unique_model: str) -> None:
    ids = [
        api.post("/v1/training-runs", json={"kind": "job", "model_name": unique_model}).json()["id"]
        for _ in range(3)
    ]
    page1 = api.get("/v1/training-runs", params={"model_name": unique_model, "limit": 2}).json()
    assert [r["id"] for r in page1["items"]] == ids[::-1][:2]
    page2 = api.get(
        "/v1/training-runs", params={"model_name": unique_model, "limit": 2, "cursor": page1["next_cursor"]}
    ).json()
    assert [r["id"] for r in page2["items"]] == [ids[0]]
    assert page2["next_cursor"] is None
    for run_id in ids:
        api.get(f"/v1/training-runs/{run_id}/wait", params={"timeout": 120})
    done = api.get("/v1/training-runs", params={"model_name": unique_model, "status": "completed"}).json()
    assert len(done["items"]) == 3


def test_location_header_and_location_is_readable(api: AppThread, unique_model: str) -> None:
    created = api.post("/v1/training-runs", json={"kind": "job", "model_name": unique_model})
    location = created.headers["location"]
    assert location == f"/v1/training-runs/{created.json()['id']}"
    assert api.get(location).status_code == 200
    api.get(f"{location}/wait", params={"timeout": 120})


def test_outcome_while_running_is_409_and_cancel_works(api: AppThread, unique_model: str) -> None:
    created = api.post("/v1/training-runs", json=pipeline(unique_model, force_rerun=True)).json()
    early = api.get(f"/v1/training-runs/{created['id']}/outcome")
    assert early.status_code == 409
    assert early.json()["type"].endswith("run-not-finished")
    canceled = api.post(f"/v1/training-runs/{created['id']}/cancel")
    assert canceled.status_code == 202
    final = api.get(f"/v1/training-runs/{created['id']}/wait", params={"timeout": 60}).json()
    assert final["status"] == "canceled"
    again = api.post(f"/v1/training-runs/{created['id']}/cancel")
    assert again.status_code == 409
