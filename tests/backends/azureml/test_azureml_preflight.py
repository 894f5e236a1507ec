"""Pre-flight (`trainctl doctor`, `/readyz`): a clear sentence per problem, within 5 s, even when
the identity endpoint accepts a connection and never answers."""

from __future__ import annotations

import shutil
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from backendkit import COMPONENTS
from fakeaml import FakeCredential, FakeWorkspace
from fakeaml.endpoints import ScriptedEndpoint, SilentEndpoint

from app.backends.azureml import AzureMLBackend, preflight
from app.backends.azureml.client import build_credential
from app.backends.azureml.environments import owned_version
from app.settings import Settings

pytestmark = pytest.mark.anyio

LIMIT = 5.0
T = TypeVar("T")


async def _timed(coro: Awaitable[T]) -> tuple[T, float]:
    started = time.monotonic()
    result = await coro
    return result, time.monotonic() - started


async def test_all_checks_pass(
    settings: Settings, workspace: FakeWorkspace, credential: FakeCredential
) -> None:
    workspace.add_environment("trainctl-diabetes", owned_version(COMPONENTS))

    report, took = await _timed(
        preflight(settings, credential=credential, transport=workspace.transport, compute="cpu-cluster")
    )

    assert report.ready, report.checks
    assert report.checks == {
        "token": "ok",
        "workspace": "ok",
        "compute": "ok",
        "environment": "ok",
    }
    assert took < LIMIT


async def test_trainctl_environment_not_yet_registered_is_not_a_failure(
    settings: Settings, workspace: FakeWorkspace, credential: FakeCredential
) -> None:
    workspace.add_environment("trainctl-diabetes", "1")  # another version: not this conda file's

    report = await preflight(settings, credential=credential, transport=workspace.transport)

    assert report.ready
    assert report.checks["environment"] == (
        f"ok (environment trainctl-diabetes:{owned_version(COMPONENTS)} is not registered yet; it will "
        "be created from components/environment/conda.yml on the first submission, and the first job "
        "builds its image)"
    )


async def test_an_environment_trainctl_cannot_build_fails(
    settings: Settings, workspace: FakeWorkspace, credential: FakeCredential, tmp_path: Path
) -> None:
    components = tmp_path / "components"
    shutil.copytree(COMPONENTS, components, ignore=shutil.ignore_patterns("__pycache__"))
    (components / "environment" / "conda.yml").write_text("name: trainctl-diabetes\ndependencies: [pip]\n")

    report = await preflight(
        settings, credential=credential, transport=workspace.transport, components_dir=components
    )

    assert not report.ready
    assert report.checks["environment"].startswith(
        "trainctl's environment trainctl-diabetes cannot be built:"
    )
    assert "does not pin python" in report.checks["environment"]


@pytest.mark.parametrize(
    ("environment", "registered"),
    [("team-env:4", ("team-env", "4")), ("team-env@latest", ("team-env", "2"))],
)
async def test_a_named_environment_must_exist(
    settings: Settings,
    workspace: FakeWorkspace,
    credential: FakeCredential,
    environment: str,
    registered: tuple[str, str],
) -> None:
    """trainctl creates only its own environment: one you name is never created for you."""
    workspace.add_environment("other-env", "4")

    report = await preflight(
        settings, credential=credential, transport=workspace.transport, environment=environment
    )

    assert not report.ready
    assert report.checks["environment"] == (
        f"environment {environment} does not exist in workspace ws-trainctl: register it, or leave "
        "the environment out to use trainctl's own."
    )
    workspace.add_environment(*registered)
    again = await preflight(
        settings, credential=credential, transport=workspace.transport, environment=environment
    )
    assert again.checks["environment"] == "ok", again.checks


async def test_no_token(settings: Settings, workspace: FakeWorkspace) -> None:
    failing = FakeCredential()
    failing.fail_with = (
        "ManagedIdentityCredential authentication unavailable, no response from the IMDS endpoint"
    )

    report, took = await _timed(preflight(settings, credential=failing, transport=workspace.transport))

    checks = report.checks
    assert not report.ready
    assert checks["token"].startswith("managed identity 11111111-2222-3333-4444-555555555555 could not get")
    assert "no response from the IMDS endpoint" in checks["token"]
    assert checks["workspace"] == "not checked: an earlier check failed"
    assert took < LIMIT
    assert workspace.transport.log == []


async def test_a_hanging_credential_is_cut_off(settings: Settings, workspace: FakeWorkspace) -> None:
    stuck = FakeCredential()
    stuck.delay_seconds = 8

    report, took = await _timed(preflight(settings, credential=stuck, transport=workspace.transport))

    assert took < LIMIT
    assert "within 5s" in report.checks["token"]


async def test_real_managed_identity_against_a_silent_endpoint(
    settings: Settings,
    workspace: FakeWorkspace,
    silent_endpoint: SilentEndpoint,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("IDENTITY_ENDPOINT", f"http://127.0.0.1:{silent_endpoint.port}/msi/token")
    monkeypatch.setenv("IDENTITY_HEADER", "test-header")

    report, took = await _timed(preflight(settings, transport=workspace.transport))

    checks = report.checks
    assert not report.ready
    assert checks["token"].startswith("managed identity 11111111-2222-3333-4444-555555555555 could not get")
    assert took < LIMIT
    assert workspace.transport.log == []


def test_the_real_credential_fails_fast_on_its_own(
    settings: Settings, silent_endpoint: SilentEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not only our deadline: the credential itself gives up (its thread does not linger)."""
    from azure.core.exceptions import AzureError

    monkeypatch.setenv("IDENTITY_ENDPOINT", f"http://127.0.0.1:{silent_endpoint.port}/msi/token")
    monkeypatch.setenv("IDENTITY_HEADER", "test-header")
    credential = build_credential(settings)

    started = time.monotonic()
    # a read timeout surfaces as ServiceResponseTimeoutError, not ClientAuthenticationError
    with pytest.raises(AzureError):
        credential.get_token("https://management.azure.com/.default")
    assert time.monotonic() - started < 4


def test_without_a_client_id_the_chain_is_non_interactive(settings: Settings) -> None:
    from azure.identity import DefaultAzureCredential, InteractiveBrowserCredential

    credential = build_credential(settings.model_copy(update={"managed_identity_client_id": None}))

    assert isinstance(credential, DefaultAzureCredential)
    assert not any(isinstance(c, InteractiveBrowserCredential) for c in credential.credentials)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (403, "is not allowed to read workspace ws-trainctl in resource group rg-trainctl"),
        (404, "workspace ws-trainctl in resource group rg-trainctl"),
    ],
)
async def test_workspace_forbidden_or_missing(
    settings: Settings, workspace: FakeWorkspace, credential: FakeCredential, status: int, expected: str
) -> None:
    workspace.workspace_status = status

    report, took = await _timed(preflight(settings, credential=credential, transport=workspace.transport))

    checks = report.checks
    assert not report.ready
    assert expected in checks["workspace"]
    if status == 403:
        assert "AzureML Data Scientist" in checks["workspace"]
    else:
        assert "was not found" in checks["workspace"]
    assert checks["compute"] == "not checked: an earlier check failed"
    assert took < LIMIT


async def test_wrong_workspace_name(
    workspace: FakeWorkspace, credential: FakeCredential, settings_factory: Callable[..., Settings]
) -> None:
    settings = settings_factory(AZUREML_ARM_WORKSPACE_NAME="no-such-ws")

    report = await preflight(settings, credential=credential, transport=workspace.transport)

    assert "workspace no-such-ws in resource group rg-trainctl" in report.checks["workspace"]
    assert "was not found" in report.checks["workspace"]


async def test_missing_compute(
    settings: Settings, workspace: FakeWorkspace, credential: FakeCredential
) -> None:
    report, took = await _timed(
        preflight(settings, credential=credential, transport=workspace.transport, compute="big-gpu")
    )

    checks = report.checks
    assert not report.ready
    assert checks["compute"] == "compute big-gpu does not exist in workspace ws-trainctl."
    assert took < LIMIT


async def test_workspace_without_any_compute(
    settings: Settings, workspace: FakeWorkspace, credential: FakeCredential
) -> None:
    workspace.computes.clear()

    report = await preflight(settings, credential=credential, transport=workspace.transport)

    assert report.checks["compute"].startswith("workspace ws-trainctl has no compute")


async def test_not_configured(tmp_path: Path) -> None:
    report = await preflight(Settings.model_validate({"data_dir": tmp_path}))

    assert not report.ready
    assert "AZUREML_ARM_SUBSCRIPTION" in report.checks["configuration"]


async def test_backend_ready_and_describe(backend: AzureMLBackend) -> None:
    report = await backend.ready()
    info = backend.describe()

    assert report.ready, report.checks
    assert info.kind == "azureml"
    assert info.details["workspace"] == "ws-trainctl"
    assert info.details["identity_client_id"] == "11111111-2222-3333-4444-555555555555"
    assert "secret" not in " ".join(info.details).lower()


IMDS_TOKEN = {
    "access_token": "fake-imds-token",
    "expires_in": "3599",
    "expires_on": str(int(time.time()) + 3599),
    "resource": "https://management.azure.com/",
    "token_type": "Bearer",
}


@pytest.fixture
def imds(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[list[tuple[int, Any]]], ScriptedEndpoint]]:
    """An IMDS endpoint answering from a script (the identity library's own override of
    IMDS's address points the real ManagedIdentityCredential at it)."""
    made: list[ScriptedEndpoint] = []

    def start(answers: list[tuple[int, Any]]) -> ScriptedEndpoint:
        endpoint = ScriptedEndpoint(answers)
        made.append(endpoint)
        monkeypatch.setenv("AZURE_POD_IDENTITY_AUTHORITY_HOST", endpoint.url)
        return endpoint

    yield start
    for endpoint in made:
        endpoint.close()


def test_transient_imds_answers_are_retried(
    settings: Settings, imds: Callable[[list[tuple[int, Any]]], ScriptedEndpoint]
) -> None:
    """IMDS answers 410 while it is being upgraded (and 429/5xx when busy): the identity
    library retries those; a service that turned its retries off failed on the first one."""
    endpoint = imds([(410, {}), (410, {}), (200, IMDS_TOKEN)])

    token = build_credential(settings).get_token("https://management.azure.com/.default")

    assert token.token == "fake-imds-token"
    assert len(endpoint.requests) == 3


def test_imds_retries_end_within_a_bounded_time(
    settings: Settings, imds: Callable[[list[tuple[int, Any]]], ScriptedEndpoint]
) -> None:
    from azure.core.exceptions import AzureError

    endpoint = imds([(410, {})])  # 410 for ever (the library alone would retry for 70 s)

    started = time.monotonic()
    with pytest.raises(AzureError):
        build_credential(settings).get_token("https://management.azure.com/.default")

    assert time.monotonic() - started < 10
    assert len(endpoint.requests) > 1


async def test_preflight_gets_the_azure_ml_token_pipeline_submission_needs(
    settings: Settings, workspace: FakeWorkspace
) -> None:
    """Pipeline submission asks for an https://ml.azure.com token (and decodes it): an
    identity that has only the ARM token passes a pre-flight that checks only ARM."""
    credential = FakeCredential()
    credential.fail_scopes = {"https://ml.azure.com/.default"}

    report = await preflight(settings, credential=credential, transport=workspace.transport)

    assert not report.ready
    assert "https://ml.azure.com" in report.checks["token"]
    good = FakeCredential()
    assert (await preflight(settings, credential=good, transport=workspace.transport)).checks["token"] == "ok"
    assert {"https://management.azure.com/.default", "https://ml.azure.com/.default"} <= set(good.scopes)


async def test_readiness_does_not_flap_on_one_slow_token(
    backend_factory: Callable[..., AzureMLBackend],
    settings_factory: Callable[..., Settings],
    credential: FakeCredential,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from app.backends.azureml import backend as backend_module

    monkeypatch.setattr(backend_module, "READY_CACHE_SECONDS", 0.0)  # every probe checks again
    backend = backend_factory(settings_factory(preflight_timeout_seconds=1.0))
    assert (await backend.ready()).ready

    credential.delay_seconds = 2.0  # one token refresh slower than the pre-flight allows
    once = await backend.ready()
    assert once.ready, once.checks
    assert once.checks["token"].startswith("ok (")

    twice = await backend.ready()  # still slow: now it is a problem
    assert not twice.ready
    credential.delay_seconds = 0.0
    assert (await backend.ready()).ready
