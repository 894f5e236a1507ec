"""Fixtures for the Azure ML backend tests: the fake workspace, a real MLflow server, the backend.

Nothing here reaches a host other than loopback: `_loopback_only` refuses any other socket
connection for the whole directory, so a missed route fails loudly instead of timing out.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

from backendkit import CLIENT_ID, COMPONENTS, make_settings, make_spec
from fakeaml import FakeClock, FakeCredential, FakeWorkspace
from fakeaml.blob_routing import route_blob_clients
from fakeaml.endpoints import SilentEndpoint
from fakeaml.mlflow_server import MlflowServer, Registry, StartingServer, seed_registry

from app.backends.azureml import AzureMLBackend
from app.domain.spec import RunSpec
from app.settings import Settings
from tests.support.asgi import AppThread

MLFLOW_HTTP_VARIABLES = (
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR",
    "MLFLOW_HTTP_REQUEST_TIMEOUT",
    "AZUREML_HTTP_REQUEST_TIMEOUT",
)


def _is_loopback(host: Any) -> bool:
    if not isinstance(host, str):
        return True  # AF_UNIX paths and the like
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: starts a real mlflow server (tens of seconds on 2 cores)")


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def guard(address: Any) -> None:
        host = address[0] if isinstance(address, tuple) else address
        if not _is_loopback(host):
            raise ConnectionRefusedError(f"test guard: connection to {host!r} refused (loopback only)")

    def connect(self: socket.socket, address: Any) -> None:
        guard(address)
        real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        guard(address)
        return real_connect_ex(self, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, bytes):
            host = host.decode()
        guard((host, 0))
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    # Keep identity libraries from finding a real endpoint through the environment.
    for var in ("IDENTITY_ENDPOINT", "IDENTITY_HEADER", "MSI_ENDPOINT", "MSI_SECRET", "AZURE_CLIENT_ID"):
        monkeypatch.delenv(var, raising=False)
    # The backend bounds MLflow's HTTP client through its environment variables: whatever a
    # test's backend set is undone after it (setenv first, so an absent one is restored absent).
    for var in MLFLOW_HTTP_VARIABLES:
        monkeypatch.setenv(var, os.environ.get(var, "0"))
        if var not in os.environ or os.environ[var] == "0":
            monkeypatch.delenv(var)


@pytest.fixture(scope="session", autouse=True)
def _starting_mlflow_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[StartingServer | None]:
    """Launch the MLflow server with the first Azure test when any selected test needs it, so
    its start-up overlaps the tests that do not; they wait for it only where needed."""
    if not any("mlflow_server" in getattr(item, "fixturenames", ()) for item in request.session.items):
        yield None
        return
    starting = StartingServer(tmp_path_factory.mktemp("mlflow-server"))
    try:
        yield starting
    finally:
        starting.stop()


@pytest.fixture(scope="session")
def mlflow_server(_starting_mlflow_server: StartingServer | None) -> MlflowServer:
    assert _starting_mlflow_server is not None
    return _starting_mlflow_server.ready()


@pytest.fixture(scope="session")
def registry(mlflow_server: MlflowServer) -> Registry:
    """What two pipeline runs of one model logged (shared, read-only)."""
    return seed_registry(mlflow_server.client(), f"diabetes-{uuid.uuid4().hex[:8]}")


@pytest.fixture
def components_dir() -> Path:
    return COMPONENTS


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def workspace(clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> FakeWorkspace:
    fake = FakeWorkspace(clock)
    fake.add_data_asset("diabetes-diagnostics", "1")
    fake.add_data_asset("diabetes-diagnostics", "2")
    fake.add_compute("gpu-cluster")
    route_blob_clients(monkeypatch, fake.transport)
    return fake


@pytest.fixture
def credential() -> FakeCredential:
    return FakeCredential(CLIENT_ID)


@pytest.fixture
def settings_factory(workspace: FakeWorkspace, tmp_path: Path) -> Callable[..., Settings]:
    """Settings for the fake workspace; keyword overrides use the env-var names for Azure."""
    return lambda **overrides: make_settings(workspace, tmp_path / "data", **overrides)


@pytest.fixture
def settings(settings_factory: Callable[..., Settings]) -> Settings:
    return settings_factory()


@pytest.fixture
def tracking_uri() -> str:
    """Where the backend's MLflow client points. Modules that read MLflow back override this
    with the real server; elsewhere a closed loopback port makes any stray read fail fast."""
    return "http://127.0.0.1:9"


@pytest.fixture
def backend_factory(
    workspace: FakeWorkspace, credential: FakeCredential, tracking_uri: str
) -> Iterator[Callable[..., AzureMLBackend]]:
    """A new backend each call: a restarted service process sharing the same workspace."""
    made: list[AzureMLBackend] = []

    def make(settings: Settings, **overrides: Any) -> AzureMLBackend:
        options: dict[str, Any] = {
            "credential": credential,
            "transport": workspace.transport,
            "mlflow_tracking_uri": tracking_uri,
            "components_dir": COMPONENTS,
        }
        options.update(overrides)
        backend = AzureMLBackend(settings, **options)
        made.append(backend)
        return backend

    yield make
    for backend in made:
        backend._calls.close()
        if backend._reader is not None:
            backend._reader.close()


@pytest.fixture
def backend(backend_factory: Callable[..., AzureMLBackend], settings: Settings) -> AzureMLBackend:
    return backend_factory(settings)


@pytest.fixture
def spec_factory() -> Callable[..., RunSpec]:
    return make_spec


@pytest.fixture
def silent_endpoint() -> Iterator[SilentEndpoint]:
    """A loopback port that accepts connections and never answers."""
    endpoint = SilentEndpoint()
    yield endpoint
    endpoint.close()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def service(
    backend_factory: Callable[..., AzureMLBackend], settings_factory: Callable[..., Settings]
) -> Iterator[AppThread]:
    """The whole service (API and lifecycle) on the fake workspace, in a thread of this process."""
    from app.main import create_app

    settings = settings_factory(azure_poll_seconds=0.2)
    thread = AppThread(create_app(settings, backend=backend_factory(settings))).start()
    yield thread
    thread.stop()
