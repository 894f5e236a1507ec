"""A stored run as the API shows it."""

from __future__ import annotations

from datetime import datetime

from app.domain.status import RunStatus
from app.lifecycle.schemas import (
    CallbackAttempt,
    DataAssetVersionRef,
    OutcomeRead,
    StepRead,
    TrainingRunRead,
    TrialRead,
    TrialSummary,
)
from app.store.tables import RunRow, TrialRow


def run_read(row: RunRow) -> TrainingRunRead:
    spec = row.spec
    return TrainingRunRead(
        id=row.id,
        kind=spec.kind,
        status=RunStatus(row.status),
        raw_status=row.raw_status,
        backend=row.backend,
        submitted_by=row.submitted_by,
        experiment_name=spec.experiment_name,
        model_name=spec.model_name,
        data_asset=DataAssetVersionRef(name=spec.data_asset.name, version=spec.data_asset.version),
        hyperparameters=spec.hyperparameters,
        sweep=spec.sweep,
        trials=TrialSummary.model_validate(row.trial_summary) if row.trial_summary else None,
        promotion=spec.promotion,
        compute=spec.compute,
        step_compute={str(step): compute for step, compute in spec.step_compute.items()},
        environment=spec.environment,
        pipeline_name=spec.pipeline_name,
        force_rerun=spec.force_rerun,
        tags=dict(spec.tags),
        created_at=row.created_at,
        started_at=row.started_at,
        ended_at=row.ended_at,
        backend_job_name=row.backend_job_name,
        studio_url=row.studio_url,
        error=row.error,
        steps=[
            StepRead(
                name=s.name,
                status=RunStatus(s.status),
                raw_status=s.raw_status,
                reused=s.reused,
                exit_code=s.exit_code,
                started_at=s.started_at,
                ended_at=s.ended_at,
                duration_seconds=_duration(s.started_at, s.ended_at),
                backend_job_name=s.backend_job_name,
                studio_url=s.studio_url,
                mlflow_run_id=s.mlflow_run_id,
                error=s.error,
            )
            for s in row.steps
        ],
        callback_url=row.callback_url,
        callback_state=row.callback_state,
        callback_attempts=[CallbackAttempt.model_validate(a) for a in row.callback_attempts or []],
    )


def _duration(started: datetime | None, ended: datetime | None) -> float | None:
    return round((ended - started).total_seconds(), 3) if started and ended else None


def trial_read(
    row: TrialRow, metrics: dict[str, float] | None = None, objective_metric: str | None = None
) -> TrialRead:
    """A stored trial; ``metrics`` read from the backend fill what the store lacks (Azure ML
    reports no scores while polling)."""
    values = row.metrics or metrics or {}
    objective = row.objective
    if objective is None and objective_metric is not None:
        objective = values.get(objective_metric)
    return TrialRead(
        name=row.name,
        status=RunStatus(row.status),
        raw_status=row.raw_status,
        best=row.best,
        reused=row.reused,
        hyperparameters=dict(row.hyperparameters or {}),
        objective=objective,
        metrics=dict(values),
        mlflow_run_id=row.mlflow_run_id,
        backend_job_name=row.backend_job_name,
        started_at=row.started_at,
        ended_at=row.ended_at,
        duration_seconds=_duration(row.started_at, row.ended_at),
        error=row.error,
    )


def outcome_read(row: RunRow) -> OutcomeRead:
    assert row.outcome is not None
    return OutcomeRead(run_id=row.id, **row.outcome.model_dump(exclude={"promoted"}))
