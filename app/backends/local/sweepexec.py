"""Runs a sweep node of the graph on this machine: its trials as steps of their own, in
parallel (up to ``max_concurrent_trials`` and the engine's step limit), then the best trial
again, in full, as the sweep's own step, whose outputs the steps downstream read.

Trials are light (no plots, no model files): only the kept candidate pays for those. Each trial
is its own MLflow run nested under the sweep's run (``mlflow.parentRunId``), which is opened
just before the first trial that actually runs and which the kept candidate then logs into. A
trial is reused like any step; a failed trial does not fail the sweep unless every trial fails.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from app.backends.local.execution import RunExecution
from app.backends.local.stepexec import StepExecutor
from app.backends.local.steplog import read_step_info
from app.domain.pipeline import Step, SweepPlan
from app.domain.state import StepState, TrialState

log = logging.getLogger(__name__)

PARENT_SCRIPT = Path(__file__).parent / "scripts" / "sweepparent.py"
ReadMetrics = Callable[[dict[str, str]], dict[str, dict[str, float]]]


class SweepParent:
    """The sweep's MLflow run, opened once, on first need."""

    def __init__(self, steps: StepExecutor, execution: RunExecution, step: Step, plan: SweepPlan) -> None:
        self._steps, self._execution, self._step, self._plan = steps, execution, step, plan
        self._lock = asyncio.Lock()
        self.run_id: str | None = None
        self._tried = False

    async def ensure(self) -> str | None:
        async with self._lock:
            if not self._tried:
                self._tried = True
                self.run_id = await self._open()
            return self.run_id

    async def _open(self) -> str | None:
        options = self._plan.options
        tags = {
            "trainctl.sweep.sampling": options.sampling,
            "trainctl.sweep.objective": f"{options.objective.goal} {options.objective.metric}",
            "trainctl.sweep.trials": str(len(self._plan.trials)),
            "trainctl.sweep.search_space": json.dumps(
                {k: v.model_dump(mode="json") for k, v in options.search_space.items()}
            ),
        }
        name = f"{self._step.name}.sweep"
        argv = [self._step.name, json.dumps(tags)]
        code, info = await self._steps.launch_helper(self._execution, name, PARENT_SCRIPT, argv)
        run_id = read_step_info(info) if code == 0 else None
        if run_id is None:  # the trials still run; they just are not grouped in MLflow's UI
            log.warning(
                "run %s: could not open the sweep's MLflow run (exit %s)", self._execution.spec.run_id, code
            )
        return run_id

    async def trial_env(self) -> dict[str, str]:
        run_id = await self.ensure()
        return {"TRAINCTL_PARENT_RUN_ID": run_id} if run_id else {}

    async def kept_env(self) -> dict[str, str]:
        run_id = await self.ensure()
        return {"MLFLOW_RUN_ID": run_id} if run_id else {}


class SweepExecutor:
    def __init__(self, steps: StepExecutor, read_metrics: ReadMetrics) -> None:
        self.steps = steps
        self.read_metrics = read_metrics

    async def run(self, execution: RunExecution, step: Step) -> bool | None:
        """Like ``StepExecutor.run`` for the sweep's own step."""
        plan = step.sweep
        assert plan is not None, "a sweep node"
        state = execution.step(step.name)
        if self.steps.draining:
            return None
        if execution.canceled:
            state.raw_status = "Canceled"
            return False
        state.started_at = state.started_at or datetime.now(UTC)
        state.raw_status = "Running"
        execution.state.started_at = execution.state.started_at or state.started_at
        execution.state.raw_status = "Running"
        self.steps.changed(execution)

        parent = SweepParent(self.steps, execution, step, plan)
        concurrent = asyncio.Semaphore(plan.options.max_concurrent_trials)
        trials = {t.name: t for t in plan.trials}

        async def one(name: str) -> bool | None:
            async with concurrent:
                candidate = step.candidate(name, trials[name].hyperparameters, light=True)
                ok = await self.steps.run(
                    execution, candidate, prepare=parent.trial_env, timeout=plan.options.trial_timeout_s
                )
            if ok:
                await self._score(execution, plan, name)
            return ok

        results = await asyncio.gather(*(one(name) for name in trials))
        if any(r is None for r in results):
            return None  # shutting down: the trials that finished are reused at the next start
        if execution.canceled:
            state.raw_status, state.error = "Canceled", "canceled"
            return False
        states = [execution.trial(name) for name in trials]
        best = self._best(plan, states)
        if best is None:
            self._all_failed(state, states)
            return False
        best.best = True
        self.steps.changed(execution)
        kept = step.candidate(step.name, trials[best.name].hyperparameters, light=False)
        # With a sweep run of its own, the kept candidate runs again and logs into it; otherwise
        # (every trial reused) it may be reused like any step.
        ok = await self.steps.run(execution, kept, prepare=parent.kept_env, reuse=parent.run_id is None)
        if ok:
            state.reused = state.reused and all(t.reused for t in states)
        return ok

    async def _score(self, execution: RunExecution, plan: SweepPlan, name: str) -> None:
        trial = execution.trial(name)
        if trial.mlflow_run_id is None:
            return
        try:
            found = await asyncio.to_thread(self.read_metrics, {name: trial.mlflow_run_id})
        except Exception:  # a trial without a score is left out of the choice, not fatal
            log.exception("run %s: reading the metrics of %s failed", execution.spec.run_id, name)
            return
        trial.metrics = found.get(name, {})
        trial.objective = trial.metrics.get(plan.options.objective.metric)
        self.steps.changed(execution)

    @staticmethod
    def _best(plan: SweepPlan, states: list[TrialState]) -> TrialState | None:
        objective = plan.options.objective
        scored = [t for t in states if t.raw_status == "Completed" and objective.rank(t.objective)[0] == 0]
        # sorted() is stable: of equal scores the earlier trial wins, the same every time.
        return sorted(scored, key=lambda t: objective.rank(t.objective))[0] if scored else None

    @staticmethod
    def _all_failed(state: StepState, states: list[TrialState]) -> None:
        failed = [t for t in states if t.raw_status == "Failed"]
        state.raw_status = "Failed"
        state.ended_at = datetime.now(UTC)
        if failed:
            first = failed[0]
            state.error = f"all {len(states)} trials failed; {first.name}: {first.error}"
        else:
            state.error = f"no trial of {len(states)} logged a score to rank by"
