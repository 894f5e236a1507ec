"""The embedded default backend: the component YAML and scripts run on this machine.

Only the replica that leads runs the engine (its warm step runner, the MLflow store's
preparation, the steps); every replica on this machine reads what the steps left in the
shared data directory (metrics, artifacts, logs, the model registry).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from app.backends.local import mlflow_reader
from app.backends.local.engine import LocalEngine
from app.backends.local.layout import DataLayout
from app.backends.local.mlflow_store import prepare_store
from app.backends.local.runners import FreshInterpreterRunner, StepRunner, ZygoteRunner
from app.backends.local.stepcache import StepCache
from app.backends.local.warmup import warm_plan
from app.backends.protocol import BackendInfo, ReadyReport
from app.data_assets.service import DataAssets
from app.domain.outcome import Outcome
from app.domain.pipeline import COMPONENTS_DIR, DECISION, REGISTRATION, OutputFile, graph
from app.domain.spec import DataAssetRef, DataAssetSelector, RunSpec
from app.domain.state import ArtifactInfo, ModelSummaryInfo, RegisteredModelInfo, RunState, Submitted

log = logging.getLogger(__name__)


class LocalBackend:
    def __init__(
        self,
        layout: DataLayout,
        cache: StepCache,
        *,
        catalog: DataAssets | None = None,
        warm_runner: bool = True,
        max_parallel_steps: int = 2,
        components_dir: Path = COMPONENTS_DIR,
        sole_process: bool = False,
    ) -> None:
        self.layout = layout
        self.components_dir = components_dir
        self._warm = warm_runner
        self._sole_process = sole_process
        self._early_zygote: ZygoteRunner | None = None
        self._max_parallel = max_parallel_steps
        self._cache = cache
        self._catalog = catalog
        self._changed = asyncio.Event()
        self.runner: StepRunner = FreshInterpreterRunner()
        self.engine: LocalEngine | None = None
        self.runner_note = "not running here (this replica does not lead)"
        self.reader = mlflow_reader.MlflowReader(layout.tracking_uri)
        self._warm_task: asyncio.Task[None] | None = None
        self._stores_ready = asyncio.Event()
        self._store_error: str | None = None

    @property
    def kind(self) -> Literal["local"]:
        return "local"

    @property
    def poll_seconds(self) -> float:
        # The engine reports every change itself; polling only backs that up.
        return 1.0

    def _on_change(self, run_id: str) -> None:
        self._changed.set()

    async def start(self) -> None:
        self.layout.ensure()
        self._reader_ready()
        if self._sole_process and self._warm:
            self._early_zygote = await self._spawn_zygote()

    async def lead(self) -> None:
        """Returns at once; the stores are prepared and the zygote warmed in the background
        (steps wait for the stores)."""
        if self.engine is not None:
            return
        zygote = None
        self.runner_note = "fresh interpreter per step"
        if self._warm:
            zygote, self._early_zygote = self._early_zygote or await self._spawn_zygote(), None
            self.runner = zygote
            self.runner_note = "warm zygote (starting)"
        self.engine = LocalEngine(
            self.layout,
            self.runner,
            self._cache,
            components_dir=self.components_dir,
            max_parallel_steps=self._max_parallel,
            on_change=self._on_change,
            stores_ready=self._stores_ready,
            read_metrics=self.reader.metrics,
        )
        self._warm_task = asyncio.get_running_loop().create_task(self._prepare(zygote))

    async def _spawn_zygote(self) -> ZygoteRunner:
        scripts = sorted(self.components_dir.glob("*/src/*.py"))
        zygote = ZygoteRunner(
            scripts, self.layout.tracking_uri, self.layout.logs / "zygote.log", cwd=self.layout.root
        )
        await zygote.start()  # imports pandas/sklearn/mlflow in its own process meanwhile
        return zygote

    async def store_ready(self) -> None:
        """Seed the built-in sample data set on first start, so a newcomer can train at once."""
        if self._catalog is not None:
            await asyncio.to_thread(self._catalog.ensure_default)

    async def resolve_data_asset(self, selector: DataAssetSelector) -> DataAssetRef:
        if self._catalog is None:
            raise RuntimeError("the local backend was built without a data-asset catalog")
        return self._catalog.resolve(selector)

    async def check_computes(self, compute: str | None, step_compute: Mapping[str, str]) -> None:
        """Every step runs on this machine; computes are only recorded."""

    async def _prepare(self, zygote: ZygoteRunner | None) -> None:
        template = self.layout.runtime / "mlflow-empty.db"
        try:
            await asyncio.to_thread(
                prepare_store, self.layout.mlflow_db, template, self.layout.mlflow_artifacts
            )
        except Exception as error:  # steps then open the store themselves and report any error
            self._store_error = f"could not prepare the MLflow store: {error}"
            log.exception("preparing the MLflow store failed")
        finally:
            self._stores_ready.set()
            self.reader.store_prepared()
        if zygote is None:
            return
        steps = await asyncio.to_thread(
            warm_plan, self.layout.runtime / "warmup", self.components_dir, template
        )
        await zygote.warm(steps)
        await self._report_warm(zygote)

    async def _report_warm(self, zygote: ZygoteRunner) -> None:
        try:
            ready = await zygote.wait_ready()
        except RuntimeError as error:
            log.warning("warm step runner failed (%s); steps start fresh interpreters", error)
            self._fall_back()
            return
        if ready.get("warm_error") or ready.get("threads", 1) != 1:
            log.warning("warm step runner degraded: %s", ready)
        self.runner_note = f"warm zygote (warmed in {ready.get('warm_seconds')} s)"
        log.info("warm step runner ready: %s", ready)

    async def step_down(self) -> None:
        """Kill this replica's steps and its step runner; the new leader runs them again (a
        step that had finished is not: its record is in the shared store)."""
        await self.close(0.0)
        self.engine = None
        self._warm_task = None
        self.runner = FreshInterpreterRunner()
        self.runner_note = "not running here (another replica leads)"
        self._stores_ready = asyncio.Event()

    def _reader_ready(self) -> bool:
        """Followers read the MLflow store the leader prepared, once it exists."""
        if self.engine is None and self.layout.mlflow_db.is_file():
            self.reader.store_prepared()
            return True
        return self._stores_ready.is_set()

    def _fall_back(self) -> None:
        self.runner = FreshInterpreterRunner()
        self.runner_note = "fresh interpreter per step (warm runner unavailable)"
        if self.engine is not None:
            self.engine.runner = self.runner

    async def wait_warm(self) -> None:
        if isinstance(self.runner, ZygoteRunner):
            try:
                await self.runner.wait_ready()
            except RuntimeError:
                self._fall_back()

    async def close(self, grace_seconds: float = 0.0) -> None:
        if self.engine is not None:
            await self.engine.drain(grace_seconds)
            self._on_change("")  # let the reconciler record what finished while draining
            await self.engine.close()
        if self._warm_task is not None:
            self._warm_task.cancel()
        await self.runner.close()
        if self._early_zygote is not None:  # started, but this process never led
            await self._early_zygote.close()
            self._early_zygote = None

    def describe(self) -> BackendInfo:
        return BackendInfo(
            kind="local",
            details={"step_runner": self.runner_note, "max_parallel_steps": str(self._max_parallel)},
            private={"data_dir": str(self.layout.root), "mlflow_tracking_uri": self.layout.tracking_uri},
        )

    async def ready(self) -> ReadyReport:
        checks = {"data_dir": "ok" if self.layout.root.is_dir() else f"{self.layout.root} is missing"}
        checks["components"] = (
            "ok"
            if (self.components_dir / "train" / "train.yml").is_file()
            else (f"component definitions not found under {self.components_dir}")
        )
        if self.engine is not None:
            checks["mlflow_store"] = (
                self._store_error or "ok" if self._stores_ready.is_set() else "being prepared"
            )
        else:  # a follower: the leader prepares it
            checks["mlflow_store"] = "ok" if self._reader_ready() else "ok (the leading replica creates it)"
        checks["step_runner"] = self.runner_note
        ready = all(v.startswith("ok") for k, v in checks.items() if k != "step_runner")
        return ReadyReport(ready=ready, checks=checks)

    async def wait_for_change(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), self.poll_seconds)
        self._changed.clear()

    def _engine(self) -> LocalEngine:
        if self.engine is None:
            raise RuntimeError("backend not started")
        return self.engine

    async def submit(self, spec: RunSpec) -> Submitted:
        engine = self._engine()
        state = engine.submit(spec, graph(spec))
        return Submitted(backend_job_name=spec.run_id, raw_status=state.raw_status)

    async def refresh(self, spec: RunSpec, backend_job_name: str) -> RunState:
        engine = self._engine()
        if not engine.knows(spec.run_id):
            # Lost with a restart: resuming re-runs nothing that already finished in this run.
            engine.submit(spec, graph(spec))
        return engine.state(spec.run_id)

    async def cancel(self, spec: RunSpec, backend_job_name: str) -> None:
        await self._engine().cancel(spec.run_id)

    def release(self, run_id: str) -> None:
        self._engine().forget(run_id)

    async def metrics(self, step_mlflow_run_ids: dict[str, str]) -> dict[str, dict[str, float]]:
        self._reader_ready()
        return await asyncio.to_thread(self.reader.metrics, step_mlflow_run_ids)

    async def params(self, step_mlflow_run_ids: dict[str, str]) -> dict[str, dict[str, str]]:
        return await asyncio.to_thread(self.reader.params, step_mlflow_run_ids)

    async def artifacts(self, step_mlflow_run_ids: dict[str, str]) -> list[ArtifactInfo]:
        self._reader_ready()
        return await asyncio.to_thread(self.reader.artifacts, step_mlflow_run_ids)

    async def artifact(self, step_mlflow_run_ids: dict[str, str], path: str) -> Path:
        self._reader_ready()
        return await asyncio.to_thread(self.reader.artifact_file, step_mlflow_run_ids, path)

    async def logs(self, spec: RunSpec, backend_job_name: str, step: str) -> str:
        folder = self.layout.logs / spec.run_id
        # Exactly "<step>.<attempt>.log": a trial's log ("<step>.trial-03.1.log") is not its sweep's.
        attempts = sorted(
            (p for p in folder.glob(f"{step}.*.log") if p.name[len(step) + 1 : -4].isdigit()),
            key=lambda p: int(p.suffixes[-2][1:]),
        )
        if not attempts:
            raise KeyError(step)
        return "\n".join(p.read_text(errors="replace") for p in attempts)

    async def outcome(self, spec: RunSpec, backend_job_name: str) -> Outcome | None:
        if spec.kind != "pipeline":
            return None
        engine = self._engine()
        if not engine.knows(spec.run_id):
            return None
        decision = _read_json(engine, spec.run_id, DECISION)
        if decision is None:
            return None
        return Outcome.from_records(decision, _read_json(engine, spec.run_id, REGISTRATION), spec.model_name)

    async def model(self, name: str) -> RegisteredModelInfo | None:
        self._reader_ready()
        return await asyncio.to_thread(self.reader.model, name)

    async def models(self, after: str | None, limit: int) -> list[ModelSummaryInfo]:
        if not self.layout.mlflow_db.exists():
            return []  # nothing was ever registered on this machine
        return await asyncio.to_thread(self.reader.models, after, limit)


def _read_json(engine: LocalEngine, run_id: str, where: OutputFile) -> dict[str, Any] | None:
    folder = engine.outputs(run_id, where.step).get(where.output)
    if folder is None or not (folder / where.file).is_file():
        return None
    data: dict[str, Any] = json.loads((folder / where.file).read_text())
    return data
