"""Request and response bodies of the training-runs API. Field names are stable API."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, field_validator

from app.backends.base import RunStatus

Name = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")]
Solver = Literal["lbfgs", "liblinear", "newton-cg", "newton-cholesky", "sag", "saga"]
Metric = Literal["accuracy", "precision", "recall", "f1", "roc_auc"]
StepName = Literal["train-model", "evaluate-model", "register-model"]
TagKey = Annotated[str, Field(min_length=1, max_length=128)]
TagValue = Annotated[str, Field(max_length=512)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DataAssetSelector(Strict):
    name: Name = "diabetes-diagnostics"
    version: str = Field(
        default="latest",
        pattern=r"^(latest|[1-9][0-9]{0,8})$",
        description='A version number, or "latest".',
    )


class Hyperparameters(Strict):
    reg_rate: float = Field(default=0.01, gt=0, le=1e6, description="Inverse of C: C = 1 / reg_rate.")
    solver: Solver = "lbfgs"

    @field_validator("reg_rate")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("reg_rate must be a finite number greater than 0")
        return value


class PromotionRule(Strict):
    metric: Metric = "roc_auc"
    min_improvement: float = Field(
        default=0.0, ge=0, le=1, description="How much better than the champion the candidate must be."
    )


class TrainingRunCreate(Strict):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "kind": "pipeline",
                    "experiment_name": "diabetes-training",
                    "model_name": "diabetes-classifier",
                    "data_asset": {"name": "diabetes-diagnostics", "version": "latest"},
                    "hyperparameters": {"reg_rate": 0.01, "solver": "lbfgs"},
                    "promotion": {"metric": "roc_auc", "min_improvement": 0.0},
                    "compute": "cpu-cluster",
                    "tags": {"requested_by": "swagger"},
                }
            ]
        },
    )

    kind: Literal["job", "pipeline"] = "pipeline"
    experiment_name: Name = "diabetes-training"
    model_name: Name = "diabetes-classifier"
    data_asset: DataAssetSelector = Field(default_factory=DataAssetSelector)
    hyperparameters: Hyperparameters = Field(default_factory=Hyperparameters)
    compute: Name | None = Field(
        default=None, description="Compute target (used on Azure ML, recorded locally)."
    )
    step_compute: dict[StepName, Name] = Field(
        default_factory=dict, description="Per-step compute overrides, e.g. train on a GPU cluster."
    )
    environment: Annotated[str, Field(max_length=255, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-:@]*$")] = (
        "diabetes-classify@latest"
    )
    pipeline_name: Name | None = None
    promotion: PromotionRule = Field(default_factory=PromotionRule)
    force_rerun: bool = False
    callback_url: AnyHttpUrl | None = Field(
        default=None, description="Receives one signed POST when the run ends."
    )
    tags: dict[TagKey, TagValue] = Field(default_factory=dict, max_length=50)


class StepRead(BaseModel):
    name: str
    status: RunStatus
    raw_status: str
    reused: bool
    exit_code: int | None
    started_at: datetime | None
    ended_at: datetime | None
    duration_seconds: float | None
    backend_job_name: str | None
    studio_url: str | None
    mlflow_run_id: str | None
    error: str | None


class DataAssetVersionRef(BaseModel):
    name: str
    version: str


class CallbackAttempt(BaseModel):
    at: datetime
    status_code: int | None
    error: str | None


class TrainingRunRead(BaseModel):
    id: str
    kind: Literal["job", "pipeline"]
    status: RunStatus
    raw_status: str
    backend: str
    experiment_name: str
    model_name: str
    data_asset: DataAssetVersionRef
    hyperparameters: Hyperparameters
    promotion: PromotionRule
    compute: str | None
    step_compute: dict[str, str]
    environment: str
    pipeline_name: str | None
    force_rerun: bool
    tags: dict[str, str]
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    backend_job_name: str | None
    studio_url: str | None
    error: str | None
    steps: list[StepRead]
    callback_url: str | None
    callback_state: str | None
    callback_attempts: list[CallbackAttempt]


class TrainingRunList(BaseModel):
    items: list[TrainingRunRead]
    next_cursor: str | None = Field(description="Pass as `cursor` to get the next (older) page.")


class ModelRefRead(BaseModel):
    name: str
    version: str
    metrics: dict[str, float] = Field(default_factory=dict)


class OutcomeRead(BaseModel):
    run_id: str
    deploy: bool
    reason: str
    rule: dict[str, Any]
    candidate_metrics: dict[str, float]
    champion_before: ModelRefRead | None
    champion_after: ModelRefRead | None
    registered_model: ModelRefRead | None
    promoted: bool = Field(description="True when this run made its model the champion.")


class StepMetrics(BaseModel):
    step: str
    mlflow_run_id: str | None
    metrics: dict[str, float]


class RunMetricsRead(BaseModel):
    run_id: str
    steps: list[StepMetrics]


class ArtifactRead(BaseModel):
    path: str
    size: int | None
    media_type: str
    url: str


class ArtifactList(BaseModel):
    run_id: str
    items: list[ArtifactRead]


class LogsRead(BaseModel):
    run_id: str
    step: str
    text: str
