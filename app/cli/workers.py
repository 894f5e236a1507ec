"""`trainctl serve --workers N`: one listening socket, N worker processes serving it.

The workers are fresh interpreters (``python -m app.cli.worker``), never forks of this
process; each builds the whole app, and the lifecycle lease makes exactly one of them drive
the runs. With a SQLite store, this process owns the file (``store.ownership``) and hands the
workers its token, so they may share it while any other process is refused. A worker that dies
is replaced; SIGTERM or SIGINT is passed on to every worker, which drains as a replica does.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
from types import FrameType

from app.settings import Settings
from app.store.db import sqlite_path
from app.store.ownership import SHARED_TOKEN_ENV, SqliteClaim, claim_sqlite

log = logging.getLogger(__name__)

#: A worker that dies this soon after it started failed to start: do not loop on it.
STARTUP_SECONDS = 10.0


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


class Supervisor:
    def __init__(self, settings: Settings, workers: int) -> None:
        self.settings = settings
        self.count = workers
        self.stopping: int | None = None  # the signal being passed on, once one came
        self.procs: list[subprocess.Popen[bytes]] = []
        self.started: list[float] = []

    def _spawn(self, sock: socket.socket, env: dict[str, str]) -> subprocess.Popen[bytes]:
        fd = sock.fileno()
        return subprocess.Popen([sys.executable, "-m", "app.cli.worker", str(fd)], pass_fds=(fd,), env=env)

    def _signal(self, sig: int, frame: FrameType | None) -> None:
        self.stopping = self.stopping or sig
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(sig)

    def run(self, claim: SqliteClaim | None) -> int:
        settings = self.settings
        sock = _listen(settings.host, settings.port)
        env = {
            **os.environ,
            "TRAINCTL_HOST": settings.host,
            "TRAINCTL_PORT": str(settings.port),
            "TRAINCTL_DATA_DIR": str(settings.resolved_data_dir),
        }
        if claim is not None:
            env[SHARED_TOKEN_ENV] = claim.token
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._signal)
        self.procs = [self._spawn(sock, env) for _ in range(self.count)]
        self.started = [time.monotonic()] * self.count
        log.info("serving on %s:%d with %d workers", settings.host, settings.port, self.count)
        code = 0
        while any(p.poll() is None for p in self.procs):
            time.sleep(0.2)
            for i, proc in enumerate(self.procs):
                if proc.returncode is None or self.stopping:
                    continue
                if time.monotonic() - self.started[i] < STARTUP_SECONDS:
                    log.error("worker %d exited %s while starting; stopping", proc.pid, proc.returncode)
                    code = 3
                    self._signal(signal.SIGTERM, None)
                    break
                log.warning("worker %d exited %s; starting another", proc.pid, proc.returncode)
                self.procs[i] = self._spawn(sock, env)
                self.started[i] = time.monotonic()
        sock.close()
        return code


def run_workers(settings: Settings, workers: int) -> int:
    db_file = sqlite_path(settings.resolved_database_url)
    claim = claim_sqlite(db_file) if db_file is not None else None  # StoreInUse: the caller says so
    try:
        return Supervisor(settings, workers).run(claim)
    finally:
        if claim is not None:
            claim.release()
