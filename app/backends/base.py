"""The contract between the runs service and a training backend (local engine or Azure ML).

Nothing above this module knows which backend runs. Every method is async; a backend built
on a blocking SDK runs its calls in a worker thread with explicit timeouts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal, Protocol

RunKind = Literal["job", "pipeline"]

#: Step names are stable API: dashboards and other systems key on them.
TRAIN_STEP = "train-model"
EVALUATE_STEP = "evaluate-model"
REGISTER_STEP = "register-model"
PIPELINE_STEPS = (TRAIN_STEP, EVALUATE_STEP, REGISTER_STEP)


class RunStatus(StrEnum):
    """The small, stable status set the API exposes; the raw backend value travels beside it."""

    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELED = "canceled"

    @property
    def is_final(self) -> bool:
        return self in (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELED)


# azure-ai-ml JobStatus values (plus REST's Unknown) -> normalized status.
# The local engine reports the same raw vocabulary so both backends read alike.
_RAW_TO_STATUS: dict[str, RunStatus] = {
    "NotStarted": RunStatus.QUEUED,
    "Queued": RunStatus.QUEUED,
    "Preparing": RunStatus.QUEUED,
    "Provisioning": RunStatus.QUEUED,
    "Starting": RunStatus.RUNNING,
    "Running": RunStatus.RUNNING,
    "CancelRequested": RunStatus.RUNNING,
    "Finalizing": RunStatus.RUNNING,
    "Completed": RunStatus.COMPLETED,
    "Failed": RunStatus.FAILED,
    "Canceled": RunStatus.CANCELED,
    "NotResponding": RunStatus.RUNNING,
    "Paused": RunStatus.RUNNING,
    "Unknown": RunStatus.RUNNING,
}


def normalize_status(raw: str) -> RunStatus:
    """Map a raw backend status to the stable set; an unheard-of value counts as still running."""
    return _RAW_TO_STATUS.get(raw, RunStatus.RUNNING)


@dataclass(frozen=True)
class DataAssetRef:
    name: str
    version: str  # always a concrete version by the time a backend sees it
    path: Path | None = None  # local file for the local engine; None on Azure


@dataclass(frozen=True)
class Promotion:
    metric: str = "roc_auc"
    min_improvement: float = 0.0


@dataclass(frozen=True)
class RunSpec:
    """Everything a backend needs to run one training request."""

    run_id: str
    kind: RunKind
    experiment_name: str
    model_name: str
    data_asset: DataAssetRef
    reg_rate: float = 0.01
    solver: str = "lbfgs"
    compute: str | None = None
    step_compute: dict[str, str] = field(default_factory=dict)  # step name -> compute
    environment: str = "diabetes-classify@latest"
    pipeline_name: str | None = None
    promotion: Promotion = field(default_factory=Promotion)
    force_rerun: bool = False
    tags: dict[str, str] = field(default_factory=dict)


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
class RunState:
    raw_status: str
    steps: list[StepState] = field(default_factory=list)
    started_at: datetime | None = None
    ended_at: datetime | None = None
    error: str | None = None
    studio_url: str | None = None

    @property
    def status(self) -> RunStatus:
        return normalize_status(self.raw_status)


@dataclass(frozen=True)
class ModelRef:
    name: str
    version: str
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Outcome:
    """The promotion decision of a pipeline run and what registration did with it."""

    deploy: bool
    reason: str
    rule: dict[str, Any]
    candidate_metrics: dict[str, float]
    champion_before: ModelRef | None
    champion_after: ModelRef | None
    registered_model: ModelRef | None


def media_type(path: str) -> str:
    """Content type of an artifact by its name (plots are image/png)."""
    import mimetypes

    if path.endswith(".json"):
        return "application/json"
    return mimetypes.guess_type(path)[0] or "application/octet-stream"


@dataclass(frozen=True)
class ArtifactInfo:
    path: str  # relative, "step/sub/path.png"
    size: int | None
    media_type: str


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
class ReadyReport:
    ready: bool
    checks: dict[str, str]  # check name -> "ok" or a sentence saying what is wrong


@dataclass(frozen=True)
class BackendInfo:
    kind: Literal["local", "azureml"]
    details: dict[str, str]  # workspace, identity client id, data dir... never a secret


class BackendError(Exception):
    """A backend failure the API reports as 502/503 instead of a traceback."""

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


class TrainingBackend(Protocol):
    """One protocol, two implementations; the settings pick which."""

    async def start(self) -> None: ...

    async def close(self, grace_seconds: float = 0.0) -> None: ...

    def describe(self) -> BackendInfo: ...

    async def ready(self) -> ReadyReport: ...

    async def submit(self, spec: RunSpec) -> Submitted:
        """Start the work. Must be safe to call again for the same spec.run_id after a crash:
        a backend finds its earlier submission (by run id) instead of creating a second one."""
        ...

    async def refresh(self, spec: RunSpec, backend_job_name: str) -> RunState: ...

    async def cancel(self, spec: RunSpec, backend_job_name: str) -> None: ...

    async def metrics(self, step_mlflow_run_ids: dict[str, str]) -> dict[str, dict[str, float]]:
        """Metrics per step name, given each step's MLflow run id."""
        ...

    async def artifacts(self, step_mlflow_run_ids: dict[str, str]) -> list[ArtifactInfo]: ...

    async def artifact(self, step_mlflow_run_ids: dict[str, str], path: str) -> Path:
        """A local file holding the artifact (downloaded if needed). Raises KeyError if absent."""
        ...

    async def logs(self, spec: RunSpec, backend_job_name: str, step: str) -> str: ...

    async def outcome(self, spec: RunSpec, backend_job_name: str) -> Outcome | None:
        """The decision record of a finished pipeline; None for a job or before evaluation."""
        ...

    async def model(self, name: str) -> RegisteredModelInfo | None: ...
