"""`trainctl runs|models|data|doctor` against a real service."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from app.sampledata import write_csv
from tests.cli.conftest import MODEL, FinishedPipeline, Service, invoke


def test_runs_list_is_a_table_newest_first(service: Service, first_pipeline: FinishedPipeline) -> None:
    result = service("runs", "list", "--model", MODEL, "--status", "completed")
    assert result.code == 0, result
    header, *rows = result.out.splitlines()
    assert header.split() == ["ID", "KIND", "STATUS", "EXPERIMENT", "MODEL", "CREATED", "TIME"]
    assert any(row.startswith(first_pipeline.run_id) for row in rows)
    assert all(" completed " in row for row in rows if row.startswith("run-"))

    page = json.loads(service("runs", "list", "--model", MODEL, "--limit", "1", "--json").out)
    assert len(page["items"]) == 1
    assert page["items"][0]["model_name"] == MODEL


def test_runs_show_is_aligned_fields_and_steps(service: Service, first_pipeline: FinishedPipeline) -> None:
    result = service("runs", "show", first_pipeline.run_id)
    assert result.code == 0, result
    assert re.search(rf"^id:\s+{first_pipeline.run_id}$", result.out, re.MULTILINE)
    assert re.search(r"^status:\s+completed \(raw Completed\)$", result.out, re.MULTILINE)
    assert re.search(r"^hyperparameters:\s+reg_rate=0.05, solver=liblinear$", result.out, re.MULTILINE)
    assert re.search(r"^register-model\s+completed", result.out, re.MULTILINE)


def test_runs_logs_outcome_metrics(service: Service, first_pipeline: FinishedPipeline) -> None:
    logs = service("runs", "logs", first_pipeline.run_id, "--step", "train-model")
    assert logs.code == 0, logs
    assert logs.out.strip()

    outcome = service("runs", "outcome", first_pipeline.run_id)
    assert outcome.code == 0, outcome
    assert "no champion yet" in outcome.out
    decision = json.loads(service("runs", "outcome", first_pipeline.run_id, "--json").out)
    assert decision["deploy"] is True
    assert decision["registered_model"]["name"] == MODEL

    metrics = service("runs", "metrics", first_pipeline.run_id)
    assert metrics.code == 0, metrics
    assert re.search(r"^\s+train-model\s+accuracy=", metrics.out, re.MULTILINE)
    assert "candidate_roc_auc=" in metrics.out


def test_models_show_lists_versions_and_champion_history(
    service: Service, first_pipeline: FinishedPipeline
) -> None:
    result = service("models", "show", MODEL)
    assert result.code == 0, result
    assert re.search(r"^champion:\s+1$", result.out, re.MULTILINE)
    assert re.search(r"^1\s+\*", result.out, re.MULTILINE)  # version 1, marked champion
    history = result.out.split("champion history", 1)[1]
    assert first_pipeline.run_id in history

    missing = service("models", "show", "never-registered")
    assert missing.code == 2
    assert "never-registered" in missing.err


def test_data_upload_and_list(service: Service, tmp_path: Path) -> None:
    csv = write_csv(tmp_path / "patients.csv", rows=400, seed=7)
    uploaded = service(
        "data", "upload", str(csv), "--name", "cli-upload", "--description", "from the CLI test"
    )
    assert uploaded.code == 0, uploaded
    assert uploaded.out.startswith("registered cli-upload version 1: 400 rows")

    listed = service("data", "list")
    assert listed.code == 0, listed
    assert re.search(r"^cli-upload\s+1\s+\*\s+400\s", listed.out, re.MULTILINE)
    assert re.search(r"^diabetes-diagnostics\s+1\s", listed.out, re.MULTILINE)


def test_data_upload_rejects_a_bad_file(service: Service, tmp_path: Path) -> None:
    missing = service("data", "upload", str(tmp_path / "absent.csv"), "--name", "cli-bad")
    assert missing.code == 2
    assert "no such file" in missing.err

    garbage = tmp_path / "garbage.csv"
    garbage.write_text("a,b\n1,2\n")
    rejected = service("data", "upload", str(garbage), "--name", "cli-bad")
    assert rejected.code == 2
    assert "FILE" in rejected.err or "file" in rejected.err


def test_doctor_reports_each_check(service: Service) -> None:
    result = service("doctor")
    assert result.code == 0, result
    assert re.search(r"^ok\s+store\s+ok$", result.out, re.MULTILINE)
    assert re.search(r"^backend:\s+local$", result.out, re.MULTILINE)
    assert result.out.rstrip().endswith("ready: yes")


def test_doctor_direct_checks_the_local_engine_without_a_service(tmp_path: Path) -> None:
    result = invoke("doctor", "--direct", "--data-dir", str(tmp_path / "new"))
    assert result.code == 0, result
    assert re.search(r"^ok\s+components\s+ok$", result.out, re.MULTILINE)
    assert "created on first start" in result.out


def test_doctor_direct_on_azure_reports_instead_of_hanging(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("app.backends.azureml.preflight")
    monkeypatch.setenv("AZUREML_ARM_SUBSCRIPTION", "00000000-0000-0000-0000-000000000000")
    monkeypatch.setenv("AZUREML_ARM_RESOURCEGROUP", "rg")
    monkeypatch.setenv("AZUREML_ARM_WORKSPACE_NAME", "ws")
    monkeypatch.setenv("TRAINCTL_PREFLIGHT_TIMEOUT_SECONDS", "2")
    result = invoke("doctor", "--direct", "--json")
    report = json.loads(result.out)
    assert report["backend"] == "azureml"
    assert result.code == (0 if report["ready"] else 1)
    assert "token" in report["checks"]
