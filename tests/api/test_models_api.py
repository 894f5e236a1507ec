"""GET /v1/models: registered models by name, paginated, each with its champion and the metric
its promotion was decided on; against the real local registry and over the fake backend."""

from __future__ import annotations

from datetime import UTC, datetime

from app.domain.state import ModelVersionInfo, RegisteredModelInfo
from tests.support.asgi import AppThread
from tests.support.fakebackend import AppFactory
from tests.support.runs import run_to_end


def test_a_promoted_model_is_listed_with_its_champion_and_metric(api: AppThread, unique_model: str) -> None:
    body = {"kind": "pipeline", "model_name": unique_model, "promotion": {"metric": "f1"}}
    first = run_to_end(api, {**body, "hyperparameters": {"reg_rate": 0.0456}})
    assert first["status"] == "completed", first
    outcome = api.get(f"/v1/training-runs/{first['id']}/outcome").json()

    items, cursor = [], None
    while True:
        page = api.get("/v1/models", params={"limit": 1, **({"cursor": cursor} if cursor else {})}).json()
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    names = [m["name"] for m in items]
    assert names == sorted(names) and len(names) == len(set(names))
    (mine,) = [m for m in items if m["name"] == unique_model]
    assert mine["champion_version"] == "1" and mine["latest_version"] == "1" and mine["version_count"] == 1
    assert mine["champion_metric"] == {"name": "f1", "value": outcome["candidate_metrics"]["f1"]}
    assert mine["updated_at"] is not None


def test_models_page_through_the_registry_by_name(make_app: AppFactory) -> None:
    from fastapi.testclient import TestClient

    built = make_app()
    created = datetime(2026, 11, 30, tzinfo=UTC)
    for name in ("c-model", "a-model", "b-model"):
        version = ModelVersionInfo("1", created, {"roc_auc": 0.8}, {}, is_champion=name != "b-model")
        built.backend.registry[name] = RegisteredModelInfo(
            name, None if name == "b-model" else "1", [version]
        )
    with TestClient(built.app) as client:
        first = client.get("/v1/models", params={"limit": 2}).json()
        assert [m["name"] for m in first["items"]] == ["a-model", "b-model"]
        assert first["items"][0]["champion_metric"] == {"name": "roc_auc", "value": 0.8}
        assert first["items"][1]["champion_version"] is None and first["items"][1]["champion_metric"] is None
        rest = client.get("/v1/models", params={"limit": 2, "cursor": first["next_cursor"]}).json()
        assert [m["name"] for m in rest["items"]] == ["c-model"] and rest["next_cursor"] is None
        assert client.get("/v1/models", params={"limit": 0}).status_code == 422
