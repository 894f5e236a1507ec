"""Fixtures for the security tests: a fake training backend, app factories, a real uvicorn
server on a loopback port, a local HTTP receiver (callbacks, JWKS) and Entra-style tokens
signed with a locally generated RSA key. Nothing here touches the network beyond 127.0.0.1."""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
import uvicorn
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI
from pydantic import SecretStr

from app.backends.base import (
    PIPELINE_STEPS,
    TRAIN_STEP,
    ArtifactInfo,
    BackendInfo,
    ModelRef,
    Outcome,
    ReadyReport,
    RegisteredModelInfo,
    RunSpec,
    RunState,
    StepState,
    Submitted,
)
from app.backends.local.mlflow_reader import MlflowReader
from app.main import create_app
from app.settings import Settings

os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"

# One key per role. The admin key is configured in plain text, the others as digests, so
# both configuration forms are exercised by every auth test.
KEYS = {
    "reader": "reader-key-4f1c9a2e7b",
    "submitter": "submitter-key-93d0e1f6",
    "admin": "admin-key-5a7c2b8d9e0f",
}
TENANT = "11111111-2222-3333-4444-555555555555"
AUDIENCE = "api://trainctl-tests"
ISSUER = f"https://login.microsoftonline.com/{TENANT}/v2.0"
CALLBACK_SECRET = "callback-secret-for-tests-0123456789"


def api_keys_setting() -> SecretStr:
    digest = {role: hashlib.sha256(key.encode()).hexdigest() for role, key in KEYS.items()}
    return SecretStr(f"reader:{digest['reader']}, submitter:{digest['submitter']}, admin:{KEYS['admin']}")


def key_headers(role: str) -> dict[str, str]:
    return {"X-API-Key": KEYS[role]}


@pytest.fixture(autouse=True)
def _hermetic_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's TRAINCTL_* variables must not change what these tests see."""
    for name in list(os.environ):
        if name.startswith("TRAINCTL_") or name.startswith("AZUREML_ARM_"):
            monkeypatch.delenv(name)


# -- a fake backend that ends runs at once, with real artifact-path checks -------------------


class DirReader(MlflowReader):
    """The local backend's reader, with artifact folders in a plain directory instead of MLflow."""

    def __init__(self, root: Path) -> None:
        super().__init__("sqlite:///unused")
        self.root = root

    def _artifact_root(self, run_id: str) -> Path:
        return (self.root / run_id).resolve()


@dataclass
class FakeBackend:
    """Behaves like a backend whose runs finish the moment they are submitted."""

    artifact_root: Path
    hold_all: bool = False  # keep every run running (until canceled)
    canceled: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.reader = DirReader(self.artifact_root)

    async def start(self) -> None:
        self.artifact_root.mkdir(parents=True, exist_ok=True)

    async def close(self, grace_seconds: float = 0.0) -> None:
        return None

    def describe(self) -> BackendInfo:
        return BackendInfo(kind="local", details={"engine": "fake"})

    async def ready(self) -> ReadyReport:
        return ReadyReport(ready=True, checks={"backend": "ok"})

    def _steps(self, spec: RunSpec) -> tuple[str, ...]:
        return PIPELINE_STEPS if spec.kind == "pipeline" else (TRAIN_STEP,)

    async def submit(self, spec: RunSpec) -> Submitted:
        for step in self._steps(spec):
            folder = self.artifact_root / f"{spec.run_id}-{step}"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "plot.png").write_bytes(b"\x89PNG\r\n\x1a\nfake")
        return Submitted(backend_job_name=f"fake-{spec.run_id}", raw_status="Running")

    async def refresh(self, spec: RunSpec, backend_job_name: str) -> RunState:
        now = datetime.now(UTC)
        raw = "Canceled" if spec.run_id in self.canceled else "Running" if self.hold_all else "Completed"
        steps = [
            StepState(
                name=step,
                raw_status=raw,
                started_at=now - timedelta(seconds=1),
                ended_at=None if raw == "Running" else now,
                mlflow_run_id=f"{spec.run_id}-{step}",
            )
            for step in self._steps(spec)
        ]
        return RunState(raw_status=raw, steps=steps, started_at=now - timedelta(seconds=1), ended_at=now)

    async def cancel(self, spec: RunSpec, backend_job_name: str) -> None:
        self.canceled.add(spec.run_id)

    async def metrics(self, step_mlflow_run_ids: dict[str, str]) -> dict[str, dict[str, float]]:
        return {step: {"accuracy": 0.9} for step in step_mlflow_run_ids}

    async def artifacts(self, step_mlflow_run_ids: dict[str, str]) -> list[ArtifactInfo]:
        return self.reader.artifacts(step_mlflow_run_ids)

    async def artifact(self, step_mlflow_run_ids: dict[str, str], path: str) -> Path:
        return self.reader.artifact_file(step_mlflow_run_ids, path)

    async def logs(self, spec: RunSpec, backend_job_name: str, step: str) -> str:
        raise KeyError(step)

    async def outcome(self, spec: RunSpec, backend_job_name: str) -> Outcome | None:
        if spec.kind != "pipeline":
            return None
        model = ModelRef(spec.model_name, "1", {"roc_auc": 0.9})
        return Outcome(True, "no champion yet", {"metric": "roc_auc"}, {"roc_auc": 0.9}, None, model, model)

    async def model(self, name: str) -> RegisteredModelInfo | None:
        return None


# -- apps --------------------------------------------------------------------------------------


@dataclass
class Built:
    app: FastAPI
    backend: FakeBackend
    settings: Settings


AppFactory = Callable[..., Built]


def build(data_dir: Path, **overrides: Any) -> Built:
    values: dict[str, Any] = {"data_dir": data_dir, "backend": "local", "warm_runner": False}
    values.update(overrides)
    settings = Settings(**values)
    backend = FakeBackend(data_dir / "fake-artifacts")
    return Built(create_app(settings, backend=backend), backend, settings)


@pytest.fixture
def make_app(tmp_path: Path) -> AppFactory:
    def make(**overrides: Any) -> Built:
        return build(tmp_path / "data", **overrides)

    return make


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)


# -- a real server on a loopback port ---------------------------------------------------------


class LiveServer:
    def __init__(self, app: FastAPI) -> None:
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        wait_for(lambda: self.server.started or not self.thread.is_alive(), timeout=60)
        assert self.server.started, "uvicorn did not start"
        return self

    @property
    def port(self) -> int:
        port: int = self.server.servers[0].sockets[0].getsockname()[1]
        return port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


# -- a local HTTP receiver: callbacks and the JWKS document ------------------------------------


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


class Receiver:
    """Records POSTs and answers them with the next queued status (then `default_status`);
    serves `documents` on GET."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.statuses: list[int] = []
        self.default_status = 200
        self.documents: dict[str, Any] = {}
        self.gets: list[str] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                with receiver.lock:
                    receiver.received.append(Received(self.path, dict(self.headers.items()), body))
                    status = receiver.statuses.pop(0) if receiver.statuses else receiver.default_status
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self) -> None:
                with receiver.lock:
                    receiver.gets.append(self.path)
                    document = receiver.documents.get(self.path)
                payload = json.dumps(document).encode() if document is not None else b""
                self.send_response(200 if document is not None else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    found.thread.start()
    yield found
    found.server.shutdown()
    found.server.server_close()


@pytest.fixture(scope="module")
def module_receiver() -> Iterator[Receiver]:
    found = Receiver()
    found.thread.start()
    yield found
    found.server.shutdown()
    found.server.server_close()


# -- Entra-style tokens --------------------------------------------------------------------------


@dataclass
class Signer:
    """An RSA key pair standing in for one of the tenant's signing keys."""

    kid: str
    key: rsa.RSAPrivateKey

    @classmethod
    def generate(cls, kid: str | None = None) -> Signer:
        return cls(kid or uuid.uuid4().hex, rsa.generate_private_key(public_exponent=65537, key_size=2048))

    def jwk(self) -> dict[str, Any]:
        public: dict[str, Any] = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        return {**public, "kid": self.kid, "use": "sig"}

    def token(self, *, kid: str | None = None, algorithm: str = "RS256", **claims: Any) -> str:
        now = int(time.time())
        body: dict[str, Any] = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "iat": now,
            "nbf": now,
            "exp": now + 600,
            "azp": "caller-app",
            "tid": TENANT,
        }
        body.update(claims)
        body = {k: v for k, v in body.items() if v is not None}
        return jwt.encode(body, self.key, algorithm=algorithm, headers={"kid": kid or self.kid})


@pytest.fixture(scope="session")
def signer() -> Signer:
    return Signer.generate("tenant-key-1")


@pytest.fixture(scope="session")
def impostor() -> Signer:
    """Another key claiming the tenant key's id: its tokens must not verify."""
    return Signer.generate("tenant-key-1")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def entra_settings(jwks_url: str) -> dict[str, Any]:
    return {
        "auth_mode": "entra",
        "entra_tenant_id": TENANT,
        "entra_audience": AUDIENCE,
        "entra_jwks_url": jwks_url,
    }
