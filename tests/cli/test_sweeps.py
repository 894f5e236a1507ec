"""`trainctl pipeline --sweep ...`: the flags make the request's sweep block, the run is followed
with its trials, and the summary shows them best first with the best trial's decision."""

from __future__ import annotations

import io
import json
import re

import pytest

from app.cli.parser import parse
from app.cli.progress import LineProgress, LiveProgress
from app.cli.submit import build_body
from tests.cli.conftest import Service, invoke


def test_sweep_flags_make_the_sweep_block() -> None:
    args = parse(
        [
            "pipeline",
            "--sweep", "reg_rate=loguniform(0.0001,10)",
            "--sweep", "solver=choice(lbfgs, liblinear)",
            "--sweep", "model_type=choice(logistic_regression,random_forest)",
            "--sweep", "n_estimators=randint(10,50)",
            "--max_trials", "16",
            "--sampling", "random",
            "--seed", "3",
            "--goal", "maximize",
            "--trial-timeout", "120",
            "--max_depth", "6",
        ]
    )  # fmt: skip
    body = build_body(args)
    assert body["sweep"] == {
        "search_space": {
            "reg_rate": {"loguniform": [0.0001, 10]},
            "solver": {"choice": ["lbfgs", "liblinear"]},
            "model_type": {"choice": ["logistic_regression", "random_forest"]},
            "n_estimators": {"randint": [10, 50]},
        },
        "sampling": "random",
        "seed": 3,
        "max_trials": 16,
        "trial_timeout_s": 120.0,
        "objective": {"goal": "maximize"},
    }
    assert body["hyperparameters"] == {"max_depth": 6}
    assert "sweep" not in build_body(parse(["job", "--model_type", "random_forest"]))


@pytest.mark.parametrize(
    "argv",
    [
        ["pipeline", "--sweep", "reg_rate"],
        ["pipeline", "--sweep", "reg_rate=normal(0,1)"],
        ["pipeline", "--sweep", "reg_rate=uniform(1)"],
        ["pipeline", "--sweep", "reg_rate=uniform(a,b)"],
        ["pipeline", "--max_trials", "4"],  # only with --sweep
        ["job", "--model_type", "svm"],
    ],
)
def test_bad_sweep_flags_exit_2(argv: list[str]) -> None:
    assert invoke(*argv).code == 2


def test_a_sweep_pipeline_is_followed_with_its_trials(service: Service) -> None:
    result = service(
        "pipeline",
        "--model_name", "cli-sweep-model",
        "--sweep", "reg_rate=loguniform(0.0001,10)",
        "--sweep", "solver=choice(lbfgs,liblinear)",
        "--max_trials", "4",
        "--seed", "9",
        "--wait",
    )  # fmt: skip
    assert result.code == 0, result
    out = result.out
    # plain lines while it runs (stdout is not a terminal), one per trial change
    assert re.search(r"train-model\.trial-01: completed \(roc_auc 0\.\d+\)", out), out
    # the summary: trials best first, the best marked, then the decision naming it
    assert re.search(r"^trials \(maximize roc_auc; 4 trials: 4 completed\)$", out, re.MULTILINE), out
    rows = [line for line in out.splitlines() if re.match(r"^\*?\s+train-model\.trial-0\d\s", line)]
    assert len(rows) == 4 and rows[0].startswith("*")
    best = rows[0].split()[1]
    assert re.search(
        rf"best trial:\s+{re.escape(best)} \(0\.\d+\) model_type=logistic_regression reg_rate=", out
    )
    assert re.search(r"deploy:\s+yes", out)

    run_id = re.search(r"^(run-\S+)\s+pipeline\s+completed", out, re.MULTILINE)
    assert run_id is not None, out
    listed = service("runs", "trials", run_id.group(1), "--json")
    assert json.loads(listed.out)["items"][0]["name"] == best
    assert service("runs", "logs", run_id.group(1), "--step", best).code == 0


TRIALS = {
    "objective": {"metric": "roc_auc", "goal": "maximize"},
    "summary": {"total": 3, "completed": 1, "running": 1, "queued": 1, "failed": 0, "canceled": 0},
    "items": [
        {"name": "train-model.trial-02", "status": "completed", "best": True, "objective": 0.86,
         "hyperparameters": {"model_type": "logistic_regression", "reg_rate": 0.01}},
        {"name": "train-model.trial-01", "status": "running", "best": False, "objective": None,
         "hyperparameters": {"model_type": "random_forest", "n_estimators": 40}},
        {"name": "train-model.trial-03", "status": "queued", "best": False, "objective": None,
         "hyperparameters": {"model_type": "random_forest", "n_estimators": 20}},
    ],
}  # fmt: skip
RUN = {"id": "run-1", "status": "running", "steps": [{"name": "train-model", "status": "running"}]}


def test_the_live_display_redraws_a_table_of_trials() -> None:
    stream = io.StringIO()
    LiveProgress(stream).update(RUN, TRIALS)
    text = stream.getvalue()
    assert "  3 trials: 1 completed, 1 running, 1 queued" in text
    assert re.search(
        r"\*\s+train-model\.trial-02\s+completed\s+0\.86\s+-\s+model_type=logistic_regression", text
    )
    assert re.search(
        r"train-model\.trial-01\s+running\s+-\s+-\s+model_type=random_forest n_estimators=40", text
    )


def test_plain_progress_prints_each_trial_change_once() -> None:
    stream = io.StringIO()
    progress = LineProgress(stream)
    progress.update(RUN, TRIALS)
    progress.update(RUN, TRIALS)
    lines = stream.getvalue().splitlines()
    assert sum("train-model.trial-02: completed (roc_auc 0.86), best" in line for line in lines) == 1
    assert sum("train-model.trial-01: running" in line for line in lines) == 1
    assert not any("trial-03" in line for line in lines)  # still queued: nothing to say yet
