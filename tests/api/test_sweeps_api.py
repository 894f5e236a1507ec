"""Sweeps through the API on the real local backend: 422s naming each field, a sweep across two
model families end to end (trials, the best through the gate, metrics per trial, logs), seeded
determinism, and a job that sweeps."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.asgi import AppThread
from tests.support.runs import run_to_end

PROBLEM = "application/problem+json"
EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"


def sweep_body(model: str, sweep: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"kind": "pipeline", "model_name": model, "experiment_name": "api-sweeps", "sweep": sweep, **extra}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"sweep": {"search_space": {"solver": {"choice": []}}}}, "body.sweep.search_space.solver.choice"),
        (
            {"sweep": {"search_space": {"reg_rate": {"uniform": [2, 1]}}}},
            "body.sweep.search_space.reg_rate.uniform",
        ),
        (
            {"sweep": {"search_space": {"reg_rate": {"loguniform": [0, 1]}}}},
            "body.sweep.search_space.reg_rate.loguniform",
        ),
        (
            {"sweep": {"search_space": {"n_estimators": {"choice": [10]}}}},
            "body.sweep.search_space.n_estimators",
        ),
        (
            {"hyperparameters": {"model_type": "random_forest", "solver": "saga"}},
            "body.hyperparameters.solver",
        ),
        (
            {
                "sweep": {
                    "sampling": "grid",
                    "max_trials": 3,
                    "search_space": {"reg_rate": {"choice": [1, 2]}, "solver": {"choice": ["lbfgs", "saga"]}},
                }
            },
            "body.sweep.max_trials",
        ),
        (
            {
                "hyperparameters": {"reg_rate": 0.5},
                "sweep": {"search_space": {"reg_rate": {"choice": [1, 2]}}},
            },
            "body.sweep.search_space.reg_rate",
        ),
        (
            {"sweep": {"search_space": {"reg_rate": {"choice": [1]}}, "max_trials": 500}},
            "body.sweep.max_trials",
        ),
        (
            {"sweep": {"search_space": {"reg_rate": {"normal": [0, 1]}}}},
            "body.sweep.search_space.reg_rate.normal",
        ),
    ],
)
def test_a_bad_sweep_is_a_422_naming_the_field(api: AppThread, body: dict[str, Any], field: str) -> None:
    response = api.post("/v1/training-runs", json=body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    names = {p["name"] for p in response.json()["invalid-params"]}
    assert field in names, names


def test_a_sweep_across_two_families_sends_its_best_trial_through_the_gate(
    api: AppThread, unique_model: str
) -> None:
    sweep = {
        "sampling": "random",
        "seed": 11,
        "max_trials": 6,
        "search_space": {
            "model_type": {"choice": ["logistic_regression", "random_forest"]},
            "reg_rate": {"loguniform": [0.001, 10]},
            "n_estimators": {"randint": [5, 30]},
        },
    }
    run = run_to_end(api, sweep_body(unique_model, sweep))
    assert run["status"] == "completed", run
    assert run["sweep"]["seed"] == 11 and run["sweep"]["search_space"]["reg_rate"] == {
        "loguniform": [0.001, 10.0]
    }
    summary = run["trials"]
    assert (summary["total"], summary["completed"], summary["failed"]) == (6, 6, 0)
    assert summary["failures"] == []

    trials = api.get(f"/v1/training-runs/{run['id']}/trials").json()
    assert trials["objective"] == {"metric": "roc_auc", "goal": "maximize"}
    items = trials["items"]
    objectives = [t["objective"] for t in items]
    assert objectives == sorted(objectives, reverse=True)  # best first
    assert items[0]["best"] and not any(t["best"] for t in items[1:])
    assert items[0]["name"] == summary["best_trial"]
    families = {t["hyperparameters"]["model_type"] for t in items}
    assert families == {"logistic_regression", "random_forest"}
    for trial in items:  # each shows its own family's hyper-parameters only
        keys = set(trial["hyperparameters"]) - {"model_type"}
        expected = (
            {"reg_rate", "solver"}
            if trial["hyperparameters"]["model_type"] == "logistic_regression"
            else {
                "n_estimators",
                "min_samples_leaf",
            }
        )
        assert keys == expected, trial
        assert trial["status"] == "completed" and trial["mlflow_run_id"]
        assert trial["metrics"]["roc_auc"] == trial["objective"]

    outcome = api.get(f"/v1/training-runs/{run['id']}/outcome").json()
    assert outcome["deploy"] is True and outcome["reason"].startswith("no champion yet")

    page = api.get(f"/ui/runs/{run['id']}")  # the dashboard's run page shows the trials
    assert page.status_code == 200
    assert 'id="trials"' in page.text and "6 trials, best first by roc_auc" in page.text
    assert f'{summary["best_trial"]} <span class="tag">best</span>' in page.text
    assert outcome["best_trial"]["name"] == items[0]["name"]
    assert outcome["best_trial"]["hyperparameters"] == items[0]["hyperparameters"]
    assert outcome["candidate_metrics"]["roc_auc"] == pytest.approx(items[0]["objective"])
    lineage = api.get(f"/v1/models/{unique_model}").json()["versions"][0]["lineage"]
    assert lineage["model_type"] == items[0]["hyperparameters"]["model_type"]

    metrics = api.get(f"/v1/training-runs/{run['id']}/metrics").json()
    assert [t["trial"] for t in metrics["trials"]] == [f"train-model.trial-0{i}" for i in range(1, 7)]
    assert all("roc_auc" in t["metrics"] for t in metrics["trials"])
    log = api.get(f"/v1/training-runs/{run['id']}/logs", params={"step": "train-model.trial-02"})
    assert log.status_code == 200, log.text

    # The same sweep, now against that champion, with a rule no candidate can meet: refused.
    refused = run_to_end(api, sweep_body(unique_model, sweep, promotion={"min_improvement": 0.5}))
    assert refused["status"] == "completed"
    assert all(t["reused"] for t in api.get(f"/v1/training-runs/{refused['id']}/trials").json()["items"])
    verdict = api.get(f"/v1/training-runs/{refused['id']}/outcome").json()
    assert verdict["deploy"] is False and verdict["registered_model"] is None
    assert "not better" in verdict["reason"] or "by only" in verdict["reason"]


def test_the_same_seed_draws_the_same_trials_and_no_seed_records_one(
    api: AppThread, unique_model: str
) -> None:
    sweep = {"search_space": {"reg_rate": {"loguniform": [0.0001, 10]}}, "max_trials": 3}
    first = run_to_end(api, sweep_body(unique_model, {**sweep, "seed": 5}, kind="job"))
    second = run_to_end(api, sweep_body(unique_model, {**sweep, "seed": 5}, kind="job"))

    def drawn(run: dict[str, Any]) -> list[Any]:
        items = api.get(f"/v1/training-runs/{run['id']}/trials").json()["items"]
        return sorted(t["hyperparameters"]["reg_rate"] for t in items)

    assert drawn(first) == drawn(second)
    created = api.post("/v1/training-runs", json=sweep_body(unique_model, sweep, kind="job")).json()
    assert isinstance(created["sweep"]["seed"], int)
    api.post(f"/v1/training-runs/{created['id']}/cancel")


def test_a_job_that_sweeps_reports_its_best_trial_and_no_outcome(api: AppThread, unique_model: str) -> None:
    body = sweep_body(
        unique_model,
        {"sampling": "grid", "search_space": {"solver": {"choice": ["lbfgs", "liblinear"]}}},
        kind="job",
        hyperparameters={"reg_rate": 0.02},
    )
    run = run_to_end(api, body)
    assert run["status"] == "completed"
    assert [s["name"] for s in run["steps"]] == ["train-model"]
    assert run["trials"]["best_trial"] in ("train-model.trial-01", "train-model.trial-02")
    items = api.get(f"/v1/training-runs/{run['id']}/trials").json()["items"]
    assert {t["hyperparameters"]["solver"] for t in items} == {"lbfgs", "liblinear"}
    assert all(t["hyperparameters"]["reg_rate"] == 0.02 for t in items)
    assert api.get(f"/v1/training-runs/{run['id']}/outcome").status_code == 409


def test_a_run_without_a_sweep_has_no_trials(api: AppThread, unique_model: str) -> None:
    run = api.post("/v1/training-runs", json={"kind": "job", "model_name": unique_model}).json()
    assert run["sweep"] is None and run["trials"] is None
    assert api.get(f"/v1/training-runs/{run['id']}/trials").json() == {
        "run_id": run["id"],
        "objective": None,
        "summary": None,
        "items": [],
    }


def test_the_readme_grid_and_random_sweeps_run_end_to_end(api: AppThread, unique_model: str) -> None:
    """docs/examples/sweep-grid.json (16 trials) then sweep-random.json (20 trials), each across two
    model families: the first best trial is promoted, the second goes through the gate."""
    grid = {**json.loads((EXAMPLES / "sweep-grid.json").read_text()), "model_name": unique_model}
    first = run_to_end(api, grid, timeout=240)
    assert first["status"] == "completed", first
    assert (first["trials"]["total"], first["trials"]["completed"]) == (16, 16)
    items = api.get(f"/v1/training-runs/{first['id']}/trials").json()["items"]
    families = [t["hyperparameters"]["model_type"] for t in items]
    assert sorted(families) == ["logistic_regression"] * 8 + ["random_forest"] * 8
    promoted = api.get(f"/v1/training-runs/{first['id']}/outcome").json()
    assert promoted["deploy"] is True and promoted["best_trial"]["name"] == items[0]["name"]

    random = {**json.loads((EXAMPLES / "sweep-random.json").read_text()), "model_name": unique_model}
    second = run_to_end(api, random, timeout=240)
    assert second["status"] == "completed", second
    assert (second["trials"]["total"], second["trials"]["completed"]) == (20, 20)
    items = api.get(f"/v1/training-runs/{second['id']}/trials").json()["items"]
    assert {t["hyperparameters"]["model_type"] for t in items} == {"logistic_regression", "gradient_boosting"}
    verdict = api.get(f"/v1/training-runs/{second['id']}/outcome").json()
    assert verdict["best_trial"]["name"] == items[0]["name"]
    assert verdict["champion_before"]["version"] == "1"
    # the gate decides as the rule says: promoted exactly when the best trial beats the champion
    beats = verdict["candidate_metrics"]["roc_auc"] > verdict["champion_before"]["metrics"]["roc_auc"]
    assert verdict["deploy"] is beats
    assert (verdict["registered_model"] is not None) is beats
