"""Translations between store rows, API bodies and backend specs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from app.backends.base import DataAssetRef, Outcome, Promotion, RunSpec, RunStatus
from app.runs.schemas import (
    CallbackAttempt,
    DataAssetVersionRef,
    Hyperparameters,
    ModelRefRead,
    OutcomeRead,
    PromotionRule,
    StepRead,
    TrainingRunRead,
)
from app.store.tables import RunRow


def spec_from_row(row: RunRow, data_path: Path | None) -> RunSpec:
    request = row.request
    hyper = request.get("hyperparameters", {})
    promotion = request.get("promotion", {})
    return RunSpec(
        run_id=row.id,
        kind=row.kind,  # type: ignore[arg-type]
        experiment_name=row.experiment_name,
        model_name=row.model_name,
        data_asset=DataAssetRef(row.data_asset_name, row.data_asset_version, data_path),
        reg_rate=float(hyper.get("reg_rate", 0.01)),
        solver=str(hyper.get("solver", "lbfgs")),
        compute=request.get("compute"),
        step_compute=dict(request.get("step_compute") or {}),
        environment=str(request.get("environment", "diabetes-classify@latest")),
        pipeline_name=request.get("pipeline_name"),
        promotion=Promotion(
            metric=str(promotion.get("metric", "roc_auc")),
            min_improvement=float(promotion.get("min_improvement", 0.0)),
        ),
        force_rerun=bool(request.get("force_rerun", False)),
        tags=dict(request.get("tags") or {}),
    )


def run_read(row: RunRow) -> TrainingRunRead:
    request = row.request
    return TrainingRunRead(
        id=row.id,
        kind=row.kind,  # type: ignore[arg-type]
        status=RunStatus(row.status),
        raw_status=row.raw_status,
        backend=row.backend,
        experiment_name=row.experiment_name,
        model_name=row.model_name,
        data_asset=DataAssetVersionRef(name=row.data_asset_name, version=row.data_asset_version),
        hyperparameters=Hyperparameters.model_validate(request.get("hyperparameters", {})),
        promotion=PromotionRule.model_validate(request.get("promotion", {})),
        compute=request.get("compute"),
        step_compute=dict(request.get("step_compute") or {}),
        environment=str(request.get("environment", "")),
        pipeline_name=request.get("pipeline_name"),
        force_rerun=bool(request.get("force_rerun", False)),
        tags=dict(request.get("tags") or {}),
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
                duration_seconds=(
                    round((s.ended_at - s.started_at).total_seconds(), 3)
                    if s.started_at and s.ended_at
                    else None
                ),
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


def outcome_record(outcome: Outcome) -> dict[str, Any]:
    def ref(model: Any) -> dict[str, Any] | None:
        return (
            None
            if model is None
            else {"name": model.name, "version": model.version, "metrics": model.metrics}
        )

    return {
        "deploy": outcome.deploy,
        "reason": outcome.reason,
        "rule": outcome.rule,
        "candidate_metrics": outcome.candidate_metrics,
        "champion_before": ref(outcome.champion_before),
        "champion_after": ref(outcome.champion_after),
        "registered_model": ref(outcome.registered_model),
    }


def outcome_read(run_id: str, record: dict[str, Any]) -> OutcomeRead:
    def ref(raw: dict[str, Any] | None) -> ModelRefRead | None:
        return None if raw is None else ModelRefRead.model_validate(raw)

    registered = ref(record.get("registered_model"))
    after = ref(record.get("champion_after"))
    return OutcomeRead(
        run_id=run_id,
        deploy=bool(record["deploy"]),
        reason=str(record["reason"]),
        rule=dict(record["rule"]),
        candidate_metrics=dict(record["candidate_metrics"]),
        champion_before=ref(record.get("champion_before")),
        champion_after=after,
        registered_model=registered,
        promoted=registered is not None and after is not None and after.version == registered.version,
    )
