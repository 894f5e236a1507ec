"""A database of its own for each test (or module), on SQLite or on the PostgreSQL server named
by TRAINCTL_TEST_DATABASE_URL (``.ci/run`` starts one; see ``.ci/postgres``).

PostgreSQL tests get a fresh database each (CREATE DATABASE on that server), dropped at the
end: nothing leaks between tests, and tests never share a schema.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

#: Read once at import, before the test session clears every TRAINCTL_* variable.
ADMIN_URL = os.environ.get("TRAINCTL_TEST_DATABASE_URL")
KINDS = ("sqlite", "postgresql")
NO_SERVER = (
    "PostgreSQL: no server for the tests (set TRAINCTL_TEST_DATABASE_URL to a PostgreSQL URL "
    "with the right to CREATE DATABASE; `bash .ci/run` starts one)"
)


def require_postgres() -> str:
    if not ADMIN_URL:
        if os.environ.get("CI") == "true":
            pytest.fail("CI must test PostgreSQL, but TRAINCTL_TEST_DATABASE_URL is not set")
        pytest.skip(NO_SERVER)
    return ADMIN_URL


@contextmanager
def postgres_database() -> Iterator[str]:
    """A new, empty database on the test server; its URL."""
    admin = create_engine(require_postgres(), isolation_level="AUTOCOMMIT")
    name = f"t_{secrets.token_hex(6)}"
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        yield make_url(ADMIN_URL or "").set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def database(kind: str, folder: Path) -> Iterator[str]:
    """The URL of an empty database of ``kind``: a file in ``folder``, or a server database."""
    if kind == "sqlite":
        folder.mkdir(parents=True, exist_ok=True)
        yield f"sqlite:///{folder / 'trainctl.db'}"
        return
    with postgres_database() as url:
        yield url
