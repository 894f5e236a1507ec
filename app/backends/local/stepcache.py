"""What the engine remembers about finished steps, so unchanged steps are reused: kept in the
service database (``SqlStepCache``), or in memory for one-off runs and tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from app.domain.clock import utcnow
from app.store.tables import StepCacheRow

#: Champion marker meaning "the model had no champion".
NO_CHAMPION = "-"


@dataclass
class CacheEntry:
    key: str
    run_id: str
    step: str
    outputs_dir: str
    output_digests: dict[str, str]
    log_path: str
    mlflow_run_id: str | None = None
    reads_champion: bool = False
    champion_seen: str | None = None
    champion_left: str | None = None
    created_at: datetime | None = field(default=None)  # when the step finished
    started_at: datetime | None = None


class StepCache(Protocol):
    def find(self, key: str) -> list[CacheEntry]:
        """Entries with this key, newest first."""
        ...

    def find_for_run(self, run_id: str, step: str, key: str) -> CacheEntry | None: ...

    def put(self, entry: CacheEntry) -> None: ...

    def set_champion_left(self, run_id: str, champion: str) -> None:
        """Record the champion a finished run left behind on its champion-reading steps."""
        ...


class MemoryStepCache:
    """For one-off runs and tests that need no persistence."""

    def __init__(self) -> None:
        self._entries: list[CacheEntry] = []

    def find(self, key: str) -> list[CacheEntry]:
        return [e for e in reversed(self._entries) if e.key == key]

    def find_for_run(self, run_id: str, step: str, key: str) -> CacheEntry | None:
        return next((e for e in self.find(key) if e.run_id == run_id and e.step == step), None)

    def put(self, entry: CacheEntry) -> None:
        self._entries.append(entry)

    def set_champion_left(self, run_id: str, champion: str) -> None:
        for entry in self._entries:
            if entry.run_id == run_id and entry.reads_champion:
                entry.champion_left = champion


class SqlStepCache:
    """The step cache in the service database, so reuse survives a restart."""

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
                    started_at=entry.started_at,
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
        started_at=row.started_at,
    )
