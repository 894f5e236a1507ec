"""Taking a training request: idempotency, the queue limit, the spec built once, and cancel.

The submission service never drives a run itself: it stores the run (or the cancel request)
and wakes the ``RunDriver`` (the reconciler), which it only knows through that interface. Any
replica takes requests; the one that leads carries them out, woken through the change feed.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
from typing import Protocol

from app.backends.protocol import TrainingBackend
from app.domain.clock import utcnow
from app.domain.errors import Conflict, IdempotencyKeyReused, InvalidInput, TooManyRuns
from app.domain.pipeline import step_names
from app.domain.spec import DataAssetRef, RunOptions, RunSpec
from app.domain.status import RunStatus
from app.lifecycle.events import RunEvents
from app.lifecycle.ids import new_run_id
from app.lifecycle.queries import require_run
from app.lifecycle.schemas import TrainingRunCreate
from app.security.egress import CallbackPolicy
from app.store.run_sql import IdempotencyConflict, QueueFull
from app.store.runs import RunStore
from app.store.tables import RunRow

#: How long a cancel waits for the run to end before answering with the run as it is.
CANCEL_WAIT_SECONDS = 2.0


class RunDriver(Protocol):
    """What moves runs forward once they are stored (the reconciler, if this replica leads)."""

    def wake(self) -> None:
        """A run was created or a cancel asked: look at the active runs now, not at the next
        poll. A no-op on a replica that does not lead (the change feed tells the leader)."""
        ...


class RunSubmission:
    def __init__(
        self,
        runs: RunStore,
        backend: TrainingBackend,
        driver: RunDriver,
        events: RunEvents,
        callback_policy: CallbackPolicy,
        *,
        max_active_runs: int,
        max_active_per_caller: int,
    ) -> None:
        self.runs = runs
        self.backend = backend
        self.driver = driver
        self.events = events
        self.callback_policy = callback_policy
        self.max_active_runs = max_active_runs
        self.max_active_per_caller = max_active_per_caller
        self.accepting = True

    async def submit(
        self, body: TrainingRunCreate, idempotency_key: str | None, caller: str
    ) -> tuple[RunRow, bool]:
        """The stored run and whether this call created it (False: an idempotent replay).
        Idempotency keys and the per-caller queue share are the caller's own."""
        if not self.accepting:
            raise Conflict(
                "the service is shutting down and takes no new runs; retry shortly", retry_after=10
            )
        if body.callback_url is not None:
            self.callback_policy.check_submitted(str(body.callback_url))
        request = body.model_dump(mode="json")
        request_hash = hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()
        if idempotency_key is not None:
            existing = self.runs.by_idempotency_key(caller, idempotency_key)
            if existing is not None:
                if existing.request_hash != request_hash:
                    raise _conflict(existing)
                return existing, False
        self._check_queue(caller)  # the cheap early answer; create() decides under a lock
        spec = RunSpec(
            **body.model_dump(include=set(RunOptions.model_fields)),
            run_id=new_run_id(),
            data_asset=await self._checked_names(body),
        )
        if spec.sweep is not None:
            # Recorded, so a resumed run draws the trials it drew before (and a caller can repeat it).
            spec = spec.model_copy(update={"sweep": spec.sweep.seeded(secrets.randbelow(2**31))})
        now = utcnow()
        row = RunRow(
            id=spec.run_id,
            kind=spec.kind,
            status=RunStatus.QUEUED.value,
            raw_status="NotStarted",
            experiment_name=spec.experiment_name,
            model_name=spec.model_name,
            backend=self.backend.kind,
            spec=spec,
            submitted_by=caller,
            data_asset_name=spec.data_asset.name,
            data_asset_version=spec.data_asset.version,
            idempotency_key=idempotency_key,
            request_hash=request_hash,
            callback_url=str(body.callback_url) if body.callback_url else None,
            callback_state="pending" if body.callback_url else None,
            callback_attempts=[],
            created_at=now,
            updated_at=now,
        )
        try:
            run, created = self.runs.create(
                row,
                step_names(spec),
                max_active=self.max_active_runs,
                max_per_caller=self.max_active_per_caller,
            )
        except IdempotencyConflict as conflict:
            raise _conflict(conflict.existing) from None
        except QueueFull as full:  # the limit as the database saw it, across replicas
            raise self._full(full.scope) from None
        if created:
            self.driver.wake()
        return run, created

    async def _checked_names(self, body: TrainingRunCreate) -> DataAssetRef:
        """The data asset resolved and the computes checked by the backend, at once: one 422
        names every unknown field (a backend that cannot tell now accepts)."""
        resolved, computes = await asyncio.gather(
            self.backend.resolve_data_asset(body.data_asset),
            self.backend.check_computes(body.compute, {str(k): v for k, v in body.step_compute.items()}),
            return_exceptions=True,
        )
        refused = [r for r in (resolved, computes) if isinstance(r, InvalidInput)]
        if refused:
            raise InvalidInput(
                "; ".join(error.detail for error in refused),
                invalid=[item for error in refused for item in error.invalid],
            )
        for outcome in (resolved, computes):
            if isinstance(outcome, BaseException):
                raise outcome
        assert isinstance(resolved, DataAssetRef)
        return resolved

    def _check_queue(self, caller: str) -> None:
        if self.runs.count_active() >= self.max_active_runs:
            raise self._full("service")
        if self.runs.count_active(caller) >= self.max_active_per_caller:
            raise self._full("caller")

    def _full(self, scope: str) -> TooManyRuns:
        """The 429 for a full queue: the whole service's, or this caller's share of it."""
        if scope == "caller":
            return TooManyRuns(
                f"your share of the queue is full: {self.max_active_per_caller} of your runs are queued "
                "or running (TRAINCTL_MAX_QUEUED_RUNS_PER_CALLER); retry when one ends",
                retry_after=30,
                extra={
                    "limit": "caller",
                    "setting": "TRAINCTL_MAX_QUEUED_RUNS_PER_CALLER",
                    "max": self.max_active_per_caller,
                },
            )
        return TooManyRuns(
            f"the service's queue is full: {self.max_active_runs} runs are queued or running "
            "(TRAINCTL_MAX_QUEUED_RUNS); retry later",
            retry_after=30,
            extra={"limit": "service", "setting": "TRAINCTL_MAX_QUEUED_RUNS", "max": self.max_active_runs},
        )

    async def cancel(self, run_id: str) -> RunRow:
        """Ask for the cancel in the store, wake the leader, and give it a moment to finish."""
        row = require_run(self.runs, run_id)
        if RunStatus(row.status).is_final or self.runs.request_cancel(run_id) is None:
            raise Conflict(f"run {run_id} already ended {require_run(self.runs, run_id).status}")
        self.driver.wake()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + CANCEL_WAIT_SECONDS
        row = require_run(self.runs, run_id)
        while (
            not RunStatus(row.status).is_final
            and not self.events.closing
            and (remaining := deadline - loop.time()) > 0
        ):
            await self.events.wait_changed(run_id, remaining)
            row = require_run(self.runs, run_id)
        return row


def _conflict(existing: RunRow) -> IdempotencyKeyReused:
    return IdempotencyKeyReused(
        f"this Idempotency-Key was used for run {existing.id} with a different body; "
        "use a new key for a new request",
        invalid=[("header.Idempotency-Key", "already used with a different body")],
        extra={"run_id": existing.id},
    )
