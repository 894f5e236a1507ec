"""The runs service: what the API does with a training request, independent of the backend."""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from pathlib import Path

from app.api.errors import (
    Conflict,
    IdempotencyKeyReused,
    InvalidInput,
    NotFinished,
    NotFound,
    TooManyRuns,
)
from app.backends.base import ArtifactInfo, RunSpec, RunStatus, TrainingBackend
from app.data_assets.service import DataAssets
from app.runs.events import RunEvents
from app.runs.ids import new_run_id
from app.runs.mapping import outcome_read, run_read, spec_from_row
from app.runs.schemas import OutcomeRead, RunMetricsRead, StepMetrics, TrainingRunCreate
from app.store.repository import IdempotencyConflict, Repository, RunFilter, utcnow
from app.store.tables import RunRow

READ_CACHE_SIZE = 10_000


class RunsService:
    def __init__(
        self,
        repo: Repository,
        backend: TrainingBackend,
        backend_kind: str,
        assets: DataAssets,
        events: RunEvents,
        *,
        max_active_runs: int,
        wake_reconciler: Callable[[], None],
    ) -> None:
        self.repo = repo
        self.backend = backend
        self.backend_kind = backend_kind
        self.assets = assets
        self.events = events
        self.max_active_runs = max_active_runs
        self._wake = wake_reconciler
        self.accepting = True
        self._read_cache: OrderedDict[str, bytes] = OrderedDict()
        #: Ends a run the backend never saw; main wires it to the reconciler, so the usual
        #: end-of-run hooks run. The default is only for a service without a reconciler.
        self.end_unsubmitted: Callable[[str, RunStatus, str, str], Awaitable[None]] = self._end_directly
        repo.run_changed.append(self._forget_read)

    # -- submission -------------------------------------------------------------------------

    def submit(self, body: TrainingRunCreate, idempotency_key: str | None) -> tuple[RunRow, bool]:
        if not self.accepting:
            raise Conflict(
                "the service is shutting down and takes no new runs; retry shortly",
                headers={"Retry-After": "10"},
            )
        request = body.model_dump(mode="json")
        request_hash = hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()
        if idempotency_key is not None:
            existing = self.repo.run_by_idempotency_key(idempotency_key)
            if existing is not None:
                return self._replay(existing, request_hash), False
        if self.repo.count_active() >= self.max_active_runs:
            raise TooManyRuns(
                f"{self.max_active_runs} runs are already queued or running "
                "(TRAINCTL_MAX_QUEUED_RUNS); retry later",
                headers={"Retry-After": "30"},
            )
        version = body.data_asset.version
        if self.backend_kind == "local":
            version = str(self.assets.resolve(body.data_asset.name, version).version)
        now = utcnow()
        row = RunRow(
            id=new_run_id(),
            kind=body.kind,
            status=RunStatus.QUEUED.value,
            raw_status="NotStarted",
            experiment_name=body.experiment_name,
            model_name=body.model_name,
            backend=self.backend_kind,
            request=request,
            data_asset_name=body.data_asset.name,
            data_asset_version=version,
            idempotency_key=idempotency_key,
            request_hash=request_hash,
            callback_url=str(body.callback_url) if body.callback_url else None,
            callback_state="pending" if body.callback_url else None,
            callback_attempts=[],
            created_at=now,
            updated_at=now,
        )
        steps = ["train-model"] if body.kind == "job" else ["train-model", "evaluate-model", "register-model"]
        try:
            run, created = self.repo.create_run(row, steps)
        except IdempotencyConflict as conflict:
            raise self._conflict(conflict.existing) from None
        if created:
            self._wake()
        return run, created

    def _replay(self, existing: RunRow, request_hash: str) -> RunRow:
        if existing.request_hash != request_hash:
            raise self._conflict(existing)
        return existing

    @staticmethod
    def _conflict(existing: RunRow) -> IdempotencyKeyReused:
        return IdempotencyKeyReused(
            f"this Idempotency-Key was used for run {existing.id} with a different body; "
            "use a new key for a new request",
            invalid=[("header.Idempotency-Key", "already used with a different body")],
            extra={"run_id": existing.id},
        )

    # -- reading ----------------------------------------------------------------------------

    def get(self, run_id: str) -> RunRow:
        row = self.repo.get_run(run_id)
        if row is None:
            raise NotFound(f"no training run {run_id!r}")
        return row

    def read_json(self, run_id: str) -> bytes:
        """The run's API body, serialized once per change: status polls are the hot path, and
        the reconciler (the only writer) invalidates the entry on every change."""
        cached = self._read_cache.get(run_id)
        if cached is None:
            cached = run_read(self.get(run_id)).model_dump_json().encode()
            self._read_cache[run_id] = cached
            if len(self._read_cache) > READ_CACHE_SIZE:
                self._read_cache.popitem(last=False)
        return cached

    async def _end_directly(self, run_id: str, status: RunStatus, raw: str, error: str) -> None:
        self.repo.finish_run(run_id, status, raw, error)
        self.events.finished(run_id)

    def _forget_read(self, run_id: str) -> None:
        self._read_cache.pop(run_id, None)

    def list_runs(self, flt: RunFilter) -> list[RunRow]:
        return self.repo.list_runs(flt)

    def spec(self, row: RunRow) -> RunSpec:
        path = None
        if row.backend == "local":
            asset = self.repo.data_asset(row.data_asset_name, int(row.data_asset_version))
            path = Path(asset.path) if asset else None
        return spec_from_row(row, path)

    async def wait(self, run_id: str, timeout: float) -> RunRow:
        row = self.get(run_id)
        if not RunStatus(row.status).is_final:
            await self.events.wait_finished(run_id, timeout)
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
        return outcome_read(run_id, row.outcome)

    def step_runs(self, row: RunRow) -> dict[str, str]:
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
        )

    async def artifacts(self, run_id: str) -> list[ArtifactInfo]:
        row = self.get(run_id)
        step_runs = self.step_runs(row)
        return await self.backend.artifacts(step_runs) if step_runs else []

    async def artifact(self, run_id: str, path: str) -> Path:
        row = self.get(run_id)
        if "\0" in path:  # no file system takes it; answer like any other missing artifact
            raise NotFound(
                f"run {run_id} has no artifact {path!r}; GET /v1/training-runs/{run_id}/artifacts lists them"
            )
        try:
            return await self.backend.artifact(self.step_runs(row), path)
        except KeyError:
            raise NotFound(
                f"run {run_id} has no artifact {path!r}; GET /v1/training-runs/{run_id}/artifacts lists them"
            ) from None

    async def logs(self, run_id: str, step: str) -> str:
        row = self.get(run_id)
        names = [s.name for s in row.steps]
        if step not in names:
            raise InvalidInput(
                f"run {run_id} has no step {step!r}", invalid=[("query.step", f"one of {names}")]
            )
        try:
            return await self.backend.logs(self.spec(row), row.backend_job_name or run_id, step)
        except KeyError:
            raise NotFound(f"step {step} of run {run_id} has no log yet") from None

    async def cancel(self, run_id: str) -> RunRow:
        row = self.get(run_id)
        if RunStatus(row.status).is_final:
            raise Conflict(f"run {run_id} already ended {row.status}")
        if row.backend_job_name is None:  # not handed to the backend yet: nothing runs to stop
            await self.end_unsubmitted(run_id, RunStatus.CANCELED, "Canceled", "canceled before it started")
        else:
            await self.backend.cancel(self.spec(row), row.backend_job_name)
        self._wake()
        return self.get(run_id)
