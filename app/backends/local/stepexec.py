"""Runs one step of a local run: binds its inputs, reuses an earlier execution when nothing it
depends on changed, or starts its process and records what it produced."""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

from app.backends.local import componentspec
from app.backends.local.champion import champion_version
from app.backends.local.execution import RunExecution
from app.backends.local.layout import DataLayout
from app.backends.local.reuse import FileDigests, file_digest, find_reusable, reuse_key
from app.backends.local.runners import StepProcess, StepRunner
from app.backends.local.stepcache import CacheEntry, StepCache
from app.backends.local.steplog import last_error_line, read_step_info
from app.domain.pipeline import FromDataAsset, FromStep, Step

log = logging.getLogger(__name__)

#: Called just before a step's process starts; returns extra environment for it.
Prepare = Callable[[], Awaitable[dict[str, str]]]


def _now() -> datetime:
    return datetime.now(UTC)


class StepExecutor:
    def __init__(
        self,
        layout: DataLayout,
        runner: StepRunner,
        cache: StepCache,
        components_dir: Path,
        *,
        max_parallel_steps: int,
        on_change: Callable[[RunExecution], None],
        stores_ready: asyncio.Event | None,
    ) -> None:
        self.layout = layout
        self.runner = runner
        self.cache = cache
        self.components_dir = components_dir
        self.draining = False
        self._slots = asyncio.Semaphore(max_parallel_steps)
        self._exclusive: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self.changed = on_change
        # Steps wait for this before launching: the MLflow database must exist (and be migrated
        # by exactly one process) before any step opens it.
        self._stores_ready = stores_ready
        self._digests = FileDigests()

    async def run(
        self,
        execution: RunExecution,
        step: Step,
        *,
        prepare: Prepare | None = None,
        timeout: float | None = None,
        reuse: bool = True,
    ) -> bool | None:
        """True when the step completed, False when it failed or was canceled, None when the
        engine is shutting down and did not start it. ``prepare`` runs just before the step's
        process starts (not when it is reused) and returns extra environment for it;
        ``timeout`` kills a step that runs longer."""
        if step.exclusive is None:
            return await self._run(execution, step, prepare, timeout, reuse)
        async with self._exclusive[step.exclusive]:
            return await self._run(execution, step, prepare, timeout, reuse)

    async def _run(
        self, execution: RunExecution, step: Step, prepare: Prepare | None, timeout: float | None, reuse: bool
    ) -> bool | None:
        state = execution.step(step.name)
        if self.draining:
            return None
        if execution.canceled:
            state.raw_status = "Canceled"
            return False
        component = componentspec.load(step.component_file(self.components_dir))
        literals, paths = self._bind_inputs(execution, step)
        key = self._reuse_key(component, literals, paths, execution)

        reusable = (
            find_reusable(self.cache, execution.spec, step, component, key, self.layout.mlflow_db)
            if reuse
            else None
        )
        if reusable is not None:
            entry, reused = reusable
            self._adopt(execution, step, entry, reused=reused)
            return True

        if self._stores_ready is not None:
            await self._stores_ready.wait()
        async with self._slots:
            if self.draining:
                return None
            if execution.canceled:
                state.raw_status = "Canceled"
                return False
            env = await prepare() if prepare is not None else {}
            return await self._execute(execution, step, component, literals, paths, key, env, timeout)

    async def launch_helper(
        self, execution: RunExecution, name: str, script: Path, argv: list[str]
    ) -> tuple[int, Path]:
        """Run an engine helper script (not a component) the way a step runs: its own process,
        log and step-info file, killed by cancel. Returns its exit code and its info file."""
        spec = execution.spec
        attempt = self.layout.next_attempt(spec.run_id, name)
        workdir = self.layout.step_dir(spec.run_id, name, attempt)
        workdir.mkdir(parents=True, exist_ok=True)
        log_path = self.layout.step_log(spec.run_id, name, attempt)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        info_path = workdir / "step_info.json"
        process = StepProcess(
            key=f"{spec.run_id}/{name}/{attempt}",
            script=script,
            argv=argv,
            env=self.layout.step_env(spec.experiment_name, spec.run_id, name, info_path),
            cwd=self.layout.root,
            log_path=log_path,
        )
        try:
            handle = await self.runner.launch(process)
        except RuntimeError:
            return -1, info_path
        execution.handles[name] = handle
        try:
            return await handle.exited, info_path
        finally:
            execution.handles.pop(name, None)

    def _bind_inputs(self, execution: RunExecution, step: Step) -> tuple[dict[str, str], dict[str, Path]]:
        literals: dict[str, str] = {}
        paths: dict[str, Path] = {}
        for name, binding in step.inputs.items():
            if isinstance(binding, FromStep):
                paths[name] = execution.outputs[binding.step][binding.output]
            elif isinstance(binding, FromDataAsset):
                if execution.spec.data_asset.path is None:
                    raise ValueError("the local engine needs the data asset's file")
                paths[name] = execution.spec.data_asset.path
            else:
                literals[name] = componentspec.render(binding)
        return literals, paths

    def _reuse_key(
        self,
        component: componentspec.ComponentSpec,
        literals: dict[str, str],
        paths: dict[str, Path],
        execution: RunExecution,
    ) -> str:
        # An upstream output's digest was taken when that step finished; files are hashed once.
        known = {
            path: execution.digests[step][name]
            for step, outputs in execution.outputs.items()
            for name, path in outputs.items()
        }
        digests = {name: known.get(path) or self._digests.of(path) for name, path in paths.items()}
        return reuse_key(component, literals, digests)

    def _adopt(self, execution: RunExecution, step: Step, entry: CacheEntry, *, reused: bool) -> None:
        state = execution.step(step.name)
        outputs_root = Path(entry.outputs_dir)
        execution.outputs[step.name] = {name: outputs_root / name for name in entry.output_digests}
        execution.digests[step.name] = dict(entry.output_digests)
        now = _now()
        if reused:  # another run's outputs: this run spent no time on the step
            state.started_at, state.ended_at = state.started_at or now, now
        else:  # this run's own step, finished before a restart: keep when it really ran
            state.started_at = entry.started_at or state.started_at or now
            state.ended_at = entry.created_at or now
        state.reused = reused
        state.exit_code = 0
        state.mlflow_run_id = entry.mlflow_run_id
        state.backend_job_name = entry.run_id if reused else execution.spec.run_id
        state.raw_status = "Completed"
        if execution.state.started_at is None:
            execution.state.started_at = now
            execution.state.raw_status = "Running"
        self.changed(execution)

    async def _execute(
        self,
        execution: RunExecution,
        step: Step,
        component: componentspec.ComponentSpec,
        literals: dict[str, str],
        paths: dict[str, Path],
        key: str,
        extra_env: dict[str, str],
        timeout: float | None,
    ) -> bool | None:
        spec, state = execution.spec, execution.step(step.name)
        attempt = self.layout.next_attempt(spec.run_id, step.name)
        workdir = self.layout.step_dir(spec.run_id, step.name, attempt)
        outputs_root = workdir / "outputs"
        shutil.rmtree(workdir, ignore_errors=True)
        outputs = {name: outputs_root / name for name in component.outputs}
        for path in outputs.values():
            path.mkdir(parents=True)
        log_path = self.layout.step_log(spec.run_id, step.name, attempt)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        info_path = workdir / "step_info.json"
        argv = component.resolve(
            {**literals, **{k: str(v) for k, v in paths.items()}},
            {k: str(v) for k, v in outputs.items()},
        )
        champion_seen = (
            champion_version(self.layout.mlflow_db, spec.model_name) if step.reads_champion else None
        )
        process = StepProcess(
            key=f"{spec.run_id}/{step.name}/{attempt}",
            script=component.script,
            argv=argv,
            env={
                **self.layout.step_env(spec.experiment_name, spec.run_id, step.name, info_path),
                **extra_env,
            },
            cwd=self.layout.root,
            log_path=log_path,
        )
        # A sweep's own step started with its first trial: keep that time.
        state.started_at = state.started_at or _now()
        state.raw_status = "Running"
        if execution.state.started_at is None:
            execution.state.started_at = state.started_at
        execution.state.raw_status = "Running"
        self.changed(execution)
        timed_out = False
        try:
            handle = await self.runner.launch(process)
            execution.handles[step.name] = handle
            if execution.canceled:  # canceled while the step was being started
                handle.kill()
            try:
                code = await asyncio.wait_for(asyncio.shield(handle.exited), timeout)
            except TimeoutError:
                timed_out = True
                handle.kill()
                code = await handle.exited
        except RuntimeError as error:
            code = -1
            with log_path.open("a") as out:
                out.write(f"\nerror: {error}\n")
        finally:
            execution.handles.pop(step.name, None)
        if self.draining and code != 0:
            return None  # killed at shutdown: it runs again at the next start
        state.ended_at = _now()
        state.exit_code = code
        state.mlflow_run_id = read_step_info(info_path)
        if execution.canceled:
            state.raw_status = "Canceled"
            state.error = "canceled"
            return False
        if code != 0:
            state.raw_status = "Failed"
            state.error = (
                f"timed out after {timeout:g} s"
                if timed_out and timeout is not None
                else last_error_line(log_path) or f"exited with code {code}"
            )
            return False
        digests = {name: file_digest(path) for name, path in outputs.items()}
        execution.outputs[step.name] = outputs
        execution.digests[step.name] = digests
        self.cache.put(
            CacheEntry(
                key=key,
                run_id=spec.run_id,
                step=step.name,
                outputs_dir=str(outputs_root),
                output_digests=digests,
                log_path=str(log_path),
                mlflow_run_id=state.mlflow_run_id,
                reads_champion=step.reads_champion,
                champion_seen=champion_seen,
                started_at=state.started_at,
                created_at=state.ended_at,
            )
        )
        state.raw_status = "Completed"
        state.backend_job_name = spec.run_id
        self.changed(execution)
        return True

    def record_champion_left(self, execution: RunExecution) -> None:
        """A completed run's champion-reading steps may be reused while this champion lasts."""
        if any(step.reads_champion for step in execution.steps):
            left = champion_version(self.layout.mlflow_db, execution.spec.model_name)
            self.cache.set_champion_left(execution.spec.run_id, left)
