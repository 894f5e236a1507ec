"""Settings every test needs: no telemetry, a writable matplotlib cache, loopback only."""

from __future__ import annotations

import os
import tempfile

os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
os.environ.setdefault("MPLCONFIGDIR", tempfile.mkdtemp(prefix="trainctl-mpl-"))
# A developer's Azure settings must never send a test to a real workspace.
for _name in ("AZUREML_ARM_SUBSCRIPTION", "AZUREML_ARM_RESOURCEGROUP", "AZUREML_ARM_WORKSPACE_NAME"):
    os.environ.pop(_name, None)
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


@pytest.fixture(scope="session")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppThread]:
    """One started service (local backend, warm step runner) shared by the API tests."""
    from app.main import create_app
    from app.settings import Settings

    data_dir = tmp_path_factory.mktemp("service-data")
    thread = AppThread(create_app(Settings(data_dir=data_dir))).start()
    thread.data_dir = data_dir  # type: ignore[attr-defined]
    yield thread
    thread.stop()


@pytest.fixture
def unique_model(request: pytest.FixtureRequest) -> str:
    """A model name of this test's own, so champion state never leaks between tests."""
    return "m-" + "".join(c if c.isalnum() else "-" for c in request.node.name)[:100]


def run_to_end(api: AppThread, body: dict[str, Any], timeout: float = 120) -> dict[str, Any]:
    created = api.post("/v1/training-runs", json=body)
    assert created.status_code == 202, created.text
    run_id = created.json()["id"]
    done = api.get(f"/v1/training-runs/{run_id}/wait", params={"timeout": timeout})
    assert done.status_code == 200, done.text
    run: dict[str, Any] = done.json()
    assert run["status"] in ("completed", "failed", "canceled"), run
    return run


def sample_csv(path: Path, rows: int = 2000, seed: int = 3) -> Path:
    from app.sampledata import write_csv

    return Path(write_csv(path, rows=rows, seed=seed))
