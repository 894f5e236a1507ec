"""Throttling, outages, slow answers and crashes: transient errors stay transient, and no run
ever ends up with two Azure jobs."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from fakeaml import FakeCredential, FakeWorkspace, Fault

from app.backends.azureml import AzureMLBackend
from app.domain.errors import BackendError
from app.domain.spec import RunSpec
from app.settings import Settings

pytestmark = pytest.mark.anyio


async def test_submit_again_after_a_crash_finds_the_first_job(
    backend_factory: Callable[..., AzureMLBackend],
    settings: Settings,
    workspace: FakeWorkspace,
    spec_factory: Callable[..., RunSpec],
) -> None:
    spec = spec_factory("pipeline", run_id="crashy")
    first = await backend_factory(settings).submit(spec)
    # the service died before saving `first`; after restart it submits the same run again
    restarted = backend_factory(settings)
    with workspace.transport.recording() as retry:
        second = await restarted.submit(spec)

    assert second.backend_job_name == first.backend_job_name
    assert list(workspace.jobs) == [first.backend_job_name]
    assert [r for r in retry if r.method != "GET"] == []  # looked up, nothing created
    assert len([r for r in retry if "/jobs/" in r.path]) == 1


async def test_a_job_name_owned_by_another_run_is_refused(
    backend: AzureMLBackend, workspace: FakeWorkspace, spec_factory: Callable[..., RunSpec]
) -> None:
    await backend.submit(spec_factory("job", run_id="a/b"))
    name = next(iter(workspace.jobs))
    workspace.jobs[name].body["properties"]["tags"]["trainctl.run_id"] = "someone-else"

    with pytest.raises(BackendError, match="belongs to run 'someone-else'") as caught:
        await backend.submit(spec_factory("job", run_id="a/b"))
    assert not caught.value.transient


@pytest.mark.parametrize("status", [429, 503])
async def test_a_lost_answer_to_the_job_put_creates_one_job(
    backend: AzureMLBackend, workspace: FakeWorkspace, spec_factory: Callable[..., RunSpec], status: int
) -> None:
    await backend.submit(spec_factory("pipeline", run_id="earlier"))  # the assets exist
    # the service stores the job, then the answer is lost (twice: the SDK's retry too)
    workspace.transport.inject(
        Fault("PUT", "/jobs/", status=status, times=2, after_processing=True, retry_after="1")
    )

    submitted = await backend.submit(spec_factory("pipeline", run_id="lost-answer"))

    assert submitted.backend_job_name == "trainctl-lost-answer"
    assert list(workspace.jobs) == ["trainctl-earlier", "trainctl-lost-answer"]


async def test_an_outage_during_submit_is_transient_and_a_retry_submits_once(
    backend: AzureMLBackend, workspace: FakeWorkspace, spec_factory: Callable[..., RunSpec]
) -> None:
    await backend.submit(spec_factory("job", run_id="earlier"))  # the assets exist
    workspace.transport.clear()
    spec = spec_factory("job", run_id="outage")
    fault = workspace.transport.inject(Fault("PUT", "/jobs/", status=503, times=2))

    with pytest.raises(BackendError) as caught:
        await backend.submit(spec)
    assert caught.value.transient
    assert fault.hits == 2  # one SDK retry, then the error is ours to retry later
    assert list(workspace.jobs) == ["trainctl-earlier"]

    await backend.submit(spec)
    await backend.submit(spec)
    assert list(workspace.jobs) == ["trainctl-earlier", "trainctl-outage"]
    assert len(workspace.transport.requests("PUT", "/jobs/")) == 3


async def test_throttled_status_read_retries_within_the_call(
    backend: AzureMLBackend, workspace: FakeWorkspace, spec_factory: Callable[..., RunSpec]
) -> None:
    spec = spec_factory("job", run_id="throttled")
    submitted = await backend.submit(spec)
    # Retry-After far beyond the cap: the SDK must not sleep a minute inside one poll
    workspace.transport.inject(Fault("GET", "/jobs/trainctl-throttled", status=429, retry_after="60"))

    started = time.monotonic()
    state = await backend.refresh(spec, submitted.backend_job_name)

    assert time.monotonic() - started < 5
    assert state.raw_status == "NotStarted"


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
async def test_persistent_server_errors_while_polling_are_transient(
    backend: AzureMLBackend, workspace: FakeWorkspace, spec_factory: Callable[..., RunSpec], status: int
) -> None:
    spec = spec_factory("pipeline", run_id=f"poll-{status}")
    submitted = await backend.submit(spec)
    workspace.transport.inject(Fault("GET", "/jobs/", status=status, times=10, retry_after="0"))

    with pytest.raises(BackendError) as caught:
        await backend.refresh(spec, submitted.backend_job_name)
    assert caught.value.transient, str(caught.value)


async def test_a_deleted_job_is_a_permanent_error(
    backend: AzureMLBackend, workspace: FakeWorkspace, spec_factory: Callable[..., RunSpec]
) -> None:
    spec = spec_factory("job", run_id="gone")
    with pytest.raises(BackendError) as caught:
        await backend.refresh(spec, "trainctl-gone")
    assert not caught.value.transient


async def test_a_stuck_call_gives_up_at_the_call_timeout(
    backend_factory: Callable[..., AzureMLBackend],
    settings: Settings,
    workspace: FakeWorkspace,
    spec_factory: Callable[..., RunSpec],
) -> None:
    backend = backend_factory(settings.model_copy(update={"azure_call_timeout_seconds": 0.5}))
    spec = spec_factory("job", run_id="slow")
    workspace.transport.inject(Fault("GET", "/jobs/trainctl-slow", delay_seconds=3))

    started = time.monotonic()
    with pytest.raises(BackendError, match=r"no answer from Azure ML within 0\.5s") as caught:
        await backend.refresh(spec, "trainctl-slow")

    assert time.monotonic() - started < 2
    assert caught.value.transient


async def test_a_token_failure_while_polling_is_transient(
    backend_factory: Callable[..., AzureMLBackend], settings: Settings, spec_factory: Callable[..., RunSpec]
) -> None:
    failing = FakeCredential()
    failing.fail_with = "identity endpoint unavailable"
    backend = backend_factory(settings, credential=failing)

    with pytest.raises(BackendError, match="could not get an Azure token") as caught:
        await backend.refresh(spec_factory("job"), "trainctl-run-0001")
    # the Azure job is unaffected by our token trouble: the reconciler keeps polling
    assert caught.value.transient


def test_the_suite_cannot_reach_beyond_loopback() -> None:
    import socket

    with pytest.raises(ConnectionRefusedError, match="loopback only"):
        socket.create_connection(("management.azure.com", 443), timeout=0.5)
    with pytest.raises(ConnectionRefusedError, match="loopback only"):
        socket.create_connection(("169.254.169.254", 80), timeout=0.5)


async def test_component_code_refused_by_storage_fails_at_once_naming_the_storage_role(
    backend_factory: Callable[..., AzureMLBackend],
    settings: Settings,
    workspace: FakeWorkspace,
    spec_factory: Callable[..., RunSpec],
) -> None:
    """azure-ai-ml reads the results of a code folder's upload threads only with progress shown
    (Azure/azure-sdk-for-python#48269); without, storage's refusal (an identity-based datastore
    and no role) was swallowed and the upload waited for ever, its thread never ending."""
    backend = backend_factory(settings.model_copy(update={"azure_call_timeout_seconds": 20.0}))
    workspace.forbidden_writes = {"blobs"}

    started = time.monotonic()
    with pytest.raises(BackendError, match="Storage Blob Data Contributor") as caught:
        await backend.submit(spec_factory("pipeline", run_id="no-storage-role"))

    assert time.monotonic() - started < 10
    assert "within" not in str(caught.value)
    assert not caught.value.transient  # a missing role: retrying does not help
    assert workspace.jobs == {}
