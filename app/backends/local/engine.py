"""The local engine: runs a job or pipeline graph step by step, each step its own process.

Steps run in dependency order, independent ones in parallel, under one global limit of running
steps. A step whose component code, command, parameters and input contents are unchanged reuses
the outputs of its earlier execution (Azure ML's ``is_deterministic`` reuse, done here).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from app.backends.base import RunSpec, RunState, StepState
from app.backends.local import componentspec
from app.backends.local.champion import champion_version
from app.backends.local.layout import DataLayout
from app.backends.local.pipeline import FromFile, FromStep, StepPlan
from app.backends.local.reuse import FileDigests, file_digest, find_reusable, reuse_key
from app.backends.local.runners import Handle, StepProcess, StepRunner
from app.backends.local.stepcache import CacheEntry, StepCache
from app.backends.local.steplog import last_error_line, read_step_info

log = logging.getLogger(__name__)


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class _Execution:
    spec: RunSpec
    plan: list[StepPlan]
    state: RunState
    outputs: dict[str, dict[str, Path]] = field(default_factory=dict)  # step -> output -> path
    digests: dict[str, dict[str, str]] = field(default_factory=dict)
    handles: dict[str, Handle] = field(default_factory=dict)
    canceled: bool = False
    task: asyncio.Task[None] | None = None

    def step(self, name: str) -> StepState:
        return next(s for s in self.state.steps if s.name == name)


class LocalEngine:
    def __init__(
        self,
        layout: DataLayout,
        runner: StepRunner,
        cache: StepCache,
        *,
        max_parallel_steps: int = 2,
        on_change: Callable[[str], None] | None = None,
        stores_ready: asyncio.Event | None = None,
    ) -> None:
        self.layout = layout
        self.runner = runner
        self.cache = cache
        self._slots = asyncio.Semaphore(max_parallel_steps)
        self._runs: dict[str, _Execution] = {}
        self._on_change = on_change or (lambda run_id: None)
        self._draining = False
        self._exclusive: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        # Steps wait for this before launching: the MLflow database must exist (and be migrated
        # by exactly one process) before any step opens it.
        self._stores_ready = stores_ready
        self._digests = FileDigests()

    # -- public -----------------------------------------------------------------------------

    def submit(self, spec: RunSpec, plan: list[StepPlan]) -> RunState:
        """Start (or, after a restart, resume) a run; a second call for a live run is a no-op."""
        existing = self._runs.get(spec.run_id)
        if existing is not None:
            return self.state(spec.run_id)
        state = RunState(raw_status="NotStarted", steps=[StepState(p.name, "NotStarted") for p in plan])
        execution = _Execution(spec=spec, plan=plan, state=state)
        self._runs[spec.run_id] = execution
        execution.task = asyncio.get_running_loop().create_task(self._drive(execution))
        return self.state(spec.run_id)

    def knows(self, run_id: str) -> bool:
        return run_id in self._runs

    def state(self, run_id: str) -> RunState:
        state = self._runs[run_id].state
        return replace(state, steps=[replace(s) for s in state.steps])

    def outputs(self, run_id: str, step: str) -> dict[str, Path]:
        return dict(self._runs[run_id].outputs.get(step, {}))

    async def cancel(self, run_id: str) -> None:
        execution = self._runs.get(run_id)
        if execution is None or execution.state.status.is_final:
            return
        execution.canceled = True
        for handle in list(execution.handles.values()):
            handle.kill()
        self._changed(execution)
        if execution.task is not None:
            # Usually over in milliseconds; the reconciler records the end whenever it comes.
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait({execution.task}, timeout=2)

    async def wait(self, run_id: str) -> RunState:
        task = self._runs[run_id].task
        if task is not None:
            await asyncio.shield(task)
        return self.state(run_id)

    def forget(self, run_id: str) -> None:
        """Drop a finished run from memory; the store keeps its record."""
        execution = self._runs.get(run_id)
        if execution is not None and execution.state.status.is_final:
            del self._runs[run_id]

    async def drain(self, grace_seconds: float) -> None:
        """Start no new step; give running ones ``grace_seconds`` to finish, then kill them.
        Runs left unfinished stay non-final in the store and resume at the next start."""
        self._draining = True
        # Wait on the runs, not on the step processes: a step being launched right now has no
        # process handle yet, and must still be let finish.
        tasks = [e.task for e in self._runs.values() if e.task is not None and not e.task.done()]
        if tasks and grace_seconds > 0:
            await asyncio.wait(tasks, timeout=grace_seconds)
        for execution in self._runs.values():
            for handle in list(execution.handles.values()):
                handle.kill()
        tasks = [t for t in tasks if not t.done()]
        if tasks:
            await asyncio.wait(tasks, timeout=5)

    async def close(self) -> None:
        for execution in self._runs.values():
            if execution.task is not None and not execution.task.done():
                execution.task.cancel()
        await asyncio.gather(
            *(e.task for e in self._runs.values() if e.task is not None), return_exceptions=True
        )

    # -- driving a run ----------------------------------------------------------------------

    async def _drive(self, execution: _Execution) -> None:
        state = execution.state
        try:
            pending = {p.name: p for p in execution.plan}
            running: dict[str, asyncio.Task[bool | None]] = {}
            halted = False
            while pending or running:
                for name, plan in list(pending.items()):
                    if plan.depends_on.isdisjoint(pending) and plan.depends_on.isdisjoint(running):
                        del pending[name]
                        running[name] = asyncio.get_running_loop().create_task(
                            self._run_step(execution, plan)
                        )
                if not running:
                    break
                done, _ = await asyncio.wait(running.values(), return_when=asyncio.FIRST_COMPLETED)
                for name in [n for n, t in running.items() if t in done]:
                    ok = running.pop(name).result()
                    if ok is None or halted:  # shutting down: leave the rest for the next start
                        halted = True
                        pending.clear()
                    elif not ok:
                        self._skip_downstream(execution, pending, name)
            failed = [s for s in state.steps if s.raw_status == "Failed"]
            if halted:
                return
            if execution.canceled:
                state.raw_status = "Canceled"
            elif failed:
                state.raw_status = "Failed"
                state.error = f"step {failed[0].name} failed: {failed[0].error}"
            else:
                state.raw_status = "Completed"
                self._record_champion_left(execution)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # an engine bug must still end the run with a reason
            log.exception("run %s crashed in the engine", execution.spec.run_id)
            state.raw_status = "Failed"
            state.error = f"internal error in the local engine: {error}"
        finally:
            if state.status.is_final:
                state.ended_at = _now()
            self._changed(execution)

    def _skip_downstream(self, execution: _Execution, pending: dict[str, StepPlan], failed: str) -> None:
        blocked = {failed}
        changed = True
        while changed:
            changed = False
            for name, plan in list(pending.items()):
                if plan.depends_on & blocked:
                    blocked.add(name)
                    del pending[name]
                    step = execution.step(name)
                    step.raw_status = "Canceled"
                    step.error = f"not run: upstream step {failed} did not complete"
                    changed = True

    def _changed(self, execution: _Execution) -> None:
        self._on_change(execution.spec.run_id)

    # -- one step ---------------------------------------------------------------------------

    async def _run_step(self, execution: _Execution, plan: StepPlan) -> bool | None:
        """True when the step completed, False when it failed or was canceled, None when the
        engine is shutting down and did not start it."""
        if plan.exclusive is None:
            return await self._run_step_unlocked(execution, plan)
        async with self._exclusive[plan.exclusive]:
            return await self._run_step_unlocked(execution, plan)

    async def _run_step_unlocked(self, execution: _Execution, plan: StepPlan) -> bool | None:
        step = execution.step(plan.name)
        if self._draining:
            return None
        if execution.canceled:
            step.raw_status = "Canceled"
            return False
        component = componentspec.load(plan.component)
        literals, paths = self._bind_inputs(execution, plan)
        key = self._reuse_key(component, literals, paths, execution)

        reusable = self._find_reusable(execution, plan, key)
        if reusable is not None:
            entry, reused = reusable
            self._adopt(execution, plan, entry, reused=reused)
            return True

        if self._stores_ready is not None:
            await self._stores_ready.wait()
        async with self._slots:
            if self._draining:
                return None
            if execution.canceled:
                step.raw_status = "Canceled"
                return False
            return await self._execute(execution, plan, component, literals, paths, key)

    def _bind_inputs(self, execution: _Execution, plan: StepPlan) -> tuple[dict[str, str], dict[str, Path]]:
        literals: dict[str, str] = {}
        paths: dict[str, Path] = {}
        for name, binding in plan.inputs.items():
            if isinstance(binding, FromStep):
                paths[name] = execution.outputs[binding.step][binding.output]
            elif isinstance(binding, FromFile):
                paths[name] = binding.path
            else:
                literals[name] = binding
        return literals, paths

    def _reuse_key(
        self,
        component: componentspec.ComponentSpec,
        literals: dict[str, str],
        paths: dict[str, Path],
        execution: _Execution,
    ) -> str:
        # An upstream output's digest was taken when that step finished; files are hashed once.
        known = {
            path: execution.digests[step][name]
            for step, outputs in execution.outputs.items()
            for name, path in outputs.items()
        }
        digests = {name: known.get(path) or self._digests.of(path) for name, path in paths.items()}
        return reuse_key(component, literals, digests)

    def _find_reusable(
        self, execution: _Execution, plan: StepPlan, key: str
    ) -> tuple[CacheEntry, bool] | None:
        return find_reusable(self.cache, execution.spec, plan, key, self.layout.mlflow_db)

    def _adopt(self, execution: _Execution, plan: StepPlan, entry: CacheEntry, *, reused: bool) -> None:
        step = execution.step(plan.name)
        outputs_root = Path(entry.outputs_dir)
        execution.outputs[plan.name] = {name: outputs_root / name for name in entry.output_digests}
        execution.digests[plan.name] = dict(entry.output_digests)
        now = _now()
        step.started_at = step.started_at or now
        step.ended_at = now
        step.reused = reused
        step.exit_code = 0
        step.mlflow_run_id = entry.mlflow_run_id
        step.backend_job_name = entry.run_id if reused else execution.spec.run_id
        step.raw_status = "Completed"
        if execution.state.started_at is None:
            execution.state.started_at = now
            execution.state.raw_status = "Running"
        self._changed(execution)

    async def _execute(
        self,
        execution: _Execution,
        plan: StepPlan,
        component: componentspec.ComponentSpec,
        literals: dict[str, str],
        paths: dict[str, Path],
        key: str,
    ) -> bool | None:
        spec, step = execution.spec, execution.step(plan.name)
        attempt = self.layout.next_attempt(spec.run_id, plan.name)
        workdir = self.layout.step_dir(spec.run_id, plan.name, attempt)
        outputs_root = workdir / "outputs"
        shutil.rmtree(workdir, ignore_errors=True)
        outputs = {name: outputs_root / name for name in component.outputs}
        for path in outputs.values():
            path.mkdir(parents=True)
        log_path = self.layout.step_log(spec.run_id, plan.name, attempt)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        info_path = workdir / "step_info.json"
        argv = component.resolve(
            {**literals, **{k: str(v) for k, v in paths.items()}},
            {k: str(v) for k, v in outputs.items()},
        )
        champion_seen = (
            champion_version(self.layout.mlflow_db, spec.model_name) if plan.reads_champion else None
        )
        process = StepProcess(
            key=f"{spec.run_id}/{plan.name}/{attempt}",
            script=component.script,
            argv=argv,
            env=self.layout.step_env(spec.experiment_name, spec.run_id, plan.name, info_path),
            cwd=self.layout.root,
            log_path=log_path,
        )
        step.started_at = _now()
        step.raw_status = "Running"
        if execution.state.started_at is None:
            execution.state.started_at = step.started_at
        execution.state.raw_status = "Running"
        self._changed(execution)
        try:
            handle = await self.runner.launch(process)
            execution.handles[plan.name] = handle
            if execution.canceled:  # canceled while the step was being started
                handle.kill()
            code = await handle.exited
        except RuntimeError as error:
            code = -1
            log_path.open("a").write(f"\nerror: {error}\n")
        finally:
            execution.handles.pop(plan.name, None)
        if self._draining and code != 0:
            return None  # killed at shutdown: it runs again at the next start
        step.ended_at = _now()
        step.exit_code = code
        step.mlflow_run_id = read_step_info(info_path)
        if execution.canceled:
            step.raw_status = "Canceled"
            step.error = "canceled"
            return False
        if code != 0:
            step.raw_status = "Failed"
            step.error = last_error_line(log_path) or f"exited with code {code}"
            return False
        digests = {name: file_digest(path) for name, path in outputs.items()}
        execution.outputs[plan.name] = outputs
        execution.digests[plan.name] = digests
        self.cache.put(
            CacheEntry(
                key=key,
                run_id=spec.run_id,
                step=plan.name,
                outputs_dir=str(outputs_root),
                output_digests=digests,
                log_path=str(log_path),
                mlflow_run_id=step.mlflow_run_id,
                reads_champion=plan.reads_champion,
                champion_seen=champion_seen,
                created_at=step.ended_at,
            )
        )
        step.raw_status = "Completed"
        step.backend_job_name = spec.run_id
        self._changed(execution)
        return True

    def _record_champion_left(self, execution: _Execution) -> None:
        if any(p.reads_champion for p in execution.plan):
            left = champion_version(self.layout.mlflow_db, execution.spec.model_name)
            self.cache.set_champion_left(execution.spec.run_id, left)
