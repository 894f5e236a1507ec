"""A sweep's trials in the store: written with their run's state, summarized beside the run,
and what a backend does not report while polling (Azure ML: scores) is kept."""

from __future__ import annotations

from app.domain.state import RunState, StepState, TrialState
from app.store import Store
from tests.support.rows import run_row

SWEEP = {"sweep": {"search_space": {"reg_rate": {"choice": [0.1, 1, 10]}}, "seed": 1}}


def state(*trials: TrialState, raw: str = "Running") -> RunState:
    return RunState(raw_status=raw, steps=[StepState("train-model", raw)], trials=list(trials))


def test_trials_are_written_with_the_run_and_summarized(store: Store) -> None:
    store.runs.create(run_row("run-t1", kind="job", **SWEEP), ["train-model"])
    store.runs.apply_state(
        "run-t1",
        state(
            TrialState("train-model.trial-01", "Completed", hyperparameters={"reg_rate": 0.1}, objective=0.8),
            TrialState("train-model.trial-02", "Failed", error="timed out after 3 s"),
            TrialState("train-model.trial-03", "Running"),
        ),
    )
    trials = store.trials.of_run("run-t1")
    assert [(t.name, t.status, t.objective) for t in trials] == [
        ("train-model.trial-01", "completed", 0.8),
        ("train-model.trial-02", "failed", None),
        ("train-model.trial-03", "running", None),
    ]
    row = store.runs.get("run-t1")
    assert row is not None and row.trial_summary is not None
    assert {k: row.trial_summary[k] for k in ("total", "completed", "failed", "running")} == {
        "total": 3,
        "completed": 1,
        "failed": 1,
        "running": 1,
    }
    assert row.trial_summary["failures"] == [
        {"trial": "train-model.trial-02", "error": "timed out after 3 s"}
    ]


def test_what_a_later_poll_does_not_report_is_kept(store: Store) -> None:
    store.runs.create(run_row("run-t2", kind="job", **SWEEP), ["train-model"])
    first = TrialState("train-model.trial-01", "Completed", hyperparameters={"reg_rate": 0.1}, objective=0.8)
    first.metrics = {"roc_auc": 0.8}
    store.runs.apply_state("run-t2", state(first))
    later = TrialState("train-model.trial-01", "Completed", best=True)
    assert store.runs.apply_state("run-t2", state(later, raw="Completed")) is not None

    (trial,) = store.trials.of_run("run-t2")
    assert (trial.hyperparameters, trial.metrics, trial.objective, trial.best) == (
        {"reg_rate": 0.1},
        {"roc_auc": 0.8},
        0.8,
        True,
    )
    row = store.runs.get("run-t2")
    assert row is not None and row.trial_summary is not None
    assert (row.trial_summary["best_trial"], row.trial_summary["best_objective"]) == (
        "train-model.trial-01",
        0.8,
    )
