"""Rows of the data-asset catalog: immutable versions 1, 2, 3... per name."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from app.store.tables import DataAssetRow


class DataAssetStore:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def add(self, row: DataAssetRow) -> DataAssetRow:
        """Insert with the next version number of that name."""
        for _ in range(5):
            try:
                with self._sessions.begin() as session:
                    latest = session.scalar(
                        select(func.max(DataAssetRow.version)).where(DataAssetRow.name == row.name)
                    )
                    row.version = int(latest or 0) + 1
                    session.add(row)
                return row
            except IntegrityError:  # a concurrent upload took that version: take the next
                continue
        raise RuntimeError(f"could not allocate a version for data asset {row.name!r}")

    def get(self, name: str, version: int | None) -> DataAssetRow | None:
        """One version, or the latest with ``version=None``."""
        query = select(DataAssetRow).where(DataAssetRow.name == name)
        if version is None:
            query = query.order_by(DataAssetRow.version.desc()).limit(1)
        else:
            query = query.where(DataAssetRow.version == version)
        with self._sessions() as session:
            return session.scalars(query).first()

    def versions(self, name: str | None = None) -> list[DataAssetRow]:
        """Every version of one asset, or of all assets, by name then version."""
        query = select(DataAssetRow).order_by(DataAssetRow.name, DataAssetRow.version)
        if name is not None:
            query = query.where(DataAssetRow.name == name)
        with self._sessions() as session:
            return list(session.scalars(query))
