"""Reading runs: status (served from a per-run serialized body), long-poll, outcome, and what
the backend holds (metrics, artifacts, logs).

The serialized bodies are dropped on every change to their run: changes this process makes
(the store's listeners) and those other replicas make (the change feed). While the feed is
down, changes could go unheard, so the cache is not used at all.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from pathlib import Path
from typing import Protocol

from app.backends.protocol import TrainingBackend
from app.domain.errors import Conflict, InvalidInput, NotFinished, NotFound
from app.domain.state import ArtifactInfo
from app.domain.status import RunStatus
from app.lifecycle.events import RunEvents
from app.lifecycle.schemas import OutcomeRead, RunMetricsRead, StepMetrics, TrialMetrics
from app.lifecycle.views import outcome_read, run_read
from app.store.notify import Change, ChangeFeed
from app.store.run_sql import RunFilter
from app.store.runs import RunStore
from app.store.tables import RunRow

READ_CACHE_SIZE = 10_000
#: A long-poll reads its run again this often even without news: a safety net only, as every
#: change wakes it (more often while the change feed is down).
RECHECK_SECONDS = 5.0
RECHECK_SECONDS_FEED_DOWN = 0.5


def require_run(runs: RunStore, run_id: str) -> RunRow:
    row = runs.get(run_id)
    if row is None:
        raise NotFound(f"no training run {run_id!r}")
    return row


class TrialReader(Protocol):
    """A sweep's trials (``trials.TrialQueries``): their names and metrics."""

    def names(self, run_id: str) -> list[str]: ...

    async def metrics(self, row: RunRow) -> list[TrialMetrics]: ...


class RunQueries:
    def __init__(
        self,
        runs: RunStore,
        backend: TrainingBackend,
        events: RunEvents,
        trials: TrialReader | None = None,
        feed: ChangeFeed | None = None,
    ) -> None:
        self.runs = runs
        self.backend = backend
        self.events = events
        self.trials = trials
        self.feed = feed or ChangeFeed()
        self._read_cache: OrderedDict[str, bytes] = OrderedDict()
        runs.run_changed.append(self._forget_read)
        self.feed.subscribe(self._heard)

    def get(self, run_id: str) -> RunRow:
        return require_run(self.runs, run_id)

    def read_json(self, run_id: str) -> bytes:
        """The run's API body, serialized once per change: status polls are the hot path, and
        the store invalidates the entry on every committed change to the run."""
        if not self.feed.healthy:
            return run_read(self.get(run_id)).model_dump_json().encode()
        cached = self._read_cache.get(run_id)
        if cached is None:
            # No await from the read to the insert: an invalidation heard in between (the
            # feed runs on this event loop) cannot be overtaken by the stale body.
            cached = run_read(self.get(run_id)).model_dump_json().encode()
            self._read_cache[run_id] = cached
            if len(self._read_cache) > READ_CACHE_SIZE:
                self._read_cache.popitem(last=False)
        return cached

    def _forget_read(self, run_id: str) -> None:
        self._read_cache.pop(run_id, None)

    def _heard(self, change: Change) -> None:
        if change.kind == "resync":
            self._read_cache.clear()
        elif change.subject:
            self._read_cache.pop(change.subject, None)

    def page(
        self,
        *,
        status: RunStatus | None = None,
        kind: str | None = None,
        experiment_name: str | None = None,
        model_name: str | None = None,
        cursor: str | None = None,
        limit: int = 50,
    ) -> tuple[list[RunRow], str | None]:
        """Newest first; the second value is the cursor of the next (older) page, if any."""
        rows = self.runs.find(
            RunFilter(
                status=status.value if status else None,
                kind=kind,
                experiment_name=experiment_name,
                model_name=model_name,
                before_id=cursor,
                limit=limit + 1,
            )
        )
        page = rows[:limit]
        return page, page[-1].id if len(rows) > limit else None

    def count(
        self,
        *,
        status: RunStatus | None = None,
        kind: str | None = None,
        experiment_name: str | None = None,
        model_name: str | None = None,
    ) -> int:
        flt = RunFilter(
            status=status.value if status else None,
            kind=kind,
            experiment_name=experiment_name,
            model_name=model_name,
        )
        return self.runs.count(flt)

    async def wait(self, run_id: str, timeout: float) -> RunRow:
        """The run once it has ended, or as it is when ``timeout`` passes (or the service
        starts draining): whichever replica records the end, its change wakes this one."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        row = self.get(run_id)
        while not RunStatus(row.status).is_final and not self.events.closing:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            recheck = RECHECK_SECONDS if self.feed.healthy else RECHECK_SECONDS_FEED_DOWN
            await self.events.wait_changed(run_id, min(remaining, recheck))
            row = self.get(run_id)
        return row

    def outcome(self, run_id: str) -> OutcomeRead:
        row = self.get(run_id)
        if row.kind == "job":
            raise Conflict(
                f"run {run_id} is a job (train only): only pipeline runs evaluate and register a model"
            )
        if not RunStatus(row.status).is_final:
            raise NotFinished(
                f"run {run_id} is {row.status}; the outcome exists once it completes "
                f"(GET /v1/training-runs/{run_id}/wait blocks until then)"
            )
        if row.outcome is None:
            raise Conflict(
                f"run {run_id} ended {row.status} before a promotion decision: {row.error or 'no detail'}"
            )
        return outcome_read(row)

    @staticmethod
    def step_runs(row: RunRow) -> dict[str, str]:
        return {s.name: s.mlflow_run_id for s in row.steps if s.mlflow_run_id}

    async def metrics(self, run_id: str) -> RunMetricsRead:
        row = self.get(run_id)
        step_runs = self.step_runs(row)
        values = await self.backend.metrics(step_runs) if step_runs else {}
        return RunMetricsRead(
            run_id=run_id,
            steps=[
                StepMetrics(step=s.name, mlflow_run_id=s.mlflow_run_id, metrics=values.get(s.name, {}))
                for s in row.steps
            ],
            trials=await self.trials.metrics(row) if self.trials is not None else [],
        )

    async def artifacts(self, run_id: str) -> list[ArtifactInfo]:
        row = self.get(run_id)
        step_runs = self.step_runs(row)
        return await self.backend.artifacts(step_runs) if step_runs else []

    async def artifact(self, run_id: str, path: str) -> Path:
        row = self.get(run_id)
        missing = NotFound(
            f"run {run_id} has no artifact {path!r}; GET /v1/training-runs/{run_id}/artifacts lists them"
        )
        if "\0" in path:  # no file system takes it; answer like any other missing artifact
            raise missing
        try:
            return await self.backend.artifact(self.step_runs(row), path)
        except (KeyError, OSError, ValueError):  # absent, or a name the OS refuses
            raise missing from None

    async def logs(self, run_id: str, step: str) -> str:
        row = self.get(run_id)
        names = [s.name for s in row.steps]
        if step not in names and self.trials is not None and row.spec.sweep is not None:
            names += self.trials.names(run_id)  # a sweep's trials are steps of their own
        if step not in names:
            raise InvalidInput(
                f"run {run_id} has no step {step!r}", invalid=[("query.step", f"one of {names}")]
            )
        try:
            return await self.backend.logs(row.spec, row.backend_job_name or run_id, step)
        except KeyError:
            raise NotFound(f"step {step} of run {run_id} has no log yet") from None
