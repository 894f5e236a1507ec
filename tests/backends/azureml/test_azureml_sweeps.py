"""Sweeps on Azure ML through the real MLClient against the fake workspace: the sweep node and
the sweep job Azure ML receives (shaped like the recorded sweep-in-pipeline PUT), trials read
back with their states, the best trial, cancel, and trial params/metrics over MLflow."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fakeaml import STEP_SECONDS, FakeClock, FakeWorkspace
from fakeaml.mlflow_server import MlflowServer
from test_azureml_tracking import EXPECTED, JOB_STATUSES

from app.backends.azureml import AzureMLBackend
from app.domain.spec import RunSpec
from app.domain.status import RunStatus

pytestmark = pytest.mark.anyio

LOG_SWEEP = {"reg_rate": {"loguniform": [0.0001, 10]}, "solver": {"choice": ["lbfgs", "liblinear"]}}
EXAMPLES = Path(__file__).resolve().parents[3] / "docs" / "examples"
#: The README's 16-trial grid and 20-trial random sweep, each across two model families.
GRID_16 = json.loads((EXAMPLES / "sweep-grid.json").read_text())["sweep"]
RANDOM_20 = json.loads((EXAMPLES / "sweep-random.json").read_text())["sweep"]


def _put(workspace: FakeWorkspace, name: str) -> dict[str, Any]:
    (request,) = [r for r in workspace.transport.requests("PUT", f"/jobs/{name}") if r.status < 300]
    body: dict[str, Any] = request.json()["properties"]
    return body


def _tail(arm_id: str) -> str:
    return arm_id.split("/workspaces/", 1)[1].split("/", 1)[1]


async def test_a_sweep_pipeline_puts_a_sweep_node_whose_best_trial_feeds_evaluate(
    backend: AzureMLBackend, workspace: FakeWorkspace, spec_factory: Callable[..., RunSpec]
) -> None:
    spec = spec_factory(
        "pipeline",
        run_id="sweep-pipe",
        hyperparameters={"solver": "saga"},
        sweep={
            "search_space": {"reg_rate": {"loguniform": [0.0001, 10]}},
            "seed": 7,
            "max_trials": 12,
            "max_concurrent_trials": 3,
            "trial_timeout_s": 90.5,
        },
    )
    submitted = await backend.submit(spec)

    node = _put(workspace, submitted.backend_job_name)["jobs"]["train_model"]
    # the recorded shape: limits, sampling_algorithm, objective, search_space, trial.componentId
    assert node["type"] == "sweep" and node["display_name"] == "train-model"
    assert node["limits"] == {"max_concurrent_trials": 3, "max_total_trials": 12, "trial_timeout": 91}
    assert node["sampling_algorithm"] == {"type": "random", "seed": 7}
    assert node["objective"] == {"goal": "maximize", "primary_metric": "roc_auc"}
    reg_rate = node["search_space"]["reg_rate"]
    assert reg_rate["type"] == "loguniform"  # Azure ML's loguniform takes the logs of the bounds
    assert (reg_rate["min_value"], reg_rate["max_value"]) == pytest.approx((math.log(0.0001), math.log(10)))
    assert _tail(node["trial"]["componentId"]).startswith("components/train_diabetes_model/versions/1-")
    assert {k: v["value"] for k, v in node["inputs"].items()} == {
        "training_data": "${{parent.inputs.training_data}}",
        "solver": "saga",  # fixed: every trial gets it
    }
    assert "environment_variables" not in node
    evaluate = _put(workspace, submitted.backend_job_name)["jobs"]["evaluate_model"]
    assert evaluate["inputs"]["model_input"]["value"] == "${{parent.jobs.train_model.outputs.model_output}}"
    assert evaluate["inputs"]["test_data"]["value"] == "${{parent.jobs.train_model.outputs.test_data}}"
    assert workspace.unrouted == []


async def test_the_readme_grid_and_random_sweeps_submit_real_sweep_nodes(
    backend: AzureMLBackend, workspace: FakeWorkspace, spec_factory: Callable[..., RunSpec]
) -> None:
    grid = await backend.submit(spec_factory("pipeline", run_id="grid-16", hyperparameters={}, sweep=GRID_16))
    node = _put(workspace, grid.backend_job_name)["jobs"]["train_model"]
    assert node["sampling_algorithm"] == "grid"
    # Azure ML's flat grid spans every combination (2 x 4 x 2 x 4 x 2), repeats included
    assert node["limits"]["max_total_trials"] == 128
    assert node["search_space"]["model_type"] == {
        "type": "choice",
        "values": ["logistic_regression", "random_forest"],
    }
    assert node["search_space"]["n_estimators"]["values"] == [10, 20, 40, 80]
    assert node["objective"] == {"goal": "maximize", "primary_metric": "roc_auc"}

    rand = await backend.submit(
        spec_factory("pipeline", run_id="random-20", hyperparameters={}, sweep=RANDOM_20)
    )
    node = _put(workspace, rand.backend_job_name)["jobs"]["train_model"]
    assert node["sampling_algorithm"] == {"type": "random", "seed": 7}
    assert node["limits"] == {"max_concurrent_trials": 4, "max_total_trials": 20}
    # randint from a lower bound other than 0: the whole numbers in range, as a choice
    assert node["search_space"]["n_estimators"] == {"type": "choice", "values": list(range(20, 100))}
    assert node["search_space"]["max_depth"] == {"type": "choice", "values": [2, 3, 4]}
    assert node["search_space"]["learning_rate"]["type"] == "loguniform"
    assert workspace.unrouted == []


async def test_a_sweep_job_is_a_sweep_over_the_train_command(
    backend: AzureMLBackend, workspace: FakeWorkspace, spec_factory: Callable[..., RunSpec]
) -> None:
    spec = spec_factory(
        "job",
        run_id="sweep-job",
        hyperparameters={},
        sweep={"search_space": LOG_SWEEP, "seed": 3, "max_trials": 8},
    )
    submitted = await backend.submit(spec)

    body = _put(workspace, submitted.backend_job_name)
    assert body["jobType"] == "Sweep" and body["displayName"] == "train-model"
    assert body["objective"] == {"goal": "maximize", "primaryMetric": "roc_auc"}
    assert body["samplingAlgorithm"] == {"samplingAlgorithmType": "Random", "seed": 3}
    assert body["limits"] == {"jobLimitsType": "Sweep", "maxTotalTrials": 8, "maxConcurrentTrials": 4}
    assert body["searchSpace"]["solver"] == ["choice", [["lbfgs", "liblinear"]]]
    command = body["trial"]["command"]
    assert (
        "--reg_rate ${{search_space.reg_rate}}" in command and "--solver ${{search_space.solver}}" in command
    )
    assert body["trial"]["environmentVariables"]["TRAINCTL_RUN_ID"] == "sweep-job"
    assert body["identity"]["identityType"] == "Managed"
    assert body["tags"]["trainctl.run_id"] == "sweep-job"
    assert _tail(body["computeId"]) == "computes/cpu-cluster"


async def test_trials_of_a_sweep_node_map_to_states_and_the_best_is_named(
    backend: AzureMLBackend, workspace: FakeWorkspace, clock: FakeClock, spec_factory: Callable[..., RunSpec]
) -> None:
    workspace.failing_trials = {1}
    workspace.best_trial = 2
    spec = spec_factory(
        "pipeline",
        run_id="sweep-states",
        hyperparameters={},
        sweep={"search_space": LOG_SWEEP, "max_trials": 4, "max_concurrent_trials": 2, "seed": 1},
    )
    job = (await backend.submit(spec)).backend_job_name

    clock.advance(2 + 20)  # the sweep node is starting: no trial yet
    state = await backend.refresh(spec, job)
    assert state.steps[0].name == "train-model" and state.trials == []

    clock.advance(15)  # Running: the first two trials started
    state = await backend.refresh(spec, job)
    assert [(t.name, t.raw_status, t.status) for t in state.trials] == [
        ("train-model.trial-01", "Running", RunStatus.RUNNING),
        ("train-model.trial-02", "Running", RunStatus.RUNNING),
    ]
    sweep_run = state.steps[0].backend_job_name
    assert [t.backend_job_name for t in state.trials] == [f"{sweep_run}_0", f"{sweep_run}_1"]
    assert state.trials[0].mlflow_run_id == f"{sweep_run}_0"

    clock.advance(STEP_SECONDS)  # the sweep node is done
    state = await backend.refresh(spec, job)
    assert [t.raw_status for t in state.trials] == ["Completed", "Failed", "Completed", "Completed"]
    assert state.trials[1].error is not None and state.trials[1].status is RunStatus.FAILED
    assert [t.name for t in state.trials if t.best] == ["train-model.trial-03"]
    assert state.steps[0].raw_status == "Completed"
    assert all(t.started_at and t.ended_at for t in state.trials)
    assert workspace.unrouted == []


async def test_a_sweep_job_reads_its_trials_and_best(
    backend: AzureMLBackend, workspace: FakeWorkspace, clock: FakeClock, spec_factory: Callable[..., RunSpec]
) -> None:
    spec = spec_factory(
        "job",
        run_id="sweep-job-states",
        hyperparameters={},
        sweep={"search_space": LOG_SWEEP, "max_trials": 3},
    )
    job = (await backend.submit(spec)).backend_job_name
    clock.advance(STEP_SECONDS)

    state = await backend.refresh(spec, job)

    assert state.raw_status == "Completed"
    assert [t.raw_status for t in state.trials] == ["Completed"] * 3
    assert [t.best for t in state.trials] == [True, False, False]
    assert [t.backend_job_name for t in state.trials] == [f"{job}_0", f"{job}_1", f"{job}_2"]


async def test_when_every_trial_fails_the_sweep_fails(
    backend: AzureMLBackend, workspace: FakeWorkspace, clock: FakeClock, spec_factory: Callable[..., RunSpec]
) -> None:
    workspace.failing_trials = {0, 1}
    spec = spec_factory(
        "pipeline",
        run_id="sweep-all-fail",
        hyperparameters={},
        sweep={"search_space": LOG_SWEEP, "max_trials": 2},
    )
    job = (await backend.submit(spec)).backend_job_name
    clock.advance(2 * STEP_SECONDS)

    state = await backend.refresh(spec, job)

    assert state.raw_status == "Failed"
    assert [t.raw_status for t in state.trials] == ["Failed", "Failed"]
    assert not any(t.best for t in state.trials)
    assert state.steps[0].raw_status == "Failed"


async def test_cancel_mid_sweep_cancels_the_open_trials(
    backend: AzureMLBackend, workspace: FakeWorkspace, clock: FakeClock, spec_factory: Callable[..., RunSpec]
) -> None:
    spec = spec_factory(
        "pipeline",
        run_id="sweep-cancel",
        hyperparameters={},
        sweep={"search_space": LOG_SWEEP, "max_trials": 6, "max_concurrent_trials": 2},
    )
    job = (await backend.submit(spec)).backend_job_name
    clock.advance(2 + 31)  # two trials running, four not started
    await backend.cancel(spec, job)

    state = await backend.refresh(spec, job)
    assert state.raw_status == "CancelRequested"
    assert [t.raw_status for t in state.trials] == ["CancelRequested", "CancelRequested"]
    clock.advance(10)
    state = await backend.refresh(spec, job)
    assert state.status is RunStatus.CANCELED
    assert [t.raw_status for t in state.trials] == ["Canceled", "Canceled"]
    assert all(t.status is RunStatus.CANCELED for t in state.trials)


async def test_a_grid_too_large_for_azure_is_refused_at_submission(
    backend: AzureMLBackend, spec_factory: Callable[..., RunSpec]
) -> None:
    from app.domain.errors import BackendError

    spec = spec_factory(
        "pipeline",
        run_id="sweep-huge",
        hyperparameters={},
        sweep={
            "sampling": "grid",
            "max_trials": 200,
            "search_space": {
                "model_type": {"choice": ["logistic_regression", "random_forest"]},
                "reg_rate": {"choice": list(range(1, 101))},
                "n_estimators": {"choice": list(range(1, 100))},
            },
        },
    )
    with pytest.raises(BackendError, match="spans 19800 combinations"):
        await backend.submit(spec)


@pytest.mark.slow
async def test_trial_params_and_metrics_are_read_over_mlflow(
    backend_factory: Callable[..., AzureMLBackend], settings: Any, mlflow_server: MlflowServer
) -> None:
    backend = backend_factory(settings, mlflow_tracking_uri=mlflow_server.uri)
    client = mlflow_server.client()
    experiment = client.create_experiment(f"sweeps-{id(backend)}")
    run = client.create_run(experiment)
    client.log_param(run.info.run_id, "model_type", "random_forest")
    client.log_param(run.info.run_id, "n_estimators", "40")
    client.log_metric(run.info.run_id, "roc_auc", 0.87)
    runs = {"train-model.trial-01": run.info.run_id}

    assert (await backend.params(runs))["train-model.trial-01"] == {
        "model_type": "random_forest",
        "n_estimators": "40",
    }
    assert (await backend.metrics(runs))["train-model.trial-01"] == {"roc_auc": 0.87}


@pytest.mark.parametrize("raw", JOB_STATUSES)
def test_every_trial_status_maps_and_keeps_the_raw_value(raw: str) -> None:
    from types import SimpleNamespace

    from app.backends.azureml.sweeps import trial_states
    from app.domain.status import normalize_status

    def child(name: str, status: str) -> Any:
        times = {"StartTimeUtc": "2025-01-01T12:00:00.1234567Z"}
        return SimpleNamespace(name=name, status=status, properties=times, creation_context=None)

    # Azure ML numbers trials from 0; the listing may come in any order, the trials are in order.
    first, second = trial_states([child("sweep_1", raw), child("sweep_0", "Completed")], "sweep_0", total=12)

    assert (first.name, first.best, first.raw_status) == ("train-model.trial-01", True, "Completed")
    assert (second.name, second.best, second.raw_status) == ("train-model.trial-02", False, raw)
    assert second.status is EXPECTED[raw] is normalize_status(raw)
    assert second.backend_job_name == second.mlflow_run_id == "sweep_1"
    assert second.started_at is not None and second.started_at.microsecond == 123456
    assert (second.error is not None) == (raw == "Failed")
