"""The background loop that moves runs forward: the only writer of run state after submission.

It hands queued runs to the backend, copies the backend's view of each active run into the
store, and on the final state records the outcome, the champion history and any callback.
Transient backend errors (throttling, timeouts, 5xx) back off per run and never fail a run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from app.backends.base import (
    REGISTER_STEP,
    BackendError,
    Outcome,
    RunState,
    RunStatus,
    TrainingBackend,
)
from app.runs.events import RunEvents
from app.runs.mapping import outcome_record
from app.runs.service import RunsService
from app.store.repository import Repository, utcnow
from app.store.tables import ChampionEventRow, RunRow

log = logging.getLogger(__name__)

FinishedHook = Callable[[RunRow], Awaitable[None]]


class Reconciler:
    def __init__(
        self,
        repo: Repository,
        backend: TrainingBackend,
        runs: RunsService,
        events: RunEvents,
        *,
        poll_seconds: float,
        on_finished: list[FinishedHook] | None = None,
    ) -> None:
        self.repo = repo
        self.backend = backend
        self.runs = runs
        self.events = events
        self.poll_seconds = poll_seconds
        self.on_finished = on_finished or []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._retry_at: dict[str, float] = {}
        self._failures: dict[str, int] = {}
        self._parallel = asyncio.Semaphore(8)

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="reconciler")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        # One last pass records whatever finished while the backend drained.
        with contextlib.suppress(Exception):
            await self.pass_once(submit=False)

    async def _loop(self) -> None:
        while True:
            try:
                await self.pass_once()
            except Exception:  # the loop must outlive any single bad pass
                log.exception("reconciler pass failed")
            waiters = {asyncio.ensure_future(self._wait_backend()), asyncio.ensure_future(self._wake.wait())}
            try:
                await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiter in waiters:
                    waiter.cancel()
                await asyncio.gather(*waiters, return_exceptions=True)
            self._wake.clear()

    async def _wait_backend(self) -> None:
        wait_for_change = getattr(self.backend, "wait_for_change", None)
        if wait_for_change is not None:
            await wait_for_change(self.poll_seconds)
        else:
            await asyncio.sleep(self.poll_seconds)

    async def pass_once(self, *, submit: bool = True) -> None:
        now = time.monotonic()
        active = [
            r
            for r in self.repo.active_runs()
            if self._retry_at.get(r.id, 0) <= now and (submit or r.backend_job_name is not None)
        ]
        await asyncio.gather(*(self._reconcile(row) for row in active))

    async def _reconcile(self, row: RunRow) -> None:
        async with self._parallel:
            try:
                await self._advance(row)
                self._failures.pop(row.id, None)
                self._retry_at.pop(row.id, None)
            except BackendError as error:
                if error.transient:
                    self._back_off(row.id, error)
                else:
                    await self._end(row, RunStatus.FAILED, "Failed", str(error))

    def _back_off(self, run_id: str, error: Exception) -> None:
        failures = self._failures.get(run_id, 0) + 1
        self._failures[run_id] = failures
        delay = min(60.0, self.poll_seconds * 2**failures)
        self._retry_at[run_id] = time.monotonic() + delay
        log.warning("run %s: transient backend error (%s); retrying in %.1f s", run_id, error, delay)

    async def _advance(self, row: RunRow) -> None:
        spec = self.runs.spec(row)
        job_name = row.backend_job_name
        if job_name is None:
            submitted = await self.backend.submit(spec)
            job_name = submitted.backend_job_name
            self.repo.set_submitted(row.id, job_name, submitted.studio_url, submitted.raw_status)
        state = await self.backend.refresh(spec, job_name)
        outcome: dict[str, object] | None = None
        champion = None
        if state.status == RunStatus.COMPLETED and row.kind == "pipeline":
            found = await self.backend.outcome(spec, job_name)
            if found is not None:
                outcome = outcome_record(found)
                champion = self._champion_event(row, state, found)
        updated = self.repo.apply_state(row.id, state, outcome, champion)
        if updated is not None and state.status.is_final:
            await self._finish(updated)

    @staticmethod
    def _champion_event(row: RunRow, state: RunState, outcome: Outcome) -> ChampionEventRow | None:
        """A champion-history entry, when this run itself promoted its model (not on reuse)."""
        register = next((s for s in state.steps if s.name == REGISTER_STEP), None)
        if outcome.registered_model is None or register is None or register.reused:
            return None
        metric = str(outcome.rule.get("metric", "roc_auc"))
        return ChampionEventRow(
            model_name=outcome.registered_model.name,
            version=outcome.registered_model.version,
            run_id=row.id,
            metric=metric,
            value=outcome.candidate_metrics.get(metric),
            promoted_at=state.ended_at or utcnow(),
        )

    async def end(self, run_id: str, status: RunStatus, raw: str, error: str) -> None:
        """End a run that never reached the backend (canceled while queued), with the same
        hooks (callbacks, metrics) as any other end."""
        row = self.repo.get_run(run_id)
        if row is not None:
            await self._end(row, status, raw, error)

    async def _end(self, row: RunRow, status: RunStatus, raw: str, error: str) -> None:
        updated = self.repo.finish_run(row.id, status, raw, error)
        if updated is not None:
            await self._finish(updated)

    async def _finish(self, row: RunRow) -> None:
        forget = getattr(self.backend, "forget", None)
        if forget is not None:
            forget(row.id)
        self.events.finished(row.id)
        for hook in self.on_finished:
            try:
                await hook(row)
            except Exception:
                log.exception("finish hook failed for run %s", row.id)
