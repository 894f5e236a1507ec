"""Readable log lines for people: a terminal gets them, anything else gets JSON, and
TRAINCTL_LOG_FORMAT decides when set; `trainctl serve` on a real pseudo-terminal prints them."""

from __future__ import annotations

import io
import json
import logging
import os
import pty
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.observability import configure_logging
from tests.support.server import free_port


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def emit(stream: io.StringIO, log_format: str = "auto") -> str:
    configure_logging("INFO", stream=stream, log_format=log_format)
    logging.getLogger("trainctl.access").info(
        "POST /v1/training-runs 202 8.1ms", extra={"method": "POST", "status": 202, "run_id": "run-1"}
    )
    return stream.getvalue()


def test_a_terminal_gets_readable_colored_lines(restore_logging: None) -> None:
    line = emit(Terminal()).rstrip("\n")
    assert "\n" not in line
    assert "POST /v1/training-runs 202 8.1ms" in line and "run_id=run-1" in line
    assert "\x1b[32mINFO" in line and "access" in line
    assert "status=" not in line  # already in the message
    with pytest.raises(json.JSONDecodeError):
        json.loads(line)


def test_anything_else_gets_json_and_the_setting_wins(restore_logging: None) -> None:
    assert json.loads(emit(io.StringIO()))["run_id"] == "run-1"
    assert json.loads(emit(Terminal(), "json"))["status"] == 202
    forced = emit(io.StringIO(), "console")
    assert forced.startswith(forced[:12]) and "INFO" in forced and "\x1b[" not in forced


def read_until(fd: int, needle: bytes, timeout: float) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout
    while needle not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            try:
                seen += os.read(fd, 65536)
            except OSError:
                break
    return seen


@pytest.mark.parametrize(("log_format", "readable"), [(None, True), ("json", False)])
def test_serve_on_a_terminal(tmp_path: Path, log_format: str | None, readable: bool) -> None:
    leader, follower = pty.openpty()
    env = {**os.environ, "TRAINCTL_WARM_RUNNER": "false", "TRAINCTL_DATA_DIR": str(tmp_path / "data")}
    if log_format:
        env["TRAINCTL_LOG_FORMAT"] = log_format
    trainctl = Path(sys.executable).with_name("trainctl")
    service = subprocess.Popen(
        [str(trainctl), "serve", "--port", str(free_port())],
        stdout=follower, stderr=follower, stdin=subprocess.DEVNULL, env=env,
    )  # fmt: skip
    os.close(follower)
    try:
        output = read_until(leader, b"trainctl ready", timeout=90)
    finally:
        service.send_signal(signal.SIGTERM)
        service.wait(60)
        os.close(leader)
    ready = next(line for line in output.decode(errors="replace").splitlines() if "trainctl ready" in line)
    if readable:
        assert "INFO" in ready and not ready.lstrip().startswith("{")
    else:
        assert json.loads(ready)["level"] == "INFO"
