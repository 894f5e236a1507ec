"""The CLI's pieces that need no service: help, error lines, headers, progress displays."""

from __future__ import annotations

import io

from app.cli.client import ApiProblem, remote_client
from app.cli.parser import SUBMIT_FIELDS
from app.cli.progress import LineProgress, LiveProgress, make_progress
from tests.cli.conftest import invoke


def _run(status: str, *steps: tuple[str, str], reused: bool = False) -> dict[str, object]:
    return {
        "id": "run-1",
        "status": status,
        "steps": [
            {"name": n, "status": s, "reused": reused, "duration_seconds": 1.5 if s == "completed" else None}
            for n, s in steps
        ],
    }


def test_help_documents_the_original_flags_and_evaluation_output() -> None:
    result = invoke("pipeline", "--help")
    assert result.code == 0
    for flag in ("--experiment_name", "--environment_name", "--model_name", "--compute_name",
                 "--data_asset_name", "--reg_rate", "--solver", "--pipeline", "--evaluation_output",
                 "--reg-rate", "--model-name"):  # fmt: skip
        assert flag in result.out
    assert "tags['evaluation_output']" in result.out
    assert "--pipeline" not in invoke("job", "--help").out


def test_a_problem_names_the_flag_that_set_each_bad_field() -> None:
    problem = ApiProblem(
        422,
        {
            "title": "Invalid request",
            "detail": "Fix these fields: body.hyperparameters.reg_rate, body.tags.x",
            "invalid-params": [
                {"name": "body.hyperparameters.reg_rate", "reason": "Input should be greater than 0"},
                {"name": "body.tags.x", "reason": "too long"},
                {"name": "body.callback_url", "reason": "bad URL"},
            ],
        },
    )
    assert problem.exit_code == 2
    assert problem.describe(SUBMIT_FIELDS) == (
        "Invalid request (422): --reg_rate (hyperparameters.reg_rate): Input should be greater than 0; "
        "--tag (tags.x): too long; callback_url: bad URL"
    )
    assert ApiProblem(503, {"title": "Training backend unavailable"}).exit_code == 1


def test_credentials_travel_as_headers() -> None:
    client = remote_client("http://127.0.0.1:1", api_key="k-123", token="t-456")
    assert client.headers["X-API-Key"] == "k-123"
    assert client.headers["Authorization"] == "Bearer t-456"
    assert "X-API-Key" not in remote_client("http://127.0.0.1:1").headers


def test_plain_progress_prints_the_plan_then_only_changes() -> None:
    stream = io.StringIO()
    progress = LineProgress(stream)
    steps = ("train-model", "evaluate-model")
    progress.update(_run("queued", (steps[0], "queued"), (steps[1], "queued")))
    progress.update(_run("running", (steps[0], "running"), (steps[1], "queued")))
    progress.update(_run("running", (steps[0], "running"), (steps[1], "queued")))
    progress.update(_run("completed", (steps[0], "completed"), (steps[1], "completed")))
    lines = [line.split("] ", 1)[1] for line in stream.getvalue().splitlines()]
    assert lines == [
        "run run-1: queued (train-model, evaluate-model)",
        "train-model: running",
        "run: running",
        "train-model: completed",
        "evaluate-model: completed",
        "run: completed",
    ]


class _Terminal(io.StringIO):
    encoding = "utf-8"

    def isatty(self) -> bool:
        return True


def test_live_progress_redraws_in_place_on_a_terminal() -> None:
    terminal = _Terminal()
    progress = make_progress(terminal, quiet=False)
    assert isinstance(progress, LiveProgress)
    progress.update(_run("running", ("train-model", "running")))
    first = terminal.getvalue()
    assert "\x1b[" not in first
    progress.update(_run("completed", ("train-model", "completed"), reused=True))
    redraw = terminal.getvalue()[len(first) :]
    assert redraw.startswith("\x1b[2F\x1b[J")  # up over the 2 lines drawn, clear, draw again
    assert "✓ train-model  completed (reused)" in redraw
    assert "1.5s" in redraw
