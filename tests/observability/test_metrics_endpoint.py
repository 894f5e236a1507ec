"""GET /metrics on a started service, after a real pipeline run through the API."""

from __future__ import annotations

import time
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.asgi import AppThread

MODEL = "obs-metrics-model"


def scrape(api: AppThread) -> dict[str, list[Any]]:
    """name -> samples of the exposition, parsed by prometheus_client's own parser."""
    response = api.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples: dict[str, list[Any]] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append(sample)
    return samples


def value(samples: dict[str, list[Any]], name: str, **labels: str) -> float | None:
    for sample in samples.get(name, []):
        if all(sample.labels.get(k) == v for k, v in labels.items()):
            return float(sample.value)
    return None


@pytest.fixture(scope="module")
def finished_run(observed: AppThread) -> dict[str, Any]:
    created = observed.post("/v1/training-runs", json={"kind": "pipeline", "model_name": MODEL})
    assert created.status_code == 202, created.text
    done = observed.get(f"/v1/training-runs/{created.json()['id']}/wait", params={"timeout": 180})
    run: dict[str, Any] = done.json()
    assert run["status"] == "completed", run
    return run


@pytest.fixture(scope="module")
def after_run(observed: AppThread, finished_run: dict[str, Any]) -> dict[str, list[Any]]:
    # The hook runs right after the run is marked finished; give it a moment, never a guess.
    deadline = time.monotonic() + 10
    while True:
        samples = scrape(observed)
        if value(samples, "trainctl_champion_metric", model=MODEL) is not None or time.monotonic() > deadline:
            return samples
        time.sleep(0.05)


def test_runs_by_status_and_queue_depth_come_from_the_store(after_run: dict[str, list[Any]]) -> None:
    assert value(after_run, "trainctl_store_up") == 1
    assert (value(after_run, "trainctl_runs", status="completed") or 0) >= 1
    for status in ("queued", "running", "failed", "canceled"):
        assert value(after_run, "trainctl_runs", status=status) is not None, status
    assert value(after_run, "trainctl_queue_depth") is not None
    assert value(after_run, "trainctl_queue_limit") == 200


def test_step_durations_per_step_of_the_finished_pipeline(
    after_run: dict[str, list[Any]], finished_run: dict[str, Any]
) -> None:
    for step in finished_run["steps"]:
        assert not step["reused"]
        count = value(
            after_run, "trainctl_step_duration_seconds_count", step=step["name"], status="completed"
        )
        total = value(after_run, "trainctl_step_duration_seconds_sum", step=step["name"], status="completed")
        assert (count or 0) >= 1, step["name"]
        assert (total or 0) > 0, step["name"]
    assert (
        value(after_run, "trainctl_run_duration_seconds_count", kind="pipeline", status="completed") or 0
    ) >= 1


def test_champion_metric_per_model(observed: AppThread, after_run: dict[str, list[Any]]) -> None:
    outcome = observed.get(f"/v1/training-runs/{_run_id(observed)}/outcome").json()
    champion = outcome["champion_after"]
    assert value(after_run, "trainctl_champion_metric", model=MODEL, metric="roc_auc") == pytest.approx(
        champion["metrics"]["roc_auc"]
    )
    assert value(after_run, "trainctl_champion_version", model=MODEL) == float(champion["version"])


def test_http_latency_labels_are_route_templates_and_status_classes(
    observed: AppThread, after_run: dict[str, list[Any]], finished_run: dict[str, Any]
) -> None:
    assert (
        value(
            after_run,
            "trainctl_http_request_duration_seconds_count",
            method="POST",
            route="/v1/training-runs",
            status_class="2xx",
        )
        or 0
    ) >= 1
    assert value(
        after_run,
        "trainctl_http_request_duration_seconds_count",
        method="GET",
        route="/v1/training-runs/{run_id}/wait",
        status_class="2xx",
    )
    observed.get("/v1/training-runs/no-such-run")
    observed.get("/nowhere/" + "x" * 50)
    observed.request("BREW", "/v1/training-runs")
    samples = scrape(observed)
    http = "trainctl_http_request_duration_seconds_count"
    assert value(samples, http, method="GET", route="/v1/training-runs/{run_id}", status_class="4xx")
    assert value(samples, http, method="GET", route="unmatched", status_class="4xx")
    assert value(samples, http, method="OTHER", route="/v1/training-runs")
    raw_values = {v for s in samples[http] for v in s.labels.values()}
    assert not any(finished_run["id"] in v or "no-such-run" in v or "xxxxx" in v for v in raw_values)


def test_metrics_is_open_and_not_in_the_api_schema(observed: AppThread) -> None:
    assert "/metrics" not in observed.get("/openapi.json").json()["paths"]


def test_openmetrics_when_the_scraper_asks_for_it(observed: AppThread) -> None:
    response = observed.get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.text.rstrip().endswith("# EOF")
    assert response.text.count("# EOF") == 1


def _run_id(api: AppThread) -> str:
    runs = api.get("/v1/training-runs", params={"model_name": MODEL, "limit": 1}).json()["items"]
    return str(runs[0]["id"])
