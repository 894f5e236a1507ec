"""The local engine's scheduler: runs a run's steps in dependency order, independent ones in
parallel under one global limit, and handles cancel, drain and restart-resume.

Running one step (binding, reuse, its process) is ``stepexec.StepExecutor``'s job; a sweep node
(many trials, then the best) is ``sweepexec.SweepExecutor``'s.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from app.backends.local.execution import RunExecution
from app.backends.local.layout import DataLayout
from app.backends.local.mlflow_reader import MlflowReader
from app.backends.local.runners import StepRunner
from app.backends.local.stepcache import StepCache
from app.backends.local.stepexec import StepExecutor
from app.backends.local.sweepexec import ReadMetrics, SweepExecutor
from app.domain.pipeline import COMPONENTS_DIR, Step
from app.domain.spec import RunSpec
from app.domain.state import RunState, StepState, TrialState

log = logging.getLogger(__name__)


class LocalEngine:
    def __init__(
        self,
        layout: DataLayout,
        runner: StepRunner,
        cache: StepCache,
        *,
        components_dir: Path = COMPONENTS_DIR,
        max_parallel_steps: int = 2,
        on_change: Callable[[str], None] | None = None,
        stores_ready: asyncio.Event | None = None,
        read_metrics: ReadMetrics | None = None,
    ) -> None:
        self.layout = layout
        self._runs: dict[str, RunExecution] = {}
        self._on_change = on_change or (lambda run_id: None)
        self.executor = StepExecutor(
            layout,
            runner,
            cache,
            components_dir,
            max_parallel_steps=max_parallel_steps,
            on_change=self._changed,
            stores_ready=stores_ready,
        )
        if read_metrics is None:  # straight from MLflow's tables, once a trial has logged them
            reader = MlflowReader(layout.tracking_uri)
            reader.store_prepared()
            read_metrics = reader.metrics
        self.sweeps = SweepExecutor(self.executor, read_metrics)

    @property
    def runner(self) -> StepRunner:
        return self.executor.runner

    @runner.setter
    def runner(self, runner: StepRunner) -> None:
        self.executor.runner = runner

    # -- public -----------------------------------------------------------------------------

    def submit(self, spec: RunSpec, steps: tuple[Step, ...]) -> RunState:
        """Start (or, after a restart, resume) a run; a second call for a live run is a no-op."""
        if spec.run_id in self._runs:
            return self.state(spec.run_id)
        state = RunState(
            raw_status="NotStarted",
            steps=[StepState(s.name, "NotStarted") for s in steps],
            trials=[
                TrialState(t.name, "NotStarted", hyperparameters=dict(t.hyperparameters))
                for s in steps
                if s.sweep is not None
                for t in s.sweep.trials
            ],
        )
        execution = RunExecution(spec=spec, steps=steps, state=state)
        self._runs[spec.run_id] = execution
        execution.task = asyncio.get_running_loop().create_task(self._drive(execution))
        return self.state(spec.run_id)

    def knows(self, run_id: str) -> bool:
        return run_id in self._runs

    def state(self, run_id: str) -> RunState:
        state = self._runs[run_id].state
        return replace(
            state, steps=[replace(s) for s in state.steps], trials=[replace(t) for t in state.trials]
        )

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
        self.executor.draining = True
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

    async def _drive(self, execution: RunExecution) -> None:
        state = execution.state
        try:
            pending = {step.name: step for step in execution.steps}
            running: dict[str, asyncio.Task[bool | None]] = {}
            halted = False
            while pending or running:
                for name, step in list(pending.items()):
                    if step.depends_on.isdisjoint(pending) and step.depends_on.isdisjoint(running):
                        del pending[name]
                        work = self.sweeps.run if step.sweep is not None else self.executor.run
                        running[name] = asyncio.get_running_loop().create_task(work(execution, step))
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
                self.executor.record_champion_left(execution)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # an engine bug must still end the run with a reason
            log.exception("run %s crashed in the engine", execution.spec.run_id)
            state.raw_status = "Failed"
            state.error = f"internal error in the local engine: {error}"
        finally:
            if state.status.is_final:
                state.ended_at = datetime.now(UTC)
            self._changed(execution)

    @staticmethod
    def _skip_downstream(execution: RunExecution, pending: dict[str, Step], failed: str) -> None:
        blocked = {failed}
        changed = True
        while changed:
            changed = False
            for name, step in list(pending.items()):
                if step.depends_on & blocked:
                    blocked.add(name)
                    del pending[name]
                    state = execution.step(name)
                    state.raw_status = "Canceled"
                    state.error = f"not run: upstream step {failed} did not complete"
                    changed = True

    def _changed(self, execution: RunExecution) -> None:
        self._on_change(execution.spec.run_id)
