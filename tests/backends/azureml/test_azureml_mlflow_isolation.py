"""A tracking endpoint that hangs must not take Azure ML down with it.

MLflow's HTTP client retries 7 times with a 120 s timeout per request; MLflow reads that
share the Azure ML calls' worker threads would hold every one of them for many minutes, and
submit, poll and cancel would queue behind them. MLflow reads get their own small pool and
short timeouts; the control plane keeps answering.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable

import pytest
from fakeaml import FakeClock, FakeWorkspace
from fakeaml.endpoints import SilentEndpoint

from app.backends.azureml import AzureMLBackend
from app.domain.errors import BackendError
from app.domain.spec import RunSpec
from app.settings import Settings

pytestmark = pytest.mark.anyio

CALL_LIMIT = 5.0
AZURE_WORKERS = 8  # client.AzureCalls' pool


async def test_a_hanging_tracking_endpoint_does_not_starve_submit_poll_or_cancel(
    backend_factory: Callable[..., AzureMLBackend],
    settings: Settings,
    workspace: FakeWorkspace,
    clock: FakeClock,
    spec_factory: Callable[..., RunSpec],
    silent_endpoint: SilentEndpoint,
) -> None:
    backend = backend_factory(
        settings.model_copy(update={"azure_call_timeout_seconds": CALL_LIMIT}),
        mlflow_tracking_uri=f"http://127.0.0.1:{silent_endpoint.port}",
    )
    spec = spec_factory("pipeline", run_id="busy")
    submitted = await backend.submit(spec)  # components and environment registered before the hang
    clock.advance(150)
    # more MLflow reads than the Azure ML calls have threads, each stuck on the endpoint
    reads = [
        asyncio.create_task(backend.metrics({"train-model": f"run-{index}"}))
        for index in range(AZURE_WORKERS + 4)
    ]
    await asyncio.sleep(0.5)

    started = time.monotonic()
    other = await backend.submit(spec_factory("job", run_id="while-busy"))
    state = await backend.refresh(spec, submitted.backend_job_name)
    await backend.cancel(spec, submitted.backend_job_name)
    took = time.monotonic() - started

    assert took < 3, f"submit, poll and cancel took {took:.1f}s behind the stuck MLflow reads"
    assert other.backend_job_name == "trainctl-while-busy"
    assert state.raw_status == "Running"
    # the stuck reads themselves end at the call limit, as errors worth retrying later
    results = await asyncio.wait_for(asyncio.gather(*reads, return_exceptions=True), CALL_LIMIT + 5)
    assert all(isinstance(r, BackendError) and r.transient for r in results), results


async def test_mlflow_http_is_bounded_unless_the_operator_says_otherwise(
    backend_factory: Callable[..., AzureMLBackend], settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in (
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES",
        "MLFLOW_HTTP_REQUEST_TIMEOUT",
        "AZUREML_HTTP_REQUEST_TIMEOUT",
    ):
        monkeypatch.delenv(name, raising=False)  # conftest restores whatever the backend sets
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "3")  # an operator's own choice

    await backend_factory(settings)._mlflow()

    from mlflow.environment_variables import MLFLOW_HTTP_REQUEST_MAX_RETRIES, MLFLOW_HTTP_REQUEST_TIMEOUT

    assert MLFLOW_HTTP_REQUEST_MAX_RETRIES.get() <= 2  # MLflow's default: 7
    assert MLFLOW_HTTP_REQUEST_TIMEOUT.get() <= 10  # MLflow's default: 120 s
    assert float(os.environ["AZUREML_HTTP_REQUEST_TIMEOUT"]) <= 30  # azureml-mlflow's: 300 s
    assert os.environ["MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR"] == "3"
