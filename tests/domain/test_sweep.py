"""Sweeps in the domain: validation at each field, the trials a grid or a seeded draw gives,
the fan-out node in the one graph, and model families."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from app.domain.pipeline import LIGHT_INPUT, FromDataAsset, graph
from app.domain.search import Distribution
from app.domain.spec import DataAssetRef, Objective, RunOptions, RunSpec


def errors(body: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ValidationError) as caught:
        RunOptions.model_validate(body)
    return {".".join(map(str, e["loc"])): e["msg"] for e in caught.value.errors()}


def sweep(space: dict[str, Any], **options: Any) -> dict[str, Any]:
    return {"sweep": {"search_space": space, **options}}


def spec(body: dict[str, Any]) -> RunSpec:
    return RunSpec.model_validate({**body, "run_id": "r", "data_asset": DataAssetRef(name="d", version="1")})


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [
        (sweep({"solver": {"choice": []}}), "sweep.search_space.solver.choice", "at least 1 item"),
        (
            sweep({"reg_rate": {"uniform": [1, 1]}}),
            "sweep.search_space.reg_rate.uniform",
            "lo must be below hi",
        ),
        (
            sweep({"reg_rate": {"randint": [5, 2]}}),
            "sweep.search_space.reg_rate.randint",
            "lo must be below hi",
        ),
        (sweep({"reg_rate": {"loguniform": [0, 1]}}), "sweep.search_space.reg_rate.loguniform", "lo > 0"),
        (sweep({"reg_rate": {"loguniform": [-1, 1]}}), "sweep.search_space.reg_rate.loguniform", "lo > 0"),
        (sweep({"epochs": {"choice": [1]}}), "sweep.search_space.epochs", "unknown hyper-parameter"),
        (
            sweep({"n_estimators": {"choice": [10]}}),
            "sweep.search_space.n_estimators",
            "not a hyper-parameter of logistic_regression",
        ),
        (
            {"hyperparameters": {"model_type": "random_forest"}, **sweep({"solver": {"choice": ["saga"]}})},
            "sweep.search_space.solver",
            "not a hyper-parameter of random_forest",
        ),
        (
            {"hyperparameters": {"reg_rate": 0.1}, **sweep({"reg_rate": {"uniform": [0.1, 1]}})},
            "sweep.search_space.reg_rate",
            "also fixed as hyperparameters.reg_rate",
        ),
        (
            {
                "hyperparameters": {"model_type": "random_forest"},
                **sweep({"model_type": {"choice": ["random_forest"]}}),
            },
            "sweep.search_space.model_type",
            "also fixed",
        ),
        (
            sweep(
                {"reg_rate": {"choice": [0.1, 1]}, "solver": {"choice": ["lbfgs", "saga"]}},
                sampling="grid",
                max_trials=3,
            ),
            "sweep.max_trials",
            "the grid holds 4 distinct trials, more than max_trials 3",
        ),
        (
            sweep({"reg_rate": {"uniform": [0.1, 1]}}, sampling="grid"),
            "sweep.search_space.reg_rate",
            "choice only",
        ),
        (sweep({"solver": {"choice": ["adam"]}}), "sweep.search_space.solver.choice.0", "lbfgs"),
        (
            sweep({"reg_rate": {"choice": [0.1, -2]}}),
            "sweep.search_space.reg_rate.choice.1",
            "greater than 0",
        ),
        (sweep({"solver": {"uniform": [0, 1]}}), "sweep.search_space.solver.uniform", "takes choice only"),
        (
            sweep({"model_type": {"choice": ["random_forest"]}, "n_estimators": {"uniform": [1, 5]}}),
            "sweep.search_space.n_estimators.uniform",
            "whole number",
        ),
        (
            sweep({"reg_rate": {"choice": [1], "uniform": [1, 2]}}),
            "sweep.search_space.reg_rate",
            "exactly one",
        ),
        (sweep({}), "sweep.search_space", "at least 1 item"),
        (sweep({"reg_rate": {"choice": [1]}}, max_trials=201), "sweep.max_trials", "200"),
        (
            {"hyperparameters": {"model_type": "random_forest", "reg_rate": 1}},
            "hyperparameters.reg_rate",
            "random_forest",
        ),
        ({"hyperparameters": {"learning_rate": 0.1}}, "hyperparameters.learning_rate", "logistic_regression"),
    ],
)
def test_bad_sweeps_name_each_field(body: dict[str, Any], field: str, reason: str) -> None:
    found = errors(body)
    assert field in found, found
    assert reason in found[field]


def test_every_problem_is_reported_at_once() -> None:
    found = errors(
        sweep({"reg_rate": {"loguniform": [0, 1]}, "solver": {"choice": []}, "epochs": {"choice": [1]}})
    )
    assert {"sweep.search_space.reg_rate.loguniform", "sweep.search_space.solver.choice"} <= set(found)


def test_a_seeded_random_draw_is_the_same_every_time_and_differs_by_seed() -> None:
    body = sweep(
        {"reg_rate": {"loguniform": [0.0001, 10]}, "solver": {"choice": ["lbfgs", "liblinear"]}},
        sampling="random",
        seed=42,
        max_trials=20,
    )
    first = graph(spec(body))[0].sweep
    again = graph(spec(body))[0].sweep
    assert first is not None and again is not None
    assert [t.hyperparameters for t in first.trials] == [t.hyperparameters for t in again.trials]
    assert len(first.trials) == 20
    assert all(0.0001 <= float(t.hyperparameters["reg_rate"]) <= 10 for t in first.trials)
    other = graph(spec({"sweep": {**body["sweep"], "seed": 7}}))[0].sweep
    assert other is not None
    assert [t.hyperparameters for t in other.trials] != [t.hyperparameters for t in first.trials]


def test_a_grid_across_two_families_runs_each_distinct_candidate_once() -> None:
    body = sweep(
        {
            "model_type": {"choice": ["logistic_regression", "random_forest"]},
            "reg_rate": {"choice": [0.01, 0.1, 1, 10]},
            "solver": {"choice": ["lbfgs", "liblinear"]},
            "n_estimators": {"choice": [20, 40, 60, 80, 100, 120, 140, 160]},
        },
        sampling="grid",
        max_trials=16,
    )
    plan = graph(spec(body))[0].sweep
    assert plan is not None
    trials = [dict(t.hyperparameters) for t in plan.trials]
    assert len(trials) == 16  # 4 x 2 logistic regressions + 8 forests, not 2 x 4 x 2 x 8
    assert trials[0] == {"model_type": "logistic_regression", "reg_rate": 0.01, "solver": "lbfgs"}
    assert trials[-1] == {"model_type": "random_forest", "n_estimators": 160, "min_samples_leaf": 1}
    # each trial's record holds its own family's hyper-parameters only
    assert all(("reg_rate" in t) != ("n_estimators" in t) for t in trials)
    assert [t.name for t in plan.trials][:2] == ["train-model.trial-01", "train-model.trial-02"]


def test_random_stops_short_when_the_space_holds_fewer_points() -> None:
    plan = graph(spec(sweep({"solver": {"choice": ["lbfgs", "saga"]}}, seed=1, max_trials=20)))[0].sweep
    assert plan is not None
    assert sorted(str(t.hyperparameters["solver"]) for t in plan.trials) == ["lbfgs", "saga"]


def test_the_sweep_node_feeds_the_rest_of_the_graph_unchanged() -> None:
    body = {"hyperparameters": {"solver": "saga"}, **sweep({"reg_rate": {"loguniform": [0.001, 1]}}, seed=3)}
    train, evaluate, register = graph(spec(body))
    assert train.name == "train-model" and train.sweep is not None
    # shared by every trial: the data and what was fixed
    assert train.inputs == {"training_data": FromDataAsset(), "solver": "saga"}
    trial = train.sweep.trials[0]
    light = train.candidate(trial.name, trial.hyperparameters, light=True)
    assert light.inputs[LIGHT_INPUT] is True and light.inputs["solver"] == "saga"
    assert "model_type" not in light.inputs  # the default family binds what it always did
    best = train.candidate(train.name, trial.hyperparameters, light=False)
    assert LIGHT_INPUT not in best.inputs and best.sweep is None
    assert evaluate.depends_on == {"train-model"} and "train-model" in register.depends_on


def test_without_a_sweep_families_fill_their_own_defaults_only() -> None:
    forest = RunOptions.model_validate({"hyperparameters": {"model_type": "random_forest", "max_depth": 5}})
    assert forest.model_dump()["hyperparameters"] == {
        "model_type": "random_forest",
        "n_estimators": 100,
        "max_depth": 5,
        "min_samples_leaf": 1,
    }
    assert RunOptions().model_dump()["hyperparameters"] == {"reg_rate": 0.01, "solver": "lbfgs"}
    (train,) = graph(spec({"kind": "job", "hyperparameters": {"model_type": "gradient_boosting"}}))
    assert train.inputs == {
        "training_data": FromDataAsset(),
        "model_type": "gradient_boosting",
        "learning_rate": 0.1,
        "n_estimators": 100,
        "max_depth": 3,
    }


def test_a_stored_sweep_reads_back_the_same() -> None:
    original = spec(
        {"hyperparameters": {"solver": "saga"}, **sweep({"reg_rate": {"loguniform": [0.001, 1]}}, seed=3)}
    )
    document = original.stored()
    assert document["spec"]["hyperparameters"] == {"solver": "saga"}
    assert document["spec"]["sweep"]["search_space"] == {"reg_rate": {"loguniform": [0.001, 1.0]}}
    assert RunSpec.from_stored(document) == original


def test_seeded_records_a_seed_for_random_only() -> None:
    body = spec(sweep({"reg_rate": {"choice": [1, 2]}})).sweep
    assert body is not None and body.seeded(5).seed == 5
    grid = spec(sweep({"reg_rate": {"choice": [1, 2]}}, sampling="grid")).sweep
    assert grid is not None and grid.seeded(5).seed is None


def test_objective_ranks_best_first_and_unscored_last() -> None:
    scores = {"a": 0.7, "b": 0.9, "c": None, "d": float("nan")}
    assert sorted(scores, key=lambda k: Objective().rank(scores[k]))[:2] == ["b", "a"]
    assert sorted(scores, key=lambda k: Objective(goal="minimize").rank(scores[k]))[:2] == ["a", "b"]


def test_distribution_draws_stay_in_range() -> None:
    import random

    rng = random.Random(0)
    assert all(3 <= int(Distribution(randint=(3, 5)).draw(rng)) < 5 for _ in range(50))
    assert all(0.01 <= float(Distribution(loguniform=(0.01, 1)).draw(rng)) <= 1 for _ in range(50))
