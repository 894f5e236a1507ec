"""train -> evaluate -> register in-process against a real sqlite MLflow store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from mlflow import MlflowClient

MODEL = "diabetes-model"
METRICS = {"accuracy", "precision", "recall", "f1", "roc_auc"}
DECISION_KEYS = {
    "model_name",
    "candidate_metrics",
    "champion",
    "rule",
    "improvement",
    "deploy",
    "reason",
    "test_rows",
}
INFO_KEYS = {"registered", "name", "version", "reason", "champion_before", "champion_after", "metrics"}


def artifacts(client: MlflowClient, run_id: str) -> set[str]:
    return {a.path for a in client.list_artifacts(run_id)}


def champion(client: MlflowClient) -> tuple[str, list[str]]:
    """(version holding the alias, versions tagged champion=true)."""
    aliased = client.get_model_version_by_alias(MODEL, "champion").version
    tagged = [
        v.version for v in client.search_model_versions(f"name='{MODEL}'") if v.tags.get("champion") == "true"
    ]
    return str(aliased), sorted(str(v) for v in tagged)


def test_first_model_is_promoted_and_a_worse_one_is_not(steps: Any, sample_csv: Path) -> None:
    client = MlflowClient()
    trained, evaluated, registered = steps.pipeline("run-1", sample_csv)
    assert (trained.rc, evaluated.rc, registered.rc) == (0, 0, 0)

    # train: the exact held-out rows with every column, and the logged run.
    source, test = pd.read_csv(sample_csv), pd.read_csv(trained.out / "test.csv")
    assert list(test.columns) == list(source.columns)
    assert len(test) == round(0.3 * len(source))
    pd.testing.assert_frame_equal(test, source.set_index("PatientID").loc[test["PatientID"]].reset_index())
    assert abs(test["Diabetic"].mean() - source["Diabetic"].mean()) < 0.01  # stratified
    train_run = client.get_run(trained.info["mlflow_run_id"])
    assert set(train_run.data.metrics) >= METRICS
    assert {"training_accuracy_score", "training_roc_auc", "training_log_loss"} <= set(train_run.data.metrics)
    assert {"reg_rate": "0.01", "solver": "lbfgs", "C": "100.0"}.items() <= train_run.data.params.items()
    assert train_run.data.tags["trainctl.run_id"] == "run-1"
    assert train_run.data.tags["trainctl.step"] == "train"
    assert {"roc_curve.png", "confusion_matrix.png", "precision_recall.png"} <= artifacts(
        client, train_run.info.run_id
    )
    assert (trained.out.parent / "model" / "MLmodel").is_file()

    # evaluate: nothing to beat yet.
    decision = evaluated.json("decision.json")
    assert set(decision) == DECISION_KEYS
    assert decision["deploy"] is True
    assert decision["reason"].startswith("no champion yet")
    assert decision["champion"] is None
    assert decision["improvement"] is None
    assert set(decision["candidate_metrics"]) == METRICS
    assert decision["candidate_metrics"]["roc_auc"] == pytest.approx(train_run.data.metrics["roc_auc"])
    assert decision["rule"] == {"metric": "roc_auc", "min_improvement": 0.0}
    assert decision["test_rows"] == len(test)
    assert (evaluated.out / "deploy_flag").read_text() == "1"
    assert {"comparison.png", "decision.json"} <= artifacts(client, evaluated.info["mlflow_run_id"])

    # register: version 1, champion by alias and tag, with lineage.
    info = registered.json("model_info.json")
    assert set(info) == INFO_KEYS
    assert (info["registered"], info["version"], info["champion_before"]) == (True, "1", None)
    assert info["champion_after"] == {"name": MODEL, "version": "1", "metrics": decision["candidate_metrics"]}
    assert champion(client) == ("1", ["1"])
    tags = client.get_model_version(MODEL, "1").tags
    assert tags["trainctl.run_id"] == "run-1"
    assert tags["data_asset"] == "diabetes-diagnostics:1"
    assert float(tags["metric.roc_auc"]) == decision["candidate_metrics"]["roc_auc"]
    assert tags["trainctl.train_mlflow_run_id"] == trained.info["mlflow_run_id"]
    assert tags["trainctl.evaluate_mlflow_run_id"] == evaluated.info["mlflow_run_id"]
    assert tags["trainctl.register_mlflow_run_id"] == registered.info["mlflow_run_id"]
    assert "model_info.json" in artifacts(client, registered.info["mlflow_run_id"])

    # A heavily regularized model scores worse on the same rows and stays out.
    trained, evaluated, registered = steps.pipeline("run-2", sample_csv, reg_rate=1000)
    assert (trained.rc, evaluated.rc, registered.rc) == (0, 0, 0)
    decision = evaluated.json("decision.json")
    assert decision["deploy"] is False
    assert decision["champion"]["version"] == "1"
    assert decision["reason"].startswith("candidate roc_auc ")
    assert "is not better than champion diabetes-model v1" in decision["reason"]
    assert decision["improvement"] < 0
    assert (evaluated.out / "deploy_flag").read_text() == "0"
    info = registered.json("model_info.json")
    assert (info["registered"], info["version"], info["reason"]) == (False, None, decision["reason"])
    assert info["champion_before"] == info["champion_after"] == decision["champion"]
    assert [str(v.version) for v in client.search_model_versions(f"name='{MODEL}'")] == ["1"]
    assert champion(client) == ("1", ["1"])


def test_register_rerun_for_the_same_run_registers_nothing_new(steps: Any, sample_csv: Path) -> None:
    client = MlflowClient()
    assert [s.rc for s in steps.pipeline("run-1", sample_csv)] == [0, 0, 0]
    # As if a crash had struck after registering and before marking the champion.
    client.delete_registered_model_alias(MODEL, "champion")
    client.delete_model_version_tag(MODEL, "1", "champion")

    rerun = steps.register("run-1")
    assert rerun.rc == 0
    info = rerun.json("model_info.json")
    assert (info["registered"], info["version"]) == (True, "1")
    assert "already registered by run run-1" in info["reason"]
    assert [str(v.version) for v in client.search_model_versions(f"name='{MODEL}'")] == ["1"]
    assert champion(client) == ("1", ["1"])


def test_champion_is_found_by_tag_when_the_registry_has_no_alias(steps: Any, sample_csv: Path) -> None:
    """Registries without alias support (Azure ML may be one) keep only champion=true."""
    client = MlflowClient()
    assert [s.rc for s in steps.pipeline("run-1", sample_csv)] == [0, 0, 0]
    client.delete_registered_model_alias(MODEL, "champion")

    steps.monkeypatch.setenv("TRAINCTL_RUN_ID", "run-2")
    assert steps.train("run-2", sample_csv, "--reg_rate", "1000").rc == 0
    evaluated = steps.evaluate("run-2", "--promotion_metric", "accuracy", "--min_improvement", "0.5")
    assert evaluated.rc == 0
    decision = evaluated.json("decision.json")
    assert decision["champion"]["version"] == "1"
    assert decision["rule"] == {"metric": "accuracy", "min_improvement": 0.5}
    assert decision["deploy"] is False


def test_real_autolog_and_the_default_log_the_same_training_metrics(
    steps: Any, sample_csv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = MlflowClient()
    default = client.get_run(steps.train("plain", sample_csv).info["mlflow_run_id"])
    monkeypatch.setenv("TRAINCTL_SKLEARN_AUTOLOG", "true")
    autologged = client.get_run(steps.train("autolog", sample_csv).info["mlflow_run_id"])

    training = {k: v for k, v in autologged.data.metrics.items() if k.startswith("training_")}
    assert training
    assert default.data.metrics.keys() == autologged.data.metrics.keys()
    for key, value in autologged.data.metrics.items():
        assert default.data.metrics[key] == pytest.approx(value), key
    assert default.data.params == autologged.data.params
    for tag in ("estimator_name", "estimator_class"):
        assert default.data.tags[tag] == autologged.data.tags[tag]


def test_a_decision_made_against_an_older_champion_is_not_applied(steps: Any, sample_csv: Path) -> None:
    """Two pipelines evaluated against the same champion: only the first may promote, or the
    second could replace a better model it never compared against."""
    client = MlflowClient()
    steps.monkeypatch.setenv("TRAINCTL_RUN_ID", "run-a")
    assert steps.train("run-a", sample_csv).rc == 0
    assert steps.evaluate("run-a").json("decision.json")["deploy"] is True
    steps.monkeypatch.setenv("TRAINCTL_RUN_ID", "run-b")
    assert steps.train("run-b", sample_csv, "--reg_rate", "0.5").rc == 0
    assert steps.evaluate("run-b").json("decision.json")["deploy"] is True

    steps.monkeypatch.setenv("TRAINCTL_RUN_ID", "run-a")
    assert steps.register("run-a").json("model_info.json")["version"] == "1"
    steps.monkeypatch.setenv("TRAINCTL_RUN_ID", "run-b")
    late = steps.register("run-b")
    assert late.rc == 0
    info = late.json("model_info.json")
    assert info["registered"] is False
    assert "champion changed from none to v1" in info["reason"]
    assert info["champion_after"]["version"] == "1"
    assert [str(v.version) for v in client.search_model_versions(f"name='{MODEL}'")] == ["1"]
    assert champion(client) == ("1", ["1"])


def test_a_folder_holding_one_csv_trains_like_the_file(steps: Any, sample_csv: Path, tmp_path: Path) -> None:
    """A uri_folder data asset is mounted as a folder: train reads the one CSV inside it."""
    folder = tmp_path / "asset"
    folder.mkdir()
    (folder / "patients.csv").write_bytes(sample_csv.read_bytes())

    from_file = steps.train("from-file", sample_csv)
    from_folder = steps.train("from-folder", folder)

    assert from_file.rc == from_folder.rc == 0
    held_out = [pd.read_csv(run.out / "test.csv") for run in (from_file, from_folder)]
    pd.testing.assert_frame_equal(*held_out)
