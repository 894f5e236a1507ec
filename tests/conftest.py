"""Settings every test needs: no telemetry, a writable matplotlib cache, loopback only."""

from __future__ import annotations

import os
import tempfile

os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
os.environ.setdefault("MPLCONFIGDIR", tempfile.mkdtemp(prefix="trainctl-mpl-"))
# A developer's Azure settings must never send a test to a real workspace.
for _name in ("AZUREML_ARM_SUBSCRIPTION", "AZUREML_ARM_RESOURCEGROUP", "AZUREML_ARM_WORKSPACE_NAME"):
    os.environ.pop(_name, None)
import tests.support.databases  # noqa: E402,F401  (reads TRAINCTL_TEST_DATABASE_URL first)

for _name in list(os.environ):
    # TRAINCTL_AZURE_RECORDINGS is the test suite's own input (which recordings to replay)
    if _name.startswith("TRAINCTL_") and _name != "TRAINCTL_AZURE_RECORDINGS":
        del os.environ[_name]
# The empty MLflow schema cache (see app/backends/local/mlflow_store.py): per test session.
os.environ["TRAINCTL_CACHE_DIR"] = tempfile.mkdtemp(prefix="trainctl-cache-")

from collections.abc import Iterator  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import pytest  # noqa: E402

from tests.support.asgi import AppThread  # noqa: E402
from tests.support.databases import KINDS, database, require_postgres  # noqa: E402


@pytest.fixture(scope="session", params=KINDS)
def db_kind(request: pytest.FixtureRequest) -> str:
    """Each test that needs a database runs on SQLite and on PostgreSQL (skipped, saying why,
    when no PostgreSQL server is configured)."""
    kind: str = request.param
    if kind == "postgresql":
        require_postgres()
    return kind


@pytest.fixture
def database_url(db_kind: str, tmp_path: Path) -> Iterator[str]:
    """An empty database of this test's own."""
    with database(db_kind, tmp_path / "db") as url:
        yield url


@pytest.fixture(scope="session")
def api(tmp_path_factory: pytest.TempPathFactory, db_kind: str) -> Iterator[AppThread]:
    """One started service (local backend, warm step runner) shared by the API tests."""
    from app.main import create_app
    from app.settings import Settings

    data_dir = tmp_path_factory.mktemp("service-data")
    with database(db_kind, data_dir) as url:
        thread = AppThread(create_app(Settings(data_dir=data_dir, database_url=url))).start()
        thread.data_dir = data_dir  # type: ignore[attr-defined]
        yield thread
        thread.stop()


@pytest.fixture
def unique_model(request: pytest.FixtureRequest) -> str:
    """A model name of this test's own, so champion state never leaks between tests."""
    return "m-" + "".join(c if c.isalnum() else "-" for c in request.node.name)[:100]


# -- fixtures shared across test packages (their code lives in tests/support) ------------------

from tests.support.auth import Signer  # noqa: E402
from tests.support.fakebackend import AppFactory, Built, build  # noqa: E402
from tests.support.http import Receiver  # noqa: E402


@pytest.fixture(autouse=True)
def _hermetic_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's TRAINCTL_* variables must not change what a test sees."""
    for name in list(os.environ):
        if (name.startswith("TRAINCTL_") and name != "TRAINCTL_CACHE_DIR") or name.startswith("AZUREML_ARM_"):
            monkeypatch.delenv(name)


@pytest.fixture
def make_app(tmp_path: Path) -> AppFactory:
    """An app over the fake backend (runs end at once), with any settings overridden."""

    def make(**overrides: Any) -> Built:
        return build(tmp_path / "data", **overrides)

    return make


def _started_receiver() -> Receiver:
    found = Receiver()
    found.thread.start()
    return found


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = _started_receiver()
    yield found
    found.server.shutdown()
    found.server.server_close()


@pytest.fixture(scope="module")
def module_receiver() -> Iterator[Receiver]:
    found = _started_receiver()
    yield found
    found.server.shutdown()
    found.server.server_close()


@pytest.fixture(scope="session")
def signer() -> Signer:
    return Signer.generate("tenant-key-1")


@pytest.fixture(scope="session")
def impostor() -> Signer:
    """Another key claiming the tenant key's id: its tokens must not verify."""
    return Signer.generate("tenant-key-1")


def pytest_report_header() -> str:
    from tests.support.seeds import FIXED_SEED, commit_seed

    seed = commit_seed()
    return f"fuzz seeds: fixed {FIXED_SEED}, this commit {seed} (replay with TRAINCTL_FUZZ_SEED={seed})"
