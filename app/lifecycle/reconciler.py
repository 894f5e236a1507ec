"""The background loop that moves runs forward: the only writer of run state after submission.

It hands queued runs to the backend, copies the backend's view of each active run into the
store, carries out cancels asked through the store, and on the final state records the
outcome, the champion history, wakes waiters and runs the finish hooks (callbacks, metrics).
Transient backend errors (throttling, timeouts, 5xx) back off per run and never fail a run. It
reads each run's spec as stored at submission. It runs only on the replica that leads (see
``leadership.py``), and everything it remembers in memory is only a shortcut: a new leader
starts from the store alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from app.backends.protocol import TrainingBackend
from app.domain.clock import utcnow
from app.domain.errors import BackendError
from app.domain.outcome import Outcome
from app.domain.pipeline import REGISTRATION
from app.domain.state import RunState
from app.domain.status import RunStatus
from app.lifecycle.events import RunEvents
from app.store.runs import RunStore
from app.store.tables import ChampionEventRow, RunRow

log = logging.getLogger(__name__)

FinishedHook = Callable[[RunRow], Awaitable[None]]
MAX_BACKOFF_SECONDS = 60.0
PARALLEL_RUNS = 8


class Reconciler:
    def __init__(
        self,
        runs: RunStore,
        backend: TrainingBackend,
        events: RunEvents,
        *,
        on_finished: list[FinishedHook] | None = None,
    ) -> None:
        self.runs = runs
        self.backend = backend
        self.events = events
        self.on_finished = on_finished or []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._retry_at: dict[str, float] = {}
        self._failures: dict[str, int] = {}
        self._parallel = asyncio.Semaphore(PARALLEL_RUNS)
        #: Runs being handed to the backend right now, and those canceled meanwhile.
        self._submitting: set[str] = set()
        self._cancel_after_submit: set[str] = set()
        #: Runs whose stored cancel request this reconciler has carried out.
        self._cancel_sent: set[str] = set()

    # -- the RunDriver interface --------------------------------------------------------------

    def wake(self) -> None:
        self._wake.set()

    async def cancel(self, row: RunRow) -> None:
        if row.backend_job_name is not None:
            await self.backend.cancel(row.spec, row.backend_job_name)
        elif row.id in self._submitting:  # the backend is taking it now: cancel once it has
            self._cancel_after_submit.add(row.id)
        else:  # the backend never saw it: nothing runs to stop
            await self._end(row, RunStatus.CANCELED, "Canceled", "canceled before it started")
        self.wake()

    # -- the loop -----------------------------------------------------------------------------

    def start(self) -> None:
        # A new term starts from the store: no back-off or cancel remembered from an old one.
        self._retry_at.clear()
        self._failures.clear()
        self._cancel_sent.clear()
        self._stopping = False
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="reconciler")

    async def stop(self, *, final_pass: bool = True) -> None:
        if self._task is not None:
            # Python 3.11's wait_for can swallow a cancel that lands as its call completes
            # (gh-86296); the loop also checks the flag, and the cancel is repeated until it ends.
            self._stopping = True
            while not self._task.done():
                self._task.cancel()
                await asyncio.wait({self._task}, timeout=1.0)
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if final_pass:  # one last pass records whatever finished while the backend drained
            with contextlib.suppress(Exception):
                await self.pass_once(submit=False)

    async def _loop(self) -> None:
        while not self._stopping:
            try:
                await self.pass_once()
            except Exception:  # the loop must outlive any single bad pass
                log.exception("reconciler pass failed")
            waiters = {
                asyncio.ensure_future(self.backend.wait_for_change()),
                asyncio.ensure_future(self._wake.wait()),
            }
            try:
                await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiter in waiters:
                    waiter.cancel()
                await asyncio.gather(*waiters, return_exceptions=True)
            self._wake.clear()

    async def pass_once(self, *, submit: bool = True) -> None:
        """One look at every active run (due for a retry), in parallel up to a bound."""
        now = time.monotonic()
        active = [
            r
            for r in self.runs.active()
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
        delay = min(MAX_BACKOFF_SECONDS, self.backend.poll_seconds * 2**failures)
        self._retry_at[run_id] = time.monotonic() + delay
        log.warning("run %s: transient backend error (%s); retrying in %.1f s", run_id, error, delay)

    async def _advance(self, row: RunRow) -> None:
        asked = row.cancel_requested_at is not None and row.id not in self._cancel_sent
        if asked and await self._carry_out_cancel(row):
            return
        spec = row.spec
        job_name = row.backend_job_name
        if job_name is None:
            job_name = await self._submit(row)
        state = await self.backend.refresh(spec, job_name)
        outcome: Outcome | None = None
        champion = None
        if state.status == RunStatus.COMPLETED and spec.kind == "pipeline":
            outcome = await self.backend.outcome(spec, job_name)
            if outcome is not None:
                outcome = outcome.with_best_trial(state.trials)
                champion = self._champion_event(row, state, outcome)
        updated = self.runs.apply_state(row.id, state, outcome, champion)
        if updated is not None and state.status.is_final:
            await self._finish(updated)

    async def _submit(self, row: RunRow) -> str:
        self._submitting.add(row.id)
        try:
            submitted = await self.backend.submit(row.spec)
        finally:
            self._submitting.discard(row.id)
        job_name = submitted.backend_job_name
        self.runs.set_submitted(row.id, job_name, submitted.studio_url, submitted.raw_status)
        if row.id in self._cancel_after_submit:
            self._cancel_after_submit.discard(row.id)
            await self.backend.cancel(row.spec, job_name)
        return job_name

    async def _carry_out_cancel(self, row: RunRow) -> bool:
        """A cancel asked through the store (by any replica). True when that ended the run."""
        try:
            await self.cancel(row)
        except BackendError as error:
            if error.transient:
                raise  # backs off, and asks again on a later pass
            # E.g. the job is already ending: the run still ends as the backend reports it.
            log.warning("run %s: cancel refused by the backend: %s", row.id, error)
        self._cancel_sent.add(row.id)
        return row.backend_job_name is None and row.id not in self._submitting

    @staticmethod
    def _champion_event(row: RunRow, state: RunState, outcome: Outcome) -> ChampionEventRow | None:
        """A champion-history entry, when this run itself promoted its model (not on reuse)."""
        register = next((s for s in state.steps if s.name == REGISTRATION.step), None)
        if outcome.registered_model is None or register is None or register.reused:
            return None
        metric = str(outcome.rule.get("metric", row.spec.promotion.metric))
        return ChampionEventRow(
            model_name=outcome.registered_model.name,
            version=outcome.registered_model.version,
            run_id=row.id,
            metric=metric,
            value=outcome.candidate_metrics.get(metric),
            promoted_at=state.ended_at or utcnow(),
        )

    async def _end(self, row: RunRow, status: RunStatus, raw: str, error: str) -> None:
        updated = self.runs.finish(row.id, status, raw, error)
        if updated is not None:
            await self._finish(updated)

    async def _finish(self, row: RunRow) -> None:
        self._cancel_sent.discard(row.id)
        self.backend.release(row.id)
        self.events.finished(row.id)
        for hook in self.on_finished:
            try:
                await hook(row)
            except Exception:
                log.exception("finish hook failed for run %s", row.id)
