"""`trainctl serve`: the API under uvicorn, in this process or in N worker processes.

SIGTERM drains: the replica says not-ready at once (``/readyz`` 503, ``Connection: close`` on
every response, waiting long-polls answered) and keeps serving for ``drain_seconds`` so the
load balancer moves on, then closes its listener, finishes the requests in flight, and stops
the lifecycle (the leader lets running steps finish, then hands its lease over).
"""

from __future__ import annotations

import argparse
import logging
import math
import signal
import socket
import sys
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

import uvicorn
from fastapi import FastAPI

from app.cli.client import EXIT_BAD_INPUT, EXIT_OK
from app.settings import Settings

log = logging.getLogger(__name__)
EXIT_STARTUP_FAILED = 3


class DrainingServer(uvicorn.Server):
    """uvicorn's server, with a drain period between SIGTERM and closing the listener."""

    def __init__(self, config: uvicorn.Config, *, drain_seconds: float, on_drain: Callable[[], None]) -> None:
        super().__init__(config)
        self.drain_seconds = drain_seconds
        self.on_drain = on_drain
        self._drain_until: float | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        first = self._drain_until is None and not self.should_exit
        if first:
            self.on_drain()
        if first and sig == signal.SIGTERM and self.drain_seconds > 0:
            self._captured_signals.append(sig)  # re-raised after shutdown, as uvicorn does
            self._drain_until = time.monotonic() + self.drain_seconds
            log.info("SIGTERM: draining for %.1f s before the listener closes", self.drain_seconds)
            return
        super().handle_exit(sig, frame)  # a second signal, or SIGINT: stop now

    async def on_tick(self, counter: int) -> bool:
        if self._drain_until is not None and time.monotonic() >= self._drain_until:
            self.should_exit = True
        return await super().on_tick(counter)


def _drain(app: FastAPI) -> None:
    services: Any = getattr(app.state, "services", None)
    if services is not None:
        services.lifecycle.begin_drain()


def run_server(app: FastAPI, settings: Settings, sockets: list[socket.socket] | None = None) -> int:
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        log_config=None,  # keep the JSON logging configured by the caller
        access_log=False,  # the observability middleware writes one access line per request
        timeout_graceful_shutdown=math.ceil(settings.shutdown_grace_seconds),
    )
    server = DrainingServer(
        config, drain_seconds=settings.resolved_drain_seconds, on_drain=lambda: _drain(app)
    )
    server.run(sockets=sockets)
    return EXIT_OK if server.started else EXIT_STARTUP_FAILED


def serve(args: argparse.Namespace) -> int:
    from app.main import create_app
    from app.observability import configure_logging
    from app.security import SecurityConfigError, UnsafeBindingError
    from app.settings import load_settings
    from app.store.db import sqlite_path
    from app.store.ownership import StoreInUse, claim_sqlite

    # Flags override TRAINCTL_* variables, which override the defaults: Settings does the rest.
    overrides: dict[str, Any] = {
        key: value for key in ("host", "port", "data_dir") if (value := getattr(args, key, None)) is not None
    }
    settings = load_settings(**overrides)
    configure_logging(settings.log_level, log_format=settings.log_format)
    workers = int(getattr(args, "workers", 1) or 1)
    if workers < 1:
        print("trainctl serve: --workers must be at least 1", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        app = create_app(settings)
        db_file = sqlite_path(settings.resolved_database_url)
        if workers > 1:
            from app.cli.workers import run_workers

            return run_workers(settings, workers)
        if db_file is not None:  # say it here, not as a start-up traceback
            claim_sqlite(db_file, settings.sqlite_shared_token).release()
    except (UnsafeBindingError, SecurityConfigError, StoreInUse) as error:
        print(f"trainctl serve: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return run_server(app, settings)
