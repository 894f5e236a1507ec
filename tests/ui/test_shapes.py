"""The shapes the pages draw: the metric chart keeps small differences small and marks the
champion; the step timeline places each step on the run's time axis."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.domain.state import ModelVersionInfo
from app.store.tables import StepRow
from app.ui.catalog import CHART_HEIGHT, PAD, metric_chart
from app.ui.timeline import WIDTH, step_timeline


def version(number: str, value: float, champion: bool = False) -> ModelVersionInfo:
    return ModelVersionInfo(number, None, {"roc_auc": value}, {}, champion)


def test_the_chart_marks_the_champion_and_keeps_tiny_differences_tiny() -> None:
    chart = metric_chart([version("1", 0.82316), version("2", 0.82322, champion=True)], "roc_auc")
    assert chart is not None
    first, second = chart["marks"]
    assert second["champion"] and not first["champion"]
    assert 0 < first["y"] - second["y"] < 5  # a 0.00006 gain is not drawn as a leap
    assert chart["line"] == f"{first['x']},{first['y']} {second['x']},{second['y']}"
    spread = metric_chart([version("1", 0.6), version("2", 0.9)], "roc_auc")
    assert spread is not None
    assert [m["y"] for m in spread["marks"]] == [CHART_HEIGHT - PAD, PAD]
    assert metric_chart([version("1", 0.8)], "f1") is None


def test_the_timeline_places_steps_on_one_axis() -> None:
    start = datetime(2026, 12, 1, tzinfo=UTC)
    steps = [
        StepRow(name="train-model", status="completed", raw_status="Completed", reused=True,
                started_at=start, ended_at=start + timedelta(seconds=2)),
        StepRow(name="evaluate-model", status="running", raw_status="Running", reused=False,
                started_at=start + timedelta(seconds=2), ended_at=start + timedelta(seconds=4)),
        StepRow(name="register-model", status="queued", raw_status="NotStarted", reused=False),
    ]  # fmt: skip
    rows = step_timeline(steps)["rows"]
    assert [r["x"] for r in rows[:2]] == [0.0, WIDTH / 2]
    assert rows[0]["width"] == WIDTH / 2 and rows[0]["reused"] and rows[0]["seconds"] == 2.0
    assert rows[2]["width"] == 0.0 and rows[2]["seconds"] is None
