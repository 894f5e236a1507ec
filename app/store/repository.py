"""All SQL lives here. Each method is one transaction: it commits or changes nothing."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from app.backends.base import RunState, RunStatus
from app.backends.local.stepcache import CacheEntry
from app.store.tables import ChampionEventRow, DataAssetRow, RunRow, StepCacheRow, StepRow

FINAL_STATUSES = tuple(s.value for s in RunStatus if s.is_final)


def utcnow() -> datetime:
    return datetime.now(UTC)


class IdempotencyConflict(Exception):
    def __init__(self, existing: RunRow) -> None:
        super().__init__(existing.id)
        self.existing = existing


@dataclass(frozen=True)
class RunFilter:
    status: str | None = None
    experiment_name: str | None = None
    model_name: str | None = None
    before_id: str | None = None  # cursor: ids are time-ordered, newest first
    limit: int = 50


class Repository:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions
        #: Called with a run id after every committed change to that run (cache invalidation).
        self.run_changed: list[Callable[[str], None]] = []

    @contextmanager
    def _tx(self) -> Iterator[Session]:
        with self._sessions.begin() as session:
            yield session

    @contextmanager
    def _run_tx(self, run_id: str) -> Iterator[Session]:
        try:
            with self._sessions.begin() as session:
                yield session
        finally:
            for listener in self.run_changed:
                listener(run_id)

    def ping(self, statement: Any) -> None:
        with self._sessions() as session:
            session.execute(statement)

    # -- runs -------------------------------------------------------------------------------

    def create_run(self, row: RunRow, step_names: Sequence[str]) -> tuple[RunRow, bool]:
        """Insert a run; with an idempotency key already used, return that run instead.

        Returns (run, created). Raises IdempotencyConflict when the key was used for a
        different request body.
        """
        row.steps = [
            StepRow(name=name, position=i, status="queued", raw_status="NotStarted", reused=False)
            for i, name in enumerate(step_names)
        ]
        try:
            with self._tx() as session:
                session.add(row)
            return row, True
        except IntegrityError:
            if row.idempotency_key is None:
                raise
        existing = self.run_by_idempotency_key(row.idempotency_key)
        if existing is None:  # the key's owner vanished between both statements
            raise RuntimeError("idempotency key lookup failed")
        if existing.request_hash != row.request_hash:
            raise IdempotencyConflict(existing)
        return existing, False

    def run_by_idempotency_key(self, key: str) -> RunRow | None:
        with self._sessions() as session:
            return session.scalars(select(RunRow).where(RunRow.idempotency_key == key)).first()

    def get_run(self, run_id: str) -> RunRow | None:
        with self._sessions() as session:
            return session.get(RunRow, run_id)

    def list_runs(self, flt: RunFilter) -> list[RunRow]:
        query = select(RunRow).order_by(RunRow.id.desc()).limit(flt.limit)
        if flt.status:
            query = query.where(RunRow.status == flt.status)
        if flt.experiment_name:
            query = query.where(RunRow.experiment_name == flt.experiment_name)
        if flt.model_name:
            query = query.where(RunRow.model_name == flt.model_name)
        if flt.before_id:
            query = query.where(RunRow.id < flt.before_id)
        with self._sessions() as session:
            return list(session.scalars(query))

    def active_runs(self) -> list[RunRow]:
        query = select(RunRow).where(RunRow.status.not_in(FINAL_STATUSES)).order_by(RunRow.id)
        with self._sessions() as session:
            return list(session.scalars(query))

    def count_active(self) -> int:
        query = select(func.count()).select_from(RunRow).where(RunRow.status.not_in(FINAL_STATUSES))
        with self._sessions() as session:
            return int(session.scalar(query) or 0)

    def count_by_status(self) -> dict[str, int]:
        query = select(RunRow.status, func.count()).group_by(RunRow.status)
        with self._sessions() as session:
            return {status: int(n) for status, n in session.execute(query)}

    def set_submitted(
        self, run_id: str, backend_job_name: str, studio_url: str | None, raw_status: str
    ) -> None:
        with self._run_tx(run_id) as session:
            row = session.get(RunRow, run_id)
            if row is None:
                return
            row.backend_job_name = backend_job_name
            row.studio_url = studio_url
            row.raw_status = raw_status
            row.updated_at = utcnow()

    def apply_state(
        self,
        run_id: str,
        state: RunState,
        outcome: dict[str, Any] | None = None,
        champion: ChampionEventRow | None = None,
    ) -> RunRow | None:
        """Write a backend's view of a run (and, when it ended, its outcome in the same
        transaction, so no reader sees a completed pipeline without its decision).
        Returns the row when anything changed."""
        with self._run_tx(run_id) as session:
            row = session.get(RunRow, run_id)
            if row is None or row.status in FINAL_STATUSES:
                return None
            changed = _assign(
                row,
                status=state.status.value,
                raw_status=state.raw_status,
                started_at=state.started_at,
                ended_at=state.ended_at if state.status.is_final else None,
                error=state.error,
                studio_url=state.studio_url or row.studio_url,
            )
            existing = {s.name: s for s in row.steps}
            for position, step in enumerate(state.steps):
                target = existing.get(step.name)
                if target is None:
                    target = StepRow(run_id=run_id, name=step.name, position=position)
                    row.steps.append(target)
                    changed = True
                changed |= _assign(
                    target,
                    status=step.status.value,
                    raw_status=step.raw_status,
                    reused=step.reused,
                    exit_code=step.exit_code,
                    started_at=step.started_at,
                    ended_at=step.ended_at,
                    backend_job_name=step.backend_job_name,
                    studio_url=step.studio_url,
                    mlflow_run_id=step.mlflow_run_id,
                    error=step.error,
                )
            if state.status.is_final and row.ended_at is None:
                row.ended_at = utcnow()
            if outcome is not None:
                row.outcome = outcome
                if champion is not None:
                    self._add_champion_event(session, champion)
            if changed:
                row.updated_at = utcnow()
                return row
            return None

    def finish_run(self, run_id: str, status: RunStatus, raw_status: str, error: str | None) -> RunRow | None:
        """End a run the backend can no longer report on (e.g. lost at restart)."""
        with self._run_tx(run_id) as session:
            row = session.get(RunRow, run_id)
            if row is None or row.status in FINAL_STATUSES:
                return None
            row.status, row.raw_status, row.error = status.value, raw_status, error
            row.ended_at = row.updated_at = utcnow()
            for step in row.steps:
                if step.status not in FINAL_STATUSES:
                    step.status, step.raw_status = status.value, raw_status
            return row

    @staticmethod
    def _add_champion_event(session: Session, champion: ChampionEventRow) -> None:
        exists = session.scalars(
            select(ChampionEventRow).where(
                ChampionEventRow.model_name == champion.model_name,
                ChampionEventRow.run_id == champion.run_id,
            )
        ).first()
        if exists is None:
            session.add(champion)

    def record_callback_attempt(self, run_id: str, attempt: dict[str, Any], state: str) -> None:
        with self._run_tx(run_id) as session:
            row = session.get(RunRow, run_id)
            if row is None:
                return
            row.callback_attempts = [*row.callback_attempts, attempt]
            row.callback_state = state

    def pending_callbacks(self) -> list[RunRow]:
        query = select(RunRow).where(RunRow.callback_state == "pending")
        with self._sessions() as session:
            return list(session.scalars(query))

    # -- champion history -------------------------------------------------------------------

    def champion_history(self, model_name: str) -> list[ChampionEventRow]:
        query = (
            select(ChampionEventRow)
            .where(ChampionEventRow.model_name == model_name)
            .order_by(ChampionEventRow.id)
        )
        with self._sessions() as session:
            return list(session.scalars(query))

    # -- data assets ------------------------------------------------------------------------

    def add_data_asset(self, row: DataAssetRow) -> DataAssetRow:
        """Insert with the next version number of that name (versions are 1, 2, 3...)."""
        for _ in range(5):
            try:
                with self._tx() as session:
                    latest = session.scalar(
                        select(func.max(DataAssetRow.version)).where(DataAssetRow.name == row.name)
                    )
                    row.version = int(latest or 0) + 1
                    session.add(row)
                return row
            except IntegrityError:  # a concurrent upload took that version: take the next
                continue
        raise RuntimeError(f"could not allocate a version for data asset {row.name!r}")

    def data_asset(self, name: str, version: int | None) -> DataAssetRow | None:
        query = select(DataAssetRow).where(DataAssetRow.name == name)
        if version is None:
            query = query.order_by(DataAssetRow.version.desc()).limit(1)
        else:
            query = query.where(DataAssetRow.version == version)
        with self._sessions() as session:
            return session.scalars(query).first()

    def data_assets(self, name: str | None = None) -> list[DataAssetRow]:
        query = select(DataAssetRow).order_by(DataAssetRow.name, DataAssetRow.version)
        if name is not None:
            query = query.where(DataAssetRow.name == name)
        with self._sessions() as session:
            return list(session.scalars(query))


class StoreStepCache:
    """The local engine's step cache, kept in the service database."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def find(self, key: str) -> list[CacheEntry]:
        query = select(StepCacheRow).where(StepCacheRow.key == key).order_by(StepCacheRow.id.desc())
        with self._sessions() as session:
            return [_entry(row) for row in session.scalars(query)]

    def find_for_run(self, run_id: str, step: str, key: str) -> CacheEntry | None:
        query = (
            select(StepCacheRow)
            .where(StepCacheRow.run_id == run_id, StepCacheRow.step == step, StepCacheRow.key == key)
            .order_by(StepCacheRow.id.desc())
        )
        with self._sessions() as session:
            row = session.scalars(query).first()
            return _entry(row) if row else None

    def put(self, entry: CacheEntry) -> None:
        with self._sessions.begin() as session:
            session.add(
                StepCacheRow(
                    key=entry.key,
                    run_id=entry.run_id,
                    step=entry.step,
                    outputs_dir=entry.outputs_dir,
                    output_digests=entry.output_digests,
                    log_path=entry.log_path,
                    mlflow_run_id=entry.mlflow_run_id,
                    reads_champion=entry.reads_champion,
                    champion_seen=entry.champion_seen,
                    champion_left=entry.champion_left,
                    created_at=entry.created_at or utcnow(),
                )
            )

    def set_champion_left(self, run_id: str, champion: str) -> None:
        with self._sessions.begin() as session:
            session.execute(
                update(StepCacheRow)
                .where(StepCacheRow.run_id == run_id, StepCacheRow.reads_champion.is_(True))
                .values(champion_left=champion)
            )


def _entry(row: StepCacheRow) -> CacheEntry:
    return CacheEntry(
        key=row.key,
        run_id=row.run_id,
        step=row.step,
        outputs_dir=row.outputs_dir,
        output_digests=dict(row.output_digests),
        log_path=row.log_path,
        mlflow_run_id=row.mlflow_run_id,
        reads_champion=row.reads_champion,
        champion_seen=row.champion_seen,
        champion_left=row.champion_left,
        created_at=row.created_at,
    )


def _assign(target: object, **values: Any) -> bool:
    changed = False
    for name, value in values.items():
        if getattr(target, name) != value:
            setattr(target, name, value)
            changed = True
    return changed
