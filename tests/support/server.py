"""A real uvicorn process on a free loopback port, for end-to-end, crash and replica tests:
``uvicorn app.main:create_app --factory`` by default, or ``trainctl serve`` (``serve=True``,
which adds the SIGTERM drain and ``--workers``)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ServiceProcess:
    def __init__(
        self,
        data_dir: Path,
        *,
        port: int | None = None,
        env: dict[str, str] | None = None,
        serve: bool = False,
        workers: int = 1,
    ) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = env or {}
        self.serve = serve or workers > 1
        self.workers = workers
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir.parent / f"service-{self.port}.log"

    def start(self, timeout: float = 120) -> ServiceProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "TRAINCTL_DATA_DIR": str(self.data_dir), **self.env}
        if self.serve:
            command = ["-m", "app", "serve", "--port", str(self.port), "--workers", str(self.workers)]
            env.setdefault("TRAINCTL_LOG_LEVEL", "WARNING")
        else:
            command = ["-m", "uvicorn", "app.main:create_app", "--factory", "--port", str(self.port)]
            command += ["--host", "127.0.0.1", "--log-level", "warning"]
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, *command],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=Path(__file__).resolve().parents[2],
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"service exited {self.proc.returncode}: {self.log_path.read_text()[-3000:]}"
                )
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"service did not start: {self.log_path.read_text()[-3000:]}")

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60)

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a crash."""
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(30)

    def terminate(self) -> None:
        """SIGTERM, without waiting: the service drains and stops by itself."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
