"""Request and response bodies of the training-runs API. Field names are stable API.

The caller's choices and their defaults come from the domain (``RunOptions``); this module only
adds what belongs to the HTTP exchange (the callback, ids, times, steps).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, UrlConstraints

from app.domain.outcome import Outcome
from app.domain.spec import (
    DEFAULT_EXPERIMENT,
    DEFAULT_MODEL,
    DataAssetSelector,
    Hyperparameters,
    Objective,
    PromotionRule,
    RunOptions,
    SweepOptions,
)
from app.domain.status import RunStatus
from app.security.egress import MAX_URL_LENGTH


class TrainingRunCreate(RunOptions):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "kind": "pipeline",
                    "experiment_name": DEFAULT_EXPERIMENT,
                    "model_name": DEFAULT_MODEL,
                    "data_asset": DataAssetSelector().model_dump(),
                    "hyperparameters": RunOptions().hyperparameters.model_dump(),
                    "promotion": PromotionRule().model_dump(),
                    "compute": "cpu-cluster",
                    "tags": {"requested_by": "swagger"},
                }
            ]
        },
    )

    data_asset: DataAssetSelector = Field(default_factory=DataAssetSelector)
    callback_url: Annotated[AnyHttpUrl, UrlConstraints(max_length=MAX_URL_LENGTH)] | None = Field(
        default=None, description="Receives one signed POST when the run ends (https, on the allowlist)."
    )


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


class TrialFailure(BaseModel):
    trial: str
    error: str


class TrialSummary(BaseModel):
    """A sweep's trials at a glance: how many are where, the best so far, and why any failed."""

    total: int
    queued: int
    running: int
    completed: int
    failed: int
    canceled: int
    best_trial: str | None
    best_objective: float | None
    failures: list[TrialFailure] = Field(description="The first failed trials, each with its error.")


class TrialRead(BaseModel):
    name: str
    status: RunStatus
    raw_status: str
    best: bool
    reused: bool
    hyperparameters: dict[str, str | int | float] = Field(description="model_type and its family's.")
    objective: float | None = Field(description="The objective metric's value: what trials are ranked by.")
    metrics: dict[str, float]
    mlflow_run_id: str | None
    backend_job_name: str | None
    started_at: datetime | None
    ended_at: datetime | None
    duration_seconds: float | None
    error: str | None


class TrialsRead(BaseModel):
    run_id: str
    objective: Objective | None = Field(description="None when the run has no sweep.")
    summary: TrialSummary | None
    items: list[TrialRead] = Field(description="Best first; trials without a score after the scored ones.")


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
    submitted_by: str = Field(description="The caller that submitted it (API key id, Entra app or user).")
    experiment_name: str
    model_name: str
    data_asset: DataAssetVersionRef
    hyperparameters: Hyperparameters
    sweep: SweepOptions | None
    trials: TrialSummary | None = Field(
        description="A sweep's trials at a glance (GET .../trials lists them)."
    )
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


class OutcomeRead(Outcome):
    run_id: str


class StepMetrics(BaseModel):
    step: str
    mlflow_run_id: str | None
    metrics: dict[str, float]


class TrialMetrics(BaseModel):
    trial: str
    mlflow_run_id: str | None
    metrics: dict[str, float]


class RunMetricsRead(BaseModel):
    run_id: str
    steps: list[StepMetrics]
    trials: list[TrialMetrics] = Field(default_factory=list, description="A sweep's metrics, per trial.")


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
