"""AzureMLBackend: the TrainingBackend protocol on top of azure-ai-ml and MLflow."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Literal

from azure.core.credentials import TokenCredential

from app.backends.protocol import BackendInfo, ReadyReport
from app.domain.outcome import Outcome
from app.domain.pipeline import COMPONENTS_DIR, DECISION, REGISTRATION, graph, step_names
from app.domain.spec import DataAssetRef, DataAssetSelector, RunSpec
from app.domain.state import (
    ArtifactInfo,
    ModelSummaryInfo,
    RegisteredModelInfo,
    RunState,
    Submitted,
    TrialState,
)
from app.domain.steps import StepName
from app.settings import Settings

from . import environments, sweeps
from .assets import WorkspaceAssets
from .client import AnyTransport, AzureCalls, build_credential, build_ml_client, build_transport
from .data import WorkspaceData
from .facts import FactsFile
from .jobs import JobSubmitter
from .mlflow_reader import MlflowReader, install_credential
from .names import NameChecks
from .preflight import identity_label, preflight
from .runhistory import child_runs, job_run
from .tracking import WAITING_RAW, command_state, pipeline_state, raw_status

log = logging.getLogger(__name__)

READY_CACHE_SECONDS = 15.0
# A ready service stays ready through this many pre-flights that failed only for the token:
# one slow token refresh (the identity endpoint took longer than the pre-flight allows) must
# not take the service out of its load balancer; a token that stays unavailable does.
TOKEN_MISSES_TOLERATED = 1


class AzureMLBackend:
    def __init__(
        self,
        settings: Settings,
        *,
        credential: TokenCredential | None = None,
        transport: AnyTransport | None = None,
        mlflow_tracking_uri: str | None = None,
        components_dir: Path | None = None,
    ) -> None:
        self.settings = settings
        self.credential = credential or build_credential(settings)
        self._own_transport = None if transport is not None else build_transport(settings)
        transport = transport or self._own_transport
        self.components_dir = components_dir or COMPONENTS_DIR
        self._calls = AzureCalls(settings.azure_call_timeout_seconds)
        self._ml = build_ml_client(settings, self.credential, transport)
        facts = FactsFile(settings.resolved_data_dir / "azureml" / "facts.json")
        self._assets = WorkspaceAssets(self._ml, self._calls, self.components_dir, facts)
        self._data = WorkspaceData(self._ml, self._calls)
        self._names = NameChecks(self._ml, self._calls, self._data, settings.azureml_workspace or "")
        self._jobs = JobSubmitter(
            self._ml, self._calls, self._assets, self._data, settings.managed_identity_client_id
        )
        self._tracking_uri = mlflow_tracking_uri
        self._reader: MlflowReader | None = None
        self._reader_lock = asyncio.Lock()
        self._ready: tuple[float, ReadyReport] | None = None
        self._token_misses = 0

    @property
    def kind(self) -> Literal["azureml"]:
        return "azureml"

    @property
    def poll_seconds(self) -> float:
        return self.settings.azure_poll_seconds

    # -- life cycle ------------------------------------------------------------------------------
    async def start(self) -> None:
        """Nothing is required to start: a workspace that is down now must not stop the service
        from serving stored runs. The MLflow URI is looked up when first needed."""

    async def store_ready(self) -> None:
        """Nothing of Azure ML lives in the service database."""

    async def lead(self) -> None:
        """Jobs run in the workspace, not here: a new leader only polls them."""

    async def step_down(self) -> None:
        """Nothing runs here; the jobs go on and the new leader polls them."""

    async def close(self, grace_seconds: float = 0.0) -> None:
        """Azure jobs keep running without us; only local resources are released."""
        self._calls.close()
        if self._reader is not None:
            self._reader.close()
        if self._own_transport is not None:
            self._own_transport.close()

    def describe(self) -> BackendInfo:
        details = {
            "subscription": self.settings.azureml_subscription or "",
            "resource_group": self.settings.azureml_resource_group or "",
            "workspace": self.settings.azureml_workspace or "",
            "identity": identity_label(self.settings),
        }
        if self.settings.managed_identity_client_id:
            details["identity_client_id"] = self.settings.managed_identity_client_id
        return BackendInfo(kind="azureml", details=details)

    async def ready(self) -> ReadyReport:
        """The pre-flight, remembered briefly: readiness probes arrive every few seconds and
        each pre-flight costs four ARM reads against the identity's throttling budget."""
        now = time.monotonic()
        if self._ready is not None and now - self._ready[0] < READY_CACHE_SECONDS:
            return self._ready[1]
        report = await preflight(
            self.settings, credential=self.credential, ml_client=self._ml, components_dir=self.components_dir
        )
        previous = self._ready[1] if self._ready is not None else None
        if report.ready:
            self._token_misses = 0
        elif previous is not None and previous.ready and _only_token_failed(report):
            self._token_misses += 1
            if self._token_misses <= TOKEN_MISSES_TOLERATED:
                checks = dict(previous.checks)
                checks["token"] = f"ok (the last token request failed, once: {report.checks['token']})"
                report = ReadyReport(True, checks)
        self._ready = (now, report)
        return report

    # -- submission --------------------------------------------------------------------------------
    async def resolve_data_asset(self, selector: DataAssetSelector) -> DataAssetRef:
        """Kept as named ("latest" is resolved when the job is built), after a bounded check
        that the asset exists (names.py: a workspace that is down accepts the run)."""
        await self._names.data_asset(selector)
        return DataAssetRef(name=selector.name, version=selector.version)

    async def check_computes(self, compute: str | None, step_compute: Mapping[str, str]) -> None:
        await self._names.computes(compute, step_compute)

    async def submit(self, spec: RunSpec) -> Submitted:
        return await self._jobs.submit(spec)

    # -- tracking ------------------------------------------------------------------------------------
    async def refresh(self, spec: RunSpec, backend_job_name: str) -> RunState:
        """The job from ARM; its steps (or a command job's own run) from run history, which
        alone has their start and end times and errors (see runhistory.py)."""
        name = backend_job_name
        job = await self._calls.run(f"read job {name}", self._ml.jobs.get, name)
        if spec.kind == "job":
            run = None
            if raw_status(job.status) not in WAITING_RAW:
                run = await self._calls.run(f"read run of {name}", job_run, self._ml, name)
            state = command_state(job, run, self._environment_if_failed(spec, job))
            if spec.sweep is not None:  # sweeps: a sweep job's trials are its children
                state.trials = await self._trials(spec, name, sweeps.best_child(job))
            return state
        runs = await self._calls.run(f"list steps of {name}", child_runs, self._ml, name)
        state = pipeline_state(job, runs, step_names(spec), self._environment_if_failed(spec, job))
        node = next((r for r in runs if spec.sweep and r.get("displayName") == StepName.TRAIN), None)
        if node is not None:  # sweeps: the sweep node's trials are its children
            best = sweeps.best_child(SimpleNamespace(properties=node.get("properties") or {}))
            state.trials = await self._trials(spec, str(node.get("runId")), best)
        return state

    def _environment_if_failed(self, spec: RunSpec, job: Any) -> str | None:
        """The run's environment, named in the error when its image did not build."""
        if raw_status(job.status) != "Failed":
            return None
        return environments.describe(spec.environment, self.components_dir)

    async def _trials(self, spec: RunSpec, sweep_name: str, best: str | None) -> list[TrialState]:
        assert spec.sweep is not None
        children = await self._calls.run(
            f"list trials of {sweep_name}", lambda: list(self._ml.jobs.list(parent_job_name=sweep_name))
        )
        return sweeps.trial_states(children, best, total=sweeps.total_trials(spec.sweep))

    async def cancel(self, spec: RunSpec, backend_job_name: str) -> None:
        """Done once Azure ML has accepted the cancel (202).

        The cancel is a long-running operation whose 202 carries a Location and no
        Retry-After, so azure-core's ARM polling would sleep its 30 s default before looking
        again: past the call limit, and a thread held meanwhile. Nothing waits for it here;
        the reconciler sees CancelRequested, then Canceled, on its next polls.
        """

        def cancel() -> None:
            self._ml.jobs.begin_cancel(backend_job_name, polling=False)

        await self._calls.run(f"cancel job {backend_job_name}", cancel)

    async def wait_for_change(self) -> None:
        """Azure ML pushes nothing to us: poll."""
        await asyncio.sleep(self.poll_seconds)

    def release(self, run_id: str) -> None:
        """Nothing is held per run."""

    async def _step_runs(self, spec: RunSpec, backend_job_name: str) -> dict[str, str]:
        if spec.kind == "job" and spec.sweep is None:
            return {graph(spec)[0].name: backend_job_name}
        state = await self.refresh(spec, backend_job_name)
        return {s.name: s.mlflow_run_id for s in [*state.steps, *state.trials] if s.mlflow_run_id}

    # -- MLflow read-back -------------------------------------------------------------------------------
    async def _mlflow(self) -> MlflowReader:
        """The reader, built once; its own worker pool keeps MLflow from starving Azure calls."""
        async with self._reader_lock:
            if self._reader is None:
                uri = self._tracking_uri
                if uri is None:
                    workspace = await self._calls.run(
                        "read workspace", self._ml.workspaces.get, self.settings.azureml_workspace
                    )
                    uri = str(workspace.mlflow_tracking_uri)
                install_credential(uri, self.credential)
                cache = self.settings.resolved_data_dir / "azureml" / "artifacts"
                self._reader = MlflowReader(uri, self.settings.azure_call_timeout_seconds, cache)
            return self._reader

    async def metrics(self, step_mlflow_run_ids: dict[str, str]) -> dict[str, dict[str, float]]:
        return await (await self._mlflow()).metrics(step_mlflow_run_ids)

    async def params(self, step_mlflow_run_ids: dict[str, str]) -> dict[str, dict[str, str]]:
        return await sweeps.read_params(await self._mlflow(), step_mlflow_run_ids)  # sweeps: trials' params

    async def artifacts(self, step_mlflow_run_ids: dict[str, str]) -> list[ArtifactInfo]:
        return await (await self._mlflow()).artifacts(step_mlflow_run_ids)

    async def artifact(self, step_mlflow_run_ids: dict[str, str], path: str) -> Path:
        return await (await self._mlflow()).artifact(step_mlflow_run_ids, path)

    async def logs(self, spec: RunSpec, backend_job_name: str, step: str) -> str:
        runs = await self._step_runs(spec, backend_job_name)
        if step not in runs:
            return ""
        return await (await self._mlflow()).text(runs[step])

    async def outcome(self, spec: RunSpec, backend_job_name: str) -> Outcome | None:
        if spec.kind != "pipeline":
            return None
        runs = await self._step_runs(spec, backend_job_name)
        if DECISION.step not in runs:
            return None
        reader = await self._mlflow()
        return await reader.outcome(runs.get(DECISION.step), runs.get(REGISTRATION.step), spec.model_name)

    async def model(self, name: str) -> RegisteredModelInfo | None:
        return await (await self._mlflow()).model(name)

    async def models(self, after: str | None, limit: int) -> list[ModelSummaryInfo]:
        return await (await self._mlflow()).models(after, limit)


def _only_token_failed(report: ReadyReport) -> bool:
    """The token check failed and nothing else was found wrong (the rest was not checked)."""
    others = [value for name, value in report.checks.items() if name != "token"]
    return report.checks.get("token", "ok") != "ok" and all(
        v.startswith(("ok", "not checked")) for v in others
    )
