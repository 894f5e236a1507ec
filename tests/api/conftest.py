"""API tests run on SQLite and on PostgreSQL: apps over the fake backend get the test's
own database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.fakebackend import AppFactory, Built, build


@pytest.fixture
def make_app(tmp_path: Path, database_url: str) -> AppFactory:
    def make(**overrides: Any) -> Built:
        return build(tmp_path / "data", **{"database_url": database_url, **overrides})

    return make
