"""Model families and sweep trials in the train component, and the lineage register records."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from mlflow import MlflowClient

from app.domain.spec import FAMILY_DEFAULTS

MODEL = "diabetes-model"
METRICS = {"accuracy", "precision", "recall", "f1", "roc_auc"}


def test_the_scripts_family_defaults_are_the_domains(scripts: dict[str, Any]) -> None:
    """A flag Azure ML leaves out (an optional input) takes the service's default."""
    assert scripts["train"].FAMILY_DEFAULTS == FAMILY_DEFAULTS


@pytest.mark.parametrize(
    ("family", "flags", "expected"),
    [
        (
            "random_forest",
            ["--n_estimators", "20", "--max_depth", "4"],
            {"n_estimators": "20", "max_depth": "4"},
        ),
        ("gradient_boosting", ["--n_estimators", "30", "--learning_rate", "0.2"], {"learning_rate": "0.2"}),
    ],
)
def test_tree_families_train_evaluate_and_register_with_their_lineage(
    steps: Any, sample_csv: Path, family: str, flags: list[str], expected: dict[str, str]
) -> None:
    client = MlflowClient()
    steps.monkeypatch.setenv("TRAINCTL_RUN_ID", f"run-{family}")
    # A flat search space hands every trial every hyper-parameter: the others' are ignored.
    trained = steps.train(family, sample_csv, "--model_type", family, "--reg_rate", "5", *flags)
    assert trained.rc == 0
    run = client.get_run(trained.info["mlflow_run_id"])
    assert set(run.data.metrics) >= METRICS and run.data.metrics["roc_auc"] > 0.7
    params = run.data.params
    assert params["model_type"] == family and expected.items() <= params.items()
    assert "reg_rate" not in params
    assert (
        run.data.tags["estimator_name"]
        == {
            "random_forest": "RandomForestClassifier",
            "gradient_boosting": "GradientBoostingClassifier",
        }[family]
    )

    evaluated = steps.evaluate(family)
    assert evaluated.rc == 0 and evaluated.json("decision.json")["deploy"] is True
    registered = steps.register(family)
    version = registered.json("model_info.json")["version"]
    tags = client.get_model_version(MODEL, version).tags
    assert tags["model_type"] == family
    recorded = {
        k.removeprefix("hyperparameter."): v for k, v in tags.items() if k.startswith("hyperparameter.")
    }
    assert recorded == {k: v for k, v in params.items() if k in FAMILY_DEFAULTS[family]}


def test_logistic_regression_lineage_records_its_two_hyperparameters(steps: Any, sample_csv: Path) -> None:
    client = MlflowClient()
    steps.pipeline("run-lr", sample_csv, reg_rate=0.05)
    tags = client.get_model_version(MODEL, "1").tags
    assert tags["model_type"] == "logistic_regression"
    assert (tags["hyperparameter.reg_rate"], tags["hyperparameter.solver"]) == ("0.05", "lbfgs")


def test_a_light_trial_logs_metrics_only_nested_under_its_sweep(
    steps: Any, sample_csv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = MlflowClient()
    experiment = client.get_experiment_by_name("components")
    assert experiment is not None
    parent = client.create_run(experiment.experiment_id, run_name="train-model").info.run_id
    monkeypatch.setenv("TRAINCTL_PARENT_RUN_ID", parent)
    monkeypatch.setenv("TRAINCTL_STEP", "train-model.trial-03")
    (steps.root / "trial").mkdir(parents=True)  # the engine makes each step's folder

    trial = steps.train("trial", sample_csv, "--reg_rate", "0.5", "--light", "true")

    assert trial.rc == 0
    run = client.get_run(trial.info["mlflow_run_id"])
    assert run.data.tags["mlflow.parentRunId"] == parent
    assert run.info.run_name == "train-model.trial-03"
    assert set(run.data.metrics) >= METRICS and run.data.params["reg_rate"] == "0.5"
    # What only the kept candidate needs is skipped: no plots, no model, no held-out rows.
    assert [a.path for a in client.list_artifacts(run.info.run_id)] == []
    folder = trial.out.parent
    assert not (folder / "model").exists() and not (folder / "test").exists()


def test_the_kept_model_records_its_family_and_hyperparameters(steps: Any, sample_csv: Path) -> None:
    trained = steps.train(
        "kept", sample_csv, "--model_type", "random_forest", "--n_estimators", "10", "--light", "False"
    )
    assert trained.rc == 0
    metadata = yaml.safe_load((trained.out.parent / "model" / "MLmodel").read_text())["metadata"]
    assert metadata["trainctl.model_type"] == "random_forest"
    values = json.loads(metadata["trainctl.hyperparameters"])
    assert values == {"model_type": "random_forest", "n_estimators": 10, "min_samples_leaf": 1}
