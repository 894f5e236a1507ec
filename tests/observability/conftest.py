"""Fixtures for the observability tests: a started service with observability installed, and
the JSON log lines it writes."""

from __future__ import annotations

import io
import json
import logging
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from app.observability import configure_logging
from tests.support.asgi import AppThread


@pytest.fixture(scope="session")
def observed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppThread]:
    """A started service (local backend): create_app installs the observability middleware and
    the finished-run hook itself."""
    from app.main import create_app
    from app.settings import Settings

    thread = AppThread(create_app(Settings(data_dir=tmp_path_factory.mktemp("observed-data")))).start()
    yield thread
    thread.stop()


LogLines = Callable[[], list[dict[str, Any]]]
# Every logger configure_logging changes ("" is the root).
TOUCHED_LOGGERS = (
    "",
    "uvicorn",
    "uvicorn.error",
    "uvicorn.access",
    "alembic",
    "azure.core.pipeline.policies.http_logging_policy",
)


@pytest.fixture
def json_logs() -> Iterator[tuple[io.StringIO, LogLines]]:
    """configure_logging("DEBUG") into a buffer; yields the buffer and a parser of its lines.
    Every logger and variable configure_logging changes is put back afterwards, so
    pytest's own capture and later tests are unaffected."""
    touched = [logging.getLogger(name) for name in TOUCHED_LOGGERS]
    saved = [(lg, list(lg.handlers), lg.level, lg.propagate) for lg in touched]
    saved_mlflow_logging = os.environ.get("MLFLOW_CONFIGURE_LOGGING")
    buffer = io.StringIO()
    configure_logging("DEBUG", stream=buffer)

    def lines() -> list[dict[str, Any]]:
        return [json.loads(line) for line in buffer.getvalue().splitlines() if line]

    try:
        yield buffer, lines
    finally:
        for lg, handlers, level, propagate in saved:
            lg.handlers[:] = handlers
            lg.setLevel(level)
            lg.propagate = propagate
        if saved_mlflow_logging is None:
            os.environ.pop("MLFLOW_CONFIGURE_LOGGING", None)
        else:
            os.environ["MLFLOW_CONFIGURE_LOGGING"] = saved_mlflow_logging
