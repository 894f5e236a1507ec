"""observe_finished_run on store rows built by hand: what is observed and what is left out."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from app.domain.outcome import ModelRef, Outcome
from app.domain.spec import DataAssetRef, RunSpec
from app.observability import METRICS, observe_finished_run
from app.observability import metrics as metrics_module
from app.store.tables import RunRow, StepRow

T0 = datetime(2030, 1, 1, tzinfo=UTC)


def row(
    model: str, *, steps: list[StepRow], outcome: Outcome | None = None, status: str = "completed"
) -> RunRow:
    return RunRow(
        id=f"run-{model}",
        kind="pipeline",
        spec=RunSpec(run_id=f"run-{model}", model_name=model, data_asset=DataAssetRef(name="d", version="1")),
        status=status,
        model_name=model,
        created_at=T0,
        ended_at=T0 + timedelta(seconds=9),
        steps=steps,
        outcome=outcome,
    )


def step(name: str, seconds: float | None, *, status: str = "completed", reused: bool = False) -> StepRow:
    return StepRow(
        name=name,
        status=status,
        reused=reused,
        started_at=T0,
        ended_at=None if seconds is None else T0 + timedelta(seconds=seconds),
    )


def outcome(model: str, version: str, roc_auc: float, metric: str = "roc_auc") -> Outcome:
    return Outcome(
        deploy=True,
        reason="",
        rule={"metric": metric, "min_improvement": 0.0},
        candidate_metrics={},
        champion_before=None,
        champion_after=ModelRef(name=model, version=version, metrics={"roc_auc": roc_auc, "f1": 0.5}),
        registered_model=None,
    )


def sample(name: str, **labels: str) -> float | None:
    return METRICS.registry.get_sample_value(name, labels)


def observe(run: RunRow) -> None:
    asyncio.run(observe_finished_run(run))


def test_step_durations_skip_reused_and_unfinished_steps() -> None:
    before = sample("trainctl_step_duration_seconds_count", step="hook-step", status="failed") or 0
    observe(
        row(
            "hook-durations",
            status="failed",
            steps=[
                step("hook-step", 3.5, status="failed"),
                step("hook-step", 0.0, status="failed", reused=True),
                step("hook-step", None, status="failed"),
            ],
        )
    )
    assert sample("trainctl_step_duration_seconds_count", step="hook-step", status="failed") == before + 1
    assert (
        sample("trainctl_step_duration_seconds_bucket", step="hook-step", status="failed", le="5.0")
        == before + 1
    )


def test_champion_follows_the_latest_finished_run() -> None:
    observe(row("hook-champ", steps=[], outcome=outcome("hook-champ", "3", 0.81)))
    observe(row("hook-champ", steps=[], outcome=outcome("hook-champ", "4", 0.86)))
    assert sample("trainctl_champion_metric", model="hook-champ", metric="roc_auc") == 0.86
    assert sample("trainctl_champion_version", model="hook-champ") == 4


def test_no_champion_no_series() -> None:
    no_champion = outcome("hook-none", "1", 0.5).model_copy(update={"champion_after": None})
    observe(row("hook-none", steps=[], outcome=no_champion))
    observe(row("hook-job", steps=[step("train-model", 1.0)], outcome=None))
    assert sample("trainctl_champion_metric", model="hook-none", metric="roc_auc") is None
    assert sample("trainctl_champion_version", model="hook-none") is None


def test_non_numeric_version_sets_the_metric_only() -> None:
    observe(row("hook-azure", steps=[], outcome=outcome("hook-azure", "v7-preview", 0.7, metric="f1")))
    assert sample("trainctl_champion_metric", model="hook-azure", metric="f1") == 0.5
    assert sample("trainctl_champion_version", model="hook-azure") is None


def test_model_series_are_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(metrics_module, "MAX_MODELS", 0)
    monkeypatch.setattr(METRICS, "_models", set())
    observe(row("hook-capped", steps=[], outcome=outcome("hook-capped", "1", 0.9)))
    assert sample("trainctl_champion_metric", model="hook-capped", metric="roc_auc") is None
