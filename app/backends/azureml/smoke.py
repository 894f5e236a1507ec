"""`trainctl doctor --smoke`: a tiny real job on the configured workspace, end to end.

The pre-flight (token, workspace, compute, environment) only reads. The smoke test also writes
and runs, as the service will: it checks the data asset runs use, uploads a trainctl-owned
sample asset once (`trainctl-smoke-sample`, a few hundred generated rows), registers probe
versions of an environment, a component with its code, and a model (proving the identity may
write each), submits a command job from the train component on the sample through the
backend's own submission path (trainctl's environment and component registered as needed),
waits for it within a timeout, and reads its metrics back through the workspace's MLflow
endpoint. Each check is one line: "ok (...)" or what failed and the fix. Afterwards the probe
versions are archived (Azure ML deletes no asset version; code snapshots cannot be archived
either); the job stays in the `trainctl-smoke` experiment as the record of the check, canceled
if it ran out of time.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from azure.core.credentials import TokenCredential

from app.backends.protocol import ReadyReport
from app.domain.errors import BackendError
from app.domain.pipeline import COMPONENTS_DIR
from app.domain.spec import DEFAULT_DATA_ASSET, DataAssetRef, RunSpec
from app.domain.steps import StepName
from app.settings import Settings

from .backend import AzureMLBackend
from .client import AnyTransport, AzureCalls, build_credential, build_ml_client, http_status
from .data import WorkspaceData
from .environments import BASE_IMAGE
from .fixes import ROLE, reason, run_fix, storage_refused, write_fix
from .preflight import preflight
from .tracking import FINAL_RAW

SAMPLE_ASSET, SAMPLE_VERSION, SAMPLE_ROWS, SAMPLE_SEED = "trainctl-smoke-sample", "1", 300, 20
EXPERIMENT = "trainctl-smoke"
PROBE = "trainctl-smoke-probe"
PROBE_COMPONENT = "trainctl_smoke_probe"
POLL_SECONDS = 15.0
DEFAULT_TIMEOUT_SECONDS = 1800.0  # the first job on a new environment version builds its image
NOT_CHECKED = "not checked: an earlier check failed"
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class SmokeOptions:
    compute: str
    data_asset: str = DEFAULT_DATA_ASSET
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS


class _Smoke:
    def __init__(
        self,
        settings: Settings,
        options: SmokeOptions,
        backend: AzureMLBackend,
        ml: Any,
        sleep: Sleep,
        nonce: str,
    ) -> None:
        self.settings, self.options, self.backend, self.ml = settings, options, backend, ml
        self.sleep, self.nonce = sleep, nonce
        self.calls = AzureCalls(settings.azure_call_timeout_seconds, max_workers=2, name="smoke")
        self.checks: dict[str, str] = {}
        self.probes: list[tuple[str, Any]] = []  # what to archive: (what, operations)

    async def call(self, what: str, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await self.calls.run(what, func, *args, **kwargs)

    async def data_asset(self) -> None:
        name = self.options.data_asset
        try:
            found = await WorkspaceData(self.ml, self.calls).data_asset(
                DataAssetRef(name=name, version="latest")
            )
        except BackendError as error:
            fix = (
                f"register it (az ml data create --name {name} --type uri_file --path FILE.csv), or name "
                "the asset runs use with --data_asset_name"
                if "does not exist" in str(error)
                else write_fix(error)
            )
            self.checks["data asset"] = f"{reason(error)}. Fix: {fix}."
            return
        self.checks["data asset"] = f"ok ({found.name}:{found.version}, {found.type})"

    async def sample(self) -> bool:
        from azure.ai.ml.entities import Data

        from app.sampledata import write_csv

        def upload() -> str:
            try:
                self.ml.data.get(SAMPLE_ASSET, version=SAMPLE_VERSION)
                return f"ok ({SAMPLE_ASSET}:{SAMPLE_VERSION}, uploaded earlier)"
            except Exception as error:
                if http_status(error) != 404 and "does not exist" not in str(error).lower():
                    raise
            with tempfile.TemporaryDirectory() as scratch:
                csv = write_csv(Path(scratch) / "sample.csv", rows=SAMPLE_ROWS, seed=SAMPLE_SEED)
                asset = Data(name=SAMPLE_ASSET, version=SAMPLE_VERSION, type="uri_file", path=str(csv))
                asset.description = "trainctl doctor --smoke: generated diabetes-diagnostics rows"
                self.ml.data.create_or_update(asset)
            return f"ok (uploaded {SAMPLE_ASSET}:{SAMPLE_VERSION}, {SAMPLE_ROWS} rows)"

        try:
            self.checks["sample data"] = await self.call(f"upload {SAMPLE_ASSET}", upload)
        except BackendError as error:
            why, fix = reason(error), write_fix(error)
            self.checks["sample data"] = (
                f"could not upload the sample asset {SAMPLE_ASSET}: {why}. Fix: {fix}."
            )
            return False
        return True

    async def probes_written(self) -> None:
        """Probe versions of an environment, a component (with its code) and a model."""
        from azure.ai.ml.entities import CommandComponent, Environment, Model

        with tempfile.TemporaryDirectory() as scratch:
            probe = Path(scratch) / "probe.txt"
            probe.write_text(f"trainctl doctor --smoke {self.nonce}\n")
            environment = Environment(
                name=PROBE, version=self.nonce, image=BASE_IMAGE, description="smoke probe"
            )
            component = CommandComponent(
                name=PROBE_COMPONENT,
                version=self.nonce,
                command="cat probe.txt",
                code=str(probe),
                environment=f"azureml:{PROBE}:{self.nonce}",
            )
            model = Model(name=PROBE, version=self.nonce, path=str(probe), type="custom_model")
            for check, operations, entity in (
                ("write environments", self.ml.environments, environment),
                ("write components", self.ml.components, component),  # its code is uploaded first
                ("write models", self.ml.models, model),
            ):
                what = f"register {check.removeprefix('write ')}"
                try:
                    await self.call(what, operations.create_or_update, entity)
                except BackendError as error:
                    failed = f"the identity could not {check}: {reason(error)}. Fix: {write_fix(error)}."
                    if check != "write components":
                        self.checks[check] = failed
                        continue
                    # a component's code is uploaded to storage first: say which of the two failed
                    code_failed = storage_refused(error) or "/codes/" in str(error)
                    self.checks[check] = "not checked: the code upload failed" if code_failed else failed
                    self.checks["write code"] = failed.replace(check, "write code") if code_failed else "ok"
                    continue
                self.checks[check] = f"ok ({entity.name}:{self.nonce}, archived below)"
                if check == "write components":
                    self.checks["write code"] = f"ok (a code snapshot for {entity.name}:{self.nonce})"
                self.probes.append((str(entity.name), operations))

    async def job(self) -> None:
        spec = RunSpec.model_validate(
            {
                "run_id": f"smoke-{self.nonce}",
                "kind": "job",
                "experiment_name": EXPERIMENT,
                "model_name": EXPERIMENT,
                "data_asset": DataAssetRef(name=SAMPLE_ASSET, version=SAMPLE_VERSION),
                "compute": self.options.compute,
                "tags": {"trainctl.smoke": "true"},
            }
        )
        try:
            submitted = await self.backend.submit(spec)
        except BackendError as error:
            self.checks["submit"] = (
                f"could not submit the smoke job: {reason(error)}. Fix: {write_fix(error)}."
            )
            return
        name = submitted.backend_job_name
        self.checks["submit"] = (
            f"ok ({name} on {self.options.compute}; {submitted.studio_url or 'no studio link'})"
        )
        state, started, waited = None, time.monotonic(), 0.0
        while (
            waited <= self.options.timeout_seconds
            and time.monotonic() - started <= self.options.timeout_seconds
        ):
            try:
                state = await self.backend.refresh(spec, name)
            except BackendError as error:
                if not error.transient:
                    self.checks["run"] = f"could not follow the smoke job {name}: {reason(error)}."
                    return
            if state is not None and state.raw_status in FINAL_RAW:
                break
            await self.sleep(POLL_SECONDS)
            waited += POLL_SECONDS
        raw = state.raw_status if state is not None else "unknown"
        if state is None or raw not in FINAL_RAW:
            await self._cancel(spec, name)
            self.checks["run"] = (
                f"the smoke job {name} did not finish within {self.options.timeout_seconds:g}s (last status "
                f"{raw}); it was canceled. Fix: the first job on a new environment version builds its image "
                "(often 10-20 minutes): run again with a longer --timeout; check that the cluster can scale "
                "up (quota, maximum nodes)."
            )
            return
        if raw != "Completed":
            why = state.error or raw
            self.checks["run"] = (
                f"the smoke job {name} ended {raw}: {why}. Fix: {run_fix(why, state.studio_url)}."
            )
            return
        took = (
            (state.ended_at - state.started_at).total_seconds()
            if state.ended_at and state.started_at
            else None
        )
        self.checks["run"] = f"ok (Completed{f' after {took:.0f}s running' if took is not None else ''})"
        await self.metrics({s.name: s.mlflow_run_id for s in state.steps if s.mlflow_run_id})

    async def _cancel(self, spec: RunSpec, name: str) -> None:
        with contextlib.suppress(BackendError):  # the run line reports it; the job ends at its limit
            await self.backend.cancel(spec, name)

    async def metrics(self, runs: dict[str, str]) -> None:
        try:
            found = (await self.backend.metrics(runs)).get(StepName.TRAIN, {})
        except Exception as error:  # MLflow raises its own exception types
            self.checks["metrics"] = (
                f"could not read the smoke job's metrics through the workspace's MLflow endpoint: "
                f"{reason(error)}. Fix: {ROLE} (MLflow reads), and keep azureml-mlflow installed."
            )
            return
        if "roc_auc" not in found:
            self.checks["metrics"] = f"the smoke job logged no roc_auc (found: {sorted(found) or 'nothing'})."
            return
        self.checks["metrics"] = (
            f"ok (roc_auc {found['roc_auc']:.3f}, accuracy {found.get('accuracy', 0):.3f})"
        )

    async def cleanup(self) -> None:
        archived, failed = [], []
        for name, operations in self.probes:
            try:
                await self.call(f"archive {name}", operations.archive, name, version=self.nonce)
                archived.append(name)
            except BackendError as error:
                failed.append(f"{name} ({reason(error)})")
        done = f"archived {', '.join(archived)} version {self.nonce}" if archived else "nothing to archive"
        left = f"; could not archive {', '.join(failed)}" if failed else ""
        self.checks["cleanup"] = (
            f"ok ({done}{left}; code snapshots cannot be deleted; the job stays in experiment {EXPERIMENT})"
        )


async def smoke(
    settings: Settings,
    options: SmokeOptions,
    *,
    credential: TokenCredential | None = None,
    transport: AnyTransport | None = None,
    mlflow_tracking_uri: str | None = None,
    components_dir: Path = COMPONENTS_DIR,
    sleep: Sleep = asyncio.sleep,
    nonce: str | None = None,
) -> ReadyReport:
    """The pre-flight's checks, then the smoke checks; ready when every line is ok."""
    report = await preflight(
        settings,
        credential=credential,
        transport=transport,
        compute=options.compute,
        components_dir=components_dir,
    )
    checks = dict(report.checks)
    later = (
        "data asset",
        "sample data",
        "write environments",
        "write components",
        "write code",
        "write models",
    )
    if "configuration" in checks or not all(checks[c].startswith("ok") for c in ("token", "workspace")):
        return ReadyReport(
            False, {**checks, **dict.fromkeys((*later, "submit", "run", "metrics"), NOT_CHECKED)}
        )
    credential = credential or build_credential(settings)
    backend = AzureMLBackend(
        settings,
        credential=credential,
        transport=transport,
        mlflow_tracking_uri=mlflow_tracking_uri,
        components_dir=components_dir,
    )
    ml = build_ml_client(settings, credential, transport)
    run = _Smoke(settings, options, backend, ml, sleep, nonce or secrets.token_hex(4))
    try:
        await run.data_asset()
        sample = await run.sample()
        await run.probes_written()
        if sample and checks["compute"] == "ok" and checks["environment"].startswith("ok"):
            await run.job()
        await run.cleanup()
    finally:
        run.calls.close()
        await backend.close()
    for name in ("submit", "run", "metrics"):
        run.checks.setdefault(name, NOT_CHECKED)
    checks.update(run.checks)
    return ReadyReport(all(v == "ok" or v.startswith("ok (") for v in checks.values()), checks)
