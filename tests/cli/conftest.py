"""Fixtures for the CLI tests: a real `trainctl serve` on a free loopback port, and a runner
that calls the CLI's `main()` in this process and captures what it prints."""

from __future__ import annotations

import contextlib
import io
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from app.cli import main

ROOT = Path(__file__).resolve().parents[2]
# Variables that would point the CLI or the service somewhere other than the test's own.
FOREIGN_ENV = (
    "TRAINCTL_URL",
    "TRAINCTL_API_KEY",
    "TRAINCTL_TOKEN",
    "TRAINCTL_DATA_DIR",
    "TRAINCTL_DATABASE_URL",
    "TRAINCTL_BACKEND",
    "TRAINCTL_AUTH_MODE",
    "AZUREML_ARM_SUBSCRIPTION",
    "AZUREML_ARM_RESOURCEGROUP",
    "AZUREML_ARM_WORKSPACE_NAME",
)
MODEL = "cli-model"

for _name in FOREIGN_ENV:
    os.environ.pop(_name, None)
# Before anything imports mlflow (--local does, in this process): no telemetry calls.
os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str


def invoke(*argv: str) -> Result:
    """`trainctl ARGV...` in this process; stdout is not a TTY, so progress prints plain lines."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return Result(code, out.getvalue(), err.getvalue())


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass(frozen=True)
class Service:
    url: str
    data_dir: Path

    def __call__(self, *argv: str) -> Result:
        """The CLI pointed at this service."""
        return invoke(*argv, "--url", self.url)


@pytest.fixture(scope="session")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    data_dir = tmp_path_factory.mktemp("cli-service")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = data_dir.parent / "serve.log"
    with log_path.open("wb") as log:
        # `python -m app serve` exercises app/__main__.py and the serve command as a user would.
        process = subprocess.Popen(
            [sys.executable, "-m", "app", "serve", "--port", str(port), "--data-dir", str(data_dir)],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                pytest.fail(
                    f"trainctl serve exited with {process.returncode}:\n{log_path.read_text()[-3000:]}"
                )
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"trainctl serve did not answer /healthz:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.2)
        yield Service(url, data_dir)
    finally:
        process.send_signal(signal.SIGINT)  # uvicorn's graceful stop runs the lifespan shutdown
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@dataclass(frozen=True)
class FinishedPipeline:
    run_id: str
    result: Result


@pytest.fixture(scope="session")
def first_pipeline(service: Service) -> FinishedPipeline:
    """The first pipeline of MODEL, submitted with exactly the original script's flags."""
    result = service(
        "pipeline",
        "--experiment_name", "cli-experiment",
        "--environment_name", "diabetes-classify@latest",
        "--model_name", MODEL,
        "--compute_name", "cpu-cluster",
        "--data_asset_name", "diabetes-diagnostics",
        "--reg_rate", "0.05",
        "--solver", "liblinear",
        "--pipeline", "cli-pipeline",
        "--evaluation_output", "outputs/evaluation",
        "--wait",
    )  # fmt: skip
    assert result.code == 0, result
    found = re.search(r"\brun-[0-9a-z]+", result.out)
    assert found, result.out
    run_id = found.group()
    return FinishedPipeline(run_id, result)
