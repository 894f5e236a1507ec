"""The contract between the run lifecycle and a training backend (local engine or Azure ML).

It states every capability the lifecycle uses; nothing above ``backends/`` knows which
backend runs (only ``factory.py`` does). Every method is async; a backend built on a blocking
SDK runs its calls in a worker thread with explicit timeouts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

from app.domain.outcome import Outcome
from app.domain.spec import DataAssetRef, DataAssetSelector, RunSpec
from app.domain.state import ArtifactInfo, ModelSummaryInfo, RegisteredModelInfo, RunState, Submitted


@dataclass(frozen=True)
class ReadyReport:
    ready: bool
    checks: dict[str, str]  # check name -> "ok" or a sentence saying what is wrong


@dataclass(frozen=True)
class BackendInfo:
    kind: Literal["local", "azureml"]
    details: dict[str, str]  # workspace, identity, step runner... never a secret
    #: Local paths and connection strings: shown to admins only.
    private: dict[str, str] = field(default_factory=dict)


class TrainingBackend(Protocol):
    """One protocol, two implementations; the settings pick which."""

    @property
    def kind(self) -> Literal["local", "azureml"]:
        """Recorded on each run, so a reader knows where its jobs live."""
        ...

    @property
    def poll_seconds(self) -> float:
        """How often the reconciler asks about active runs when nothing wakes it sooner."""
        ...

    async def start(self) -> None:
        """What every replica needs, begun at once; called before the store is migrated."""
        ...

    async def lead(self) -> None:
        """This replica drives runs from now on (it took the lifecycle lease): start what
        submit, refresh, cancel and outcome need (the local engine and its step runner) and
        return at once. Runs it did not start itself are resumed through ``refresh``."""
        ...

    async def step_down(self) -> None:
        """Another replica drives runs now: stop this one's work at once without ending any
        run (the new leader resumes or re-polls it). ``lead`` may follow again later."""
        ...

    async def store_ready(self) -> None:
        """The service database is migrated: a backend may now use its rows (e.g. seed data)."""
        ...

    async def close(self, grace_seconds: float = 0.0) -> None:
        """Stop: let running work finish within the grace period; unfinished work resumes
        after the next start."""
        ...

    def describe(self) -> BackendInfo: ...

    async def ready(self) -> ReadyReport: ...

    async def resolve_data_asset(self, selector: DataAssetSelector) -> DataAssetRef:
        """What this backend needs of a data asset, resolved once at submission. Raises
        InvalidInput (naming body.data_asset) for an asset it knows does not exist."""
        ...

    async def check_computes(self, compute: str | None, step_compute: Mapping[str, str]) -> None:
        """The computes a request names, checked once at submission. Raises InvalidInput naming
        each field (`body.compute`, `body.step_compute.<step>`) whose compute the backend knows
        it cannot run on (it does not exist, or none is given where one is required). A backend
        that cannot tell cheaply, or not right now, accepts: the run then fails later with the
        backend's own reason."""
        ...

    async def submit(self, spec: RunSpec) -> Submitted:
        """Start the work. Must be safe to call again for the same spec.run_id after a crash:
        a backend finds its earlier submission (by run id) instead of creating a second one."""
        ...

    async def refresh(self, spec: RunSpec, backend_job_name: str) -> RunState: ...

    async def wait_for_change(self) -> None:
        """Return when a run may have changed, at most ``poll_seconds`` from now."""
        ...

    async def cancel(self, spec: RunSpec, backend_job_name: str) -> None:
        """Ask the work to stop; the reconciler records the end when refresh reports it."""
        ...

    def release(self, run_id: str) -> None:
        """The run's end is recorded in the store: drop what the backend keeps for it."""
        ...

    async def metrics(self, step_mlflow_run_ids: dict[str, str]) -> dict[str, dict[str, float]]:
        """Metrics per step name, given each step's MLflow run id."""
        ...

    async def params(self, step_mlflow_run_ids: dict[str, str]) -> dict[str, dict[str, str]]:
        """Logged params per step (or sweep trial) name, given each one's MLflow run id."""
        ...

    async def artifacts(self, step_mlflow_run_ids: dict[str, str]) -> list[ArtifactInfo]: ...

    async def artifact(self, step_mlflow_run_ids: dict[str, str], path: str) -> Path:
        """A local file holding the artifact (downloaded if needed). Raises KeyError if absent."""
        ...

    async def logs(self, spec: RunSpec, backend_job_name: str, step: str) -> str:
        """A step's log. Raises KeyError when the step has none yet."""
        ...

    async def outcome(self, spec: RunSpec, backend_job_name: str) -> Outcome | None:
        """The decision record of a finished pipeline; None for a job or before evaluation."""
        ...

    async def model(self, name: str) -> RegisteredModelInfo | None: ...

    async def models(self, after: str | None, limit: int) -> list[ModelSummaryInfo]:
        """Registered models in name order: those whose name sorts after `after` (all when
        None), at most `limit` of them."""
        ...
