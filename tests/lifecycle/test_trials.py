"""The trials view over what a backend like Azure ML reports while polling (states only): the
scores and hyper-parameters come from MLflow when asked, the best first."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.domain.state import RunState, StepState, TrialState
from app.lifecycle.trials import TrialQueries
from app.store import Store
from app.store.db import make_engine, migrate, session_factory
from tests.support.rows import run_row


class MlflowBackedStub:
    """What train logged for each trial run, as a backend reads it back from MLflow."""

    def __init__(self) -> None:
        self.asked: list[set[str]] = []

    async def metrics(self, runs: dict[str, str]) -> dict[str, dict[str, float]]:
        self.asked.append(set(runs))
        scores = {"az_0": 0.71, "az_1": 0.86, "az_2": 0.79}
        return {name: {"roc_auc": scores[run], "f1": 0.5} for name, run in runs.items()}

    async def params(self, runs: dict[str, str]) -> dict[str, dict[str, str]]:
        logged: dict[str, dict[str, Any]] = {
            "az_0": {"model_type": "logistic_regression", "reg_rate": "0.1", "solver": "lbfgs", "C": "10.0"},
            "az_1": {
                "model_type": "random_forest",
                "n_estimators": "40",
                "min_samples_leaf": "1",
                "reg_rate": "5",
            },
            "az_2": {
                "model_type": "logistic_regression",
                "reg_rate": "1",
                "solver": "saga",
                "test_size": "0.3",
            },
        }
        return {name: logged[run] for name, run in runs.items()}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    migrate(engine)
    yield Store(session_factory(engine))
    engine.dispose()


def test_azure_trials_get_their_scores_and_family_hyperparameters_from_mlflow(store: Store) -> None:
    sweep = {"search_space": {"model_type": {"choice": ["logistic_regression", "random_forest"]}}}
    store.runs.create(run_row("run-az", kind="job", hyperparameters={}, sweep=sweep), ["train-model"])
    trials = [
        TrialState(
            f"train-model.trial-0{i + 1}", "Completed", backend_job_name=f"az_{i}", mlflow_run_id=f"az_{i}"
        )
        for i in range(3)
    ]
    trials[1].best = True
    store.runs.apply_state(
        "run-az", RunState("Completed", [StepState("train-model", "Completed")], trials=trials)
    )
    backend = MlflowBackedStub()

    read = asyncio.run(TrialQueries(store.runs, store.trials, backend).trials("run-az"))  # type: ignore[arg-type]

    assert [t.name for t in read.items] == [
        "train-model.trial-02",
        "train-model.trial-03",
        "train-model.trial-01",
    ]
    assert [t.objective for t in read.items] == [0.86, 0.79, 0.71]
    assert read.items[0].best
    # only the family's own hyper-parameters, as numbers where they are numbers
    assert read.items[0].hyperparameters == {
        "model_type": "random_forest",
        "n_estimators": 40,
        "min_samples_leaf": 1,
    }
    assert read.items[1].hyperparameters == {
        "model_type": "logistic_regression",
        "reg_rate": 1,
        "solver": "saga",
    }
    assert backend.asked == [{"train-model.trial-01", "train-model.trial-02", "train-model.trial-03"}]
