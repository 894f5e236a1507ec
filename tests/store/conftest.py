"""A real, migrated store of the test's own, on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.store import Store
from app.store.db import make_engine, migrate, session_factory


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    engine = make_engine(database_url)
    migrate(engine)
    yield Store(session_factory(engine))
    engine.dispose()
