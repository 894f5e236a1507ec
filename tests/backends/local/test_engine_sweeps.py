"""Sweeps on the local engine, with real step processes and a real MLflow store: trials in
parallel nested under the sweep's run, the best kept, per-trial reuse, failed trials, cancel."""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from pathlib import Path
from typing import Any

from mlflow import MlflowClient

from app.backends.local.backend import LocalBackend
from app.domain.pipeline import graph
from app.domain.spec import DataAssetRef, RunSpec
from app.domain.state import RunState
from tests.support.loop import LoopThread
from tests.support.runs import sample_csv

_counter = iter(range(10_000))


def sweep_spec(data: Path, model: str, sweep: dict[str, Any], **options: Any) -> RunSpec:
    return RunSpec.model_validate(
        {
            "run_id": f"run-sweep-{next(_counter):04d}",
            "kind": "pipeline",
            "experiment_name": "engine-sweeps",
            "model_name": model,
            "data_asset": DataAssetRef(name="d", version="1", path=data),
            "sweep": sweep,
            **options,
        }
    )


def run(loop: LoopThread, backend: LocalBackend, spec: RunSpec) -> RunState:
    engine = backend.engine
    assert engine is not None

    async def go() -> RunState:
        engine.submit(spec, graph(spec))
        return await engine.wait(spec.run_id)

    return loop.run(go())


def overlapping(state: RunState) -> bool:
    spans = sorted((t.started_at, t.ended_at) for t in state.trials if t.started_at and t.ended_at)
    return any(later[0] < earlier[1] for earlier, later in itertools.pairwise(spans))


GRID = {
    "sampling": "grid",
    "search_space": {"reg_rate": {"choice": [0.01, 1, 100]}, "solver": {"choice": ["lbfgs", "liblinear"]}},
    "max_concurrent_trials": 4,
}


def test_a_grid_runs_its_trials_in_parallel_under_one_mlflow_run_and_keeps_the_best(
    loop: LoopThread, backend: LocalBackend, tmp_path: Path
) -> None:
    data = sample_csv(tmp_path / "data.csv", rows=1500, seed=21)
    spec = sweep_spec(data, "sweep-grid", GRID)
    state = run(loop, backend, spec)

    assert state.raw_status == "Completed", (state.error, [(t.name, t.error) for t in state.trials])
    assert [s.raw_status for s in state.steps] == ["Completed"] * 3
    assert [t.name for t in state.trials] == [f"train-model.trial-0{i}" for i in range(1, 7)]
    assert all(t.raw_status == "Completed" and t.objective is not None for t in state.trials)
    best = [t for t in state.trials if t.best]
    assert len(best) == 1
    assert best[0].objective == max(t.objective or 0 for t in state.trials)
    assert overlapping(state), "trials run side by side up to the step limit"

    client = MlflowClient(backend.layout.tracking_uri)
    train = state.steps[0]
    assert train.mlflow_run_id is not None
    sweep_run = client.get_run(train.mlflow_run_id)
    for trial in state.trials:
        assert trial.mlflow_run_id is not None
        trial_run = client.get_run(trial.mlflow_run_id)
        assert trial_run.data.tags["mlflow.parentRunId"] == train.mlflow_run_id
        assert trial_run.info.run_name == trial.name
        assert trial_run.data.metrics["roc_auc"] == trial.objective
        # a trial that is not kept pays for no plots and no model
        assert client.list_artifacts(trial.mlflow_run_id) == []
    # the sweep's own run holds the best candidate, trained again in full
    assert {
        "reg_rate": str(best[0].hyperparameters["reg_rate"]),
        "solver": best[0].hyperparameters["solver"],
    }.items() <= (sweep_run.data.params.items())
    assert sweep_run.data.metrics["roc_auc"] == best[0].objective
    assert "roc_curve.png" in {a.path for a in client.list_artifacts(train.mlflow_run_id)}
    assert sweep_run.info.status == "FINISHED"
    assert sweep_run.info.run_name == "train-model" and sweep_run.data.tags["trainctl.step"] == "train-model"
    assert sweep_run.data.tags["trainctl.sweep.sampling"] == "grid"
    assert backend.engine is not None
    kept = backend.engine.outputs(spec.run_id, "train-model")
    assert (kept["model_output"] / "MLmodel").is_file() and (kept["test_data"] / "test.csv").is_file()


def test_an_unchanged_sweep_is_reused_and_a_grown_one_runs_only_its_new_trials(
    loop: LoopThread, backend: LocalBackend, tmp_path: Path
) -> None:
    data = sample_csv(tmp_path / "data.csv", rows=1500, seed=22)
    first = run(loop, backend, sweep_spec(data, "sweep-reuse", GRID))
    assert first.raw_status == "Completed"

    again = run(loop, backend, sweep_spec(data, "sweep-reuse", GRID))
    assert again.raw_status == "Completed"
    assert all(t.reused for t in again.trials) and all(s.reused for s in again.steps)
    assert [t.objective for t in again.trials] == [t.objective for t in first.trials]
    assert [t.mlflow_run_id for t in again.trials] == [t.mlflow_run_id for t in first.trials]

    grown = {**GRID, "search_space": {**GRID["search_space"], "reg_rate": {"choice": [0.01, 1, 100, 0.1]}}}
    third = run(loop, backend, sweep_spec(data, "sweep-reuse", grown))
    assert third.raw_status == "Completed"
    reused = {t.name: t.reused for t in third.trials}
    assert sum(reused.values()) == 6 and len(reused) == 8
    assert {n for n, r in reused.items() if not r} == {"train-model.trial-07", "train-model.trial-08"}


def test_a_failed_trial_does_not_fail_the_sweep(
    loop: LoopThread, backend: LocalBackend, tmp_path: Path
) -> None:
    data = sample_csv(tmp_path / "data.csv", rows=3000, seed=23)
    spec = sweep_spec(
        data,
        "sweep-partial",
        {
            "sampling": "grid",
            "search_space": {"n_estimators": {"choice": [5, 2000]}},
            "trial_timeout_s": 3,
        },
        kind="job",
        hyperparameters={"model_type": "random_forest"},
    )
    state = run(loop, backend, spec)

    assert state.raw_status == "Completed", state.error
    fast, slow = state.trials
    assert (fast.raw_status, fast.best) == ("Completed", True)
    assert slow.raw_status == "Failed" and slow.error == "timed out after 3 s"
    assert state.steps[0].raw_status == "Completed"


def test_when_every_trial_fails_the_sweep_fails_and_says_why(
    loop: LoopThread, backend: LocalBackend, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("PatientID,Pregnancies\n1,2\n")
    state = run(loop, backend, sweep_spec(bad, "sweep-failing", GRID))

    assert state.raw_status == "Failed"
    assert all(t.raw_status == "Failed" for t in state.trials)
    train, evaluate, register = state.steps
    assert train.raw_status == "Failed"
    assert train.error is not None and train.error.startswith(
        "all 6 trials failed; train-model.trial-01: missing columns"
    )
    assert evaluate.raw_status == register.raw_status == "Canceled"


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def test_cancel_mid_sweep_stops_every_trial(loop: LoopThread, backend: LocalBackend, tmp_path: Path) -> None:
    data = sample_csv(tmp_path / "data.csv", rows=5000, seed=24)
    spec = sweep_spec(
        data,
        "sweep-cancel",
        {"sampling": "grid", "search_space": {"n_estimators": {"choice": [1500, 1600, 1700, 1800]}}},
        hyperparameters={"model_type": "random_forest"},
    )
    engine = backend.engine
    assert engine is not None

    async def start_then_cancel() -> tuple[RunState, list[int], float]:
        engine.submit(spec, graph(spec))
        execution = engine._runs[spec.run_id]
        for _ in range(600):
            running = [h.pid for n, h in execution.handles.items() if ".trial-" in n and h.pid]
            if len(running) == 2:
                break
            await asyncio.sleep(0.05)
        started = time.monotonic()
        await engine.cancel(spec.run_id)
        state = await engine.wait(spec.run_id)
        return state, [p for p in running if p], time.monotonic() - started

    state, pids, took = loop.run(start_then_cancel())
    assert len(pids) == 2, "two trials were running (the step limit)"
    assert took < 5
    assert state.raw_status == "Canceled"
    assert [t.raw_status for t in state.trials] == ["Canceled"] * 4
    assert [s.raw_status for s in state.steps] == ["Canceled"] * 3
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.1)
    assert not any(alive(p) for p in pids)
