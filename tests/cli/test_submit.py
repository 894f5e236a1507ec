"""`trainctl job|pipeline` against a real service, and the one-shot --local mode."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.cli.conftest import MODEL, FinishedPipeline, Service, free_port, invoke


def test_pipeline_with_the_original_flags_waits_and_prints_the_decision(
    first_pipeline: FinishedPipeline,
) -> None:
    out = first_pipeline.result.out
    for step in ("train-model", "evaluate-model", "register-model"):
        assert re.search(rf"^{step}\s+completed", out, re.MULTILINE), out
    assert "roc_auc=" in out
    assert re.search(r"deploy:\s+yes", out)
    assert "no champion yet" in out
    assert re.search(rf"registered model:\s+{MODEL}:1", out)
    assert re.search(r"champion before:\s+none", out)
    assert re.search(rf"champion after:\s+{MODEL}:1 \(roc_auc 0\.\d+\)", out)


def test_original_flags_reach_the_request(service: Service, first_pipeline: FinishedPipeline) -> None:
    result = service("runs", "show", first_pipeline.run_id, "--json")
    run = json.loads(result.out)
    assert run["experiment_name"] == "cli-experiment"
    assert run["environment"] == "diabetes-classify@latest"
    assert run["compute"] == "cpu-cluster"
    assert run["data_asset"] == {"name": "diabetes-diagnostics", "version": "1"}
    assert run["hyperparameters"] == {"reg_rate": 0.05, "solver": "liblinear"}
    assert run["pipeline_name"] == "cli-pipeline"
    assert run["tags"]["evaluation_output"] == "outputs/evaluation"


def test_dashed_flags_and_a_rule_the_candidate_cannot_meet(
    service: Service, first_pipeline: FinishedPipeline
) -> None:
    result = service(
        "pipeline",
        "--experiment-name", "cli-experiment",
        "--model-name", MODEL,
        "--data-asset-name", "diabetes-diagnostics",
        "--data-asset-version", "1",
        "--reg-rate", "0.05",
        "--solver", "liblinear",
        "--min-improvement", "0.5",
        "--tag", "ticket=ML-7",
        "--wait",
    )  # fmt: skip
    assert result.code == 0, result
    assert re.search(r"deploy:\s+no", result.out)
    assert re.search(rf"champion before:\s+{MODEL}:1", result.out)
    assert re.search(rf"champion after:\s+{MODEL}:1", result.out)
    assert re.search(r"registered model:\s+none", result.out)


def test_job_with_json_prints_run_and_metrics_and_no_outcome(service: Service) -> None:
    result = service(
        "job", "--model_name", MODEL, "--reg_rate", "0.05", "--solver", "liblinear", "--wait", "--json"
    )
    assert result.code == 0, result
    answer = json.loads(result.out)  # progress stays off stdout with --json
    assert answer["run"]["kind"] == "job"
    assert answer["run"]["status"] == "completed"
    assert [s["name"] for s in answer["run"]["steps"]] == ["train-model"]
    assert answer["outcome"] is None
    train = {s["step"]: s["metrics"] for s in answer["metrics"]["steps"]}["train-model"]
    assert 0.5 < train["roc_auc"] <= 1


def test_idempotency_key_returns_the_same_run_and_runs_wait_follows_it(service: Service) -> None:
    first = service("job", "--idempotency-key", "cli-idem-1", "--reg_rate", "0.2", "--json")
    again = service("job", "--idempotency-key", "cli-idem-1", "--reg_rate", "0.2", "--json")
    assert first.code == again.code == 0, (first, again)
    run_id = json.loads(first.out)["id"]
    assert json.loads(again.out)["id"] == run_id
    conflict = service("job", "--idempotency-key", "cli-idem-1", "--reg_rate", "0.3")
    assert conflict.code == 2
    waited = service("runs", "wait", run_id)
    assert waited.code == 0, waited
    assert f"{run_id}  job  completed" in waited.out
    assert "a job only trains" in waited.out


def test_cancel_a_fresh_run(service: Service) -> None:
    submitted = service("job", "--reg_rate", "0.7", "--force_rerun", "--json")
    run_id = json.loads(submitted.out)["id"]
    canceled = service("runs", "cancel", run_id)
    waited = service("runs", "wait", run_id, "--json")
    status = json.loads(waited.out)["run"]["status"]
    if canceled.code == 2:  # a fast machine finished the step first: canceling it is a conflict
        assert status == "completed", (canceled, waited)
        return
    assert canceled.code == 0, canceled
    assert "cancel requested" in canceled.out
    assert status == "canceled"
    assert waited.code == 1


def test_invalid_values_exit_2_naming_the_flag(service: Service) -> None:
    reg_rate = service("pipeline", "--reg_rate", "-1")
    assert reg_rate.code == 2
    assert "--reg_rate (hyperparameters.reg_rate)" in reg_rate.err
    assert "greater than 0" in reg_rate.err
    assert len(reg_rate.err.strip().splitlines()) == 1

    solver = service("job", "--solver", "quantum")
    assert solver.code == 2
    assert "--solver" in solver.err
    assert "lbfgs" in solver.err

    asset = service("pipeline", "--data_asset_name", "no-such-asset")
    assert asset.code == 2
    assert "--data_asset_name" in asset.err
    assert "no-such-asset" in asset.err


def test_unparseable_arguments_exit_2() -> None:
    assert invoke("pipeline", "--reg_rate", "often").code == 2
    assert invoke("pipeline", "--tag", "no-equals-sign").code == 2
    assert invoke("pipeline", "--data-dir", "/tmp/x").code == 2  # --data-dir needs --local
    assert invoke("runs").code == 2  # no action
    assert invoke("runs", "list", "--url", "127.0.0.1:8000").code == 2  # no scheme


def test_unknown_run_is_bad_input(service: Service) -> None:
    result = service("runs", "show", "run-doesnotexist")
    assert result.code == 2
    assert "Not found (404)" in result.err


def test_unreachable_service_exits_3_and_says_how_to_start_one() -> None:
    result = invoke("pipeline", "--wait", "--url", f"http://127.0.0.1:{free_port()}")
    assert result.code == 3
    assert "trainctl serve" in result.err
    assert "--local" in result.err


def test_local_one_shot_needs_no_service(tmp_path: Path) -> None:
    data_dir = tmp_path / "one-shot"
    result = invoke("pipeline", "--local", "--data-dir", str(data_dir), "--model_name", "local-model")
    assert result.code == 0, result
    assert "no champion yet" in result.out
    assert re.search(r"registered model:\s+local-model:1", result.out)
    assert (data_dir / "trainctl.db").is_file()
