"""What a backend reports about a run: its steps, times, errors, and what it produced."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from app.domain.status import RunStatus, normalize_status


@dataclass(frozen=True)
class Submitted:
    """What a backend returns once the work is accepted."""

    backend_job_name: str
    studio_url: str | None = None
    raw_status: str = "NotStarted"


@dataclass
class StepState:
    name: str
    raw_status: str
    started_at: datetime | None = None
    ended_at: datetime | None = None
    reused: bool = False
    exit_code: int | None = None
    backend_job_name: str | None = None
    studio_url: str | None = None
    mlflow_run_id: str | None = None
    error: str | None = None

    @property
    def status(self) -> RunStatus:
        return normalize_status(self.raw_status)


@dataclass
class TrialState(StepState):
    """One candidate of a sweep: a step of its own, with what it tried and how it scored."""

    hyperparameters: dict[str, str | int | float] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    objective: float | None = None
    best: bool = False


@dataclass
class RunState:
    raw_status: str
    steps: list[StepState] = field(default_factory=list)
    #: A sweep's trials, in the order they were planned (empty without a sweep).
    trials: list[TrialState] = field(default_factory=list)
    started_at: datetime | None = None
    ended_at: datetime | None = None
    error: str | None = None
    studio_url: str | None = None

    @property
    def status(self) -> RunStatus:
        return normalize_status(self.raw_status)


@dataclass(frozen=True)
class ArtifactInfo:
    path: str  # relative, "step/sub/path.png"
    size: int | None


@dataclass(frozen=True)
class ModelVersionInfo:
    version: str
    created_at: datetime | None
    metrics: dict[str, float]
    tags: dict[str, str]
    is_champion: bool


@dataclass(frozen=True)
class RegisteredModelInfo:
    name: str
    champion_version: str | None
    versions: list[ModelVersionInfo]


@dataclass(frozen=True)
class ModelSummaryInfo:
    """A registered model as a list shows it: its champion and that version's metrics."""

    name: str
    champion_version: str | None
    champion_metrics: dict[str, float]
    latest_version: str | None
    version_count: int
    updated_at: datetime | None
