"""Credential, transport and MLClient construction, and the one way every SDK call is made.

Identity endpoints and the Azure ML control plane can both stall for minutes (DESIGN 6:
`ManagedIdentityCredential` never returned when the endpoint accepted the connection but did
not answer). Everything here is therefore bounded twice: the HTTP layer has connect/read
timeouts and a small retry budget, and `AzureCalls.run` puts a wall-clock limit around the
whole blocking call so the event loop never waits longer than the configured timeout.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import json
import logging
from collections.abc import Callable
from typing import Any, TypeAlias, TypeVar

from azure.core.credentials import TokenCredential
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.core.pipeline.policies import RetryPolicy
from azure.core.pipeline.transport import HttpTransport, RequestsTransport

from app.domain.errors import BackendError
from app.settings import Settings

log = logging.getLogger(__name__)

T = TypeVar("T")
# Every azure-core transport, sync flavour: the fake in tests, RequestsTransport otherwise.
AnyTransport: TypeAlias = HttpTransport[Any, Any]

ARM_SCOPE = "https://management.azure.com/.default"
AML_SCOPE = "https://ml.azure.com/.default"

# Identity: the library retries an identity endpoint's transient answers (IMDS answers 410
# while it is being upgraded, 429/5xx when busy); those retries stay, but bounded: never for a
# silent endpoint (no connect/read retries: one that accepts and never answers fails at its
# 2 s read timeout), at most 2 s between tries, and the whole token request, back-off
# included, ends within IDENTITY_TOTAL_SECONDS (alone, the library retries a 410 for 70 s).
IDENTITY_TOTAL_SECONDS = 6
IDENTITY_TIMEOUTS: dict[str, Any] = {
    "connection_timeout": 1,
    "read_timeout": 2,
    "retry_total": 3,
    "retry_status": 3,
    "retry_connect": 0,
    "retry_read": 0,
    "retry_backoff_max": 2,
    "timeout": IDENTITY_TOTAL_SECONDS,
}
# Control plane: one retry for a blip; the reconciler's own backoff covers longer outages.
SDK_RETRY_TOTAL = 1
SDK_RETRY_BACKOFF = 0.2
RETRY_AFTER_CAP_SECONDS = 2.0
TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})


class CappedRetryPolicy(RetryPolicy[Any, Any]):
    """Honours Retry-After, but never sleeps longer than a couple of seconds inside one call.

    A throttled request with `Retry-After: 60` would otherwise hold a worker thread past our
    call timeout; giving up quickly lets the reconciler back off instead.
    """

    def get_retry_after(self, response: Any) -> float | None:
        value = super().get_retry_after(response)
        return None if value is None else min(value, RETRY_AFTER_CAP_SECONDS)


def build_credential(settings: Settings) -> TokenCredential:
    """The managed identity when a client id is configured, else a non-interactive chain."""
    from azure.identity import DefaultAzureCredential, ManagedIdentityCredential

    if settings.managed_identity_client_id:
        return ManagedIdentityCredential(client_id=settings.managed_identity_client_id, **IDENTITY_TIMEOUTS)
    return DefaultAzureCredential(
        exclude_interactive_browser_credential=True,
        exclude_shared_token_cache_credential=True,
        exclude_visual_studio_code_credential=True,
        exclude_broker_credential=True,
        process_timeout=5,
        **IDENTITY_TIMEOUTS,
    )


def build_transport(settings: Settings) -> AnyTransport:
    read_timeout = max(1.0, settings.azure_call_timeout_seconds)
    transport: AnyTransport = RequestsTransport(connection_timeout=5, read_timeout=read_timeout)
    return transport


def build_ml_client(settings: Settings, credential: TokenCredential, transport: AnyTransport | None) -> Any:
    """A real `MLClient` with bounded retries; `transport` is a fake in tests."""
    from azure.ai.ml import MLClient

    if not (settings.azureml_subscription and settings.azureml_resource_group and settings.azureml_workspace):
        raise BackendError(
            "Azure ML is not configured: set AZUREML_ARM_SUBSCRIPTION, "
            "AZUREML_ARM_RESOURCEGROUP and AZUREML_ARM_WORKSPACE_NAME."
        )
    client = MLClient(
        credential,
        settings.azureml_subscription,
        settings.azureml_resource_group,
        settings.azureml_workspace,
        transport=transport or build_transport(settings),
        retry_policy=CappedRetryPolicy(
            retry_total=SDK_RETRY_TOTAL, retry_backoff_factor=SDK_RETRY_BACKOFF, retry_backoff_max=2
        ),
        # With progress off, azure-ai-ml never reads the results of a code folder's upload threads
        # (Azure/azure-sdk-for-python#48269): a refused upload is swallowed and the upload then
        # waits for ever for the missing files. With it on, the refusal is raised; the price is a
        # progress bar on stderr when a new code version is uploaded.
        show_progress=True,
        enable_telemetry=False,
    )
    # A pipeline submission reads the workspace (one GET per client) only to name the SDK's
    # cache of resolved components; the key it falls back to without that answer serves the
    # same purpose, and a restarted service saves the request.
    components = client.components
    if getattr(components, "_client_key", "") is None:
        components._client_key = (
            f"workspace/{settings.azureml_subscription}/{settings.azureml_resource_group}/"
            f"{settings.azureml_workspace}"
        )
    return client


def _causes(error: BaseException) -> list[BaseException]:
    """The error and everything it was raised from: azure-ai-ml wraps HTTP errors in
    MlException/ValidationException and keeps the original only as the cause or context."""
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in chain and len(chain) < 10:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def is_not_found(error: BaseException) -> bool:
    for cause in _causes(error):
        if isinstance(cause, ResourceNotFoundError):
            return True
        if isinstance(cause, HttpResponseError) and cause.status_code == 404:
            return True
    return False


def http_status(error: BaseException) -> int | None:
    for cause in _causes(error):
        if isinstance(cause, HttpResponseError) and cause.status_code is not None:
            return int(cause.status_code)
    return None


def to_backend_error(error: BaseException, what: str) -> BackendError:
    """Translate an SDK failure into the backend error the API reports (502/503)."""
    if isinstance(error, BackendError):
        return error
    causes = _causes(error)
    for cause in causes:
        if isinstance(cause, ClientAuthenticationError):
            # Usually an identity endpoint hiccup or an expired secret; the Azure job itself
            # is unaffected, so the reconciler must retry rather than fail the run.
            return BackendError(
                f"{what}: could not get an Azure token ({_first_line(cause)})", transient=True
            )
        if isinstance(cause, (ServiceRequestError, ServiceResponseError, TimeoutError)):
            return BackendError(f"{what}: Azure ML did not answer ({_first_line(cause)})", transient=True)
    status = http_status(error)
    if status in TRANSIENT_STATUS:
        return BackendError(f"{what}: Azure ML answered {status}, will retry", transient=True)
    if status in (401, 403):
        return BackendError(
            f"{what}: the identity is not allowed to do this ({status}): {_first_line(error)}"
        )
    return BackendError(f"{what}: {_first_line(error)}")


def _first_line(error: BaseException) -> str:
    """One readable sentence from an SDK error.

    azure-ai-ml reports validation failures as a JSON document (`{"result": "Failed",
    "errors": [{"message": ..., "path": ...}]}`) and HTTP errors as "(Code) message" plus
    detail lines; the caller wants the messages, not the layout.
    """
    text = str(error).strip() or type(error).__name__
    if text.startswith("{"):
        try:
            document = json.loads(text)
        except ValueError:
            document = None
        if isinstance(document, dict) and isinstance(document.get("errors"), list):
            parts = []
            for item in document["errors"]:
                message = str(item.get("message", "")).splitlines()[0] if isinstance(item, dict) else ""
                path = item.get("path") if isinstance(item, dict) else None
                parts.append(f"{message} ({path})" if path else message)
            if any(parts):
                return "; ".join(p for p in parts if p)[:300]
    for line in text.splitlines():
        if line.strip():
            return line.strip()[:300]
    return type(error).__name__


class AzureCalls:
    """Runs blocking SDK calls on a small dedicated pool with a wall-clock limit.

    A dedicated pool keeps a stuck Azure call from starving the event loop's default
    executor (which the rest of the service uses); when a call times out its thread is left
    to finish on its own, bounded by the transport's read timeout.
    """

    def __init__(self, timeout_seconds: float, max_workers: int = 8, name: str = "azureml") -> None:
        self.timeout_seconds = timeout_seconds
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix=name)

    async def run(
        self, what: str, func: Callable[..., T], *args: Any, limit_seconds: float | None = None, **kwargs: Any
    ) -> T:
        loop = asyncio.get_running_loop()
        limit = self.timeout_seconds if limit_seconds is None else limit_seconds
        try:
            future = loop.run_in_executor(self._pool, functools.partial(func, *args, **kwargs))
        except RuntimeError as error:  # the pool is closed: the service is shutting down
            raise BackendError(f"{what}: the Azure ML client is closed", transient=True) from error
        try:
            return await asyncio.wait_for(future, timeout=limit)
        except TimeoutError as error:
            message = f"{what}: no answer from Azure ML within {limit:g}s"
            raise BackendError(message, transient=True) from error
        except (BackendError, KeyError):
            raise  # already translated, or "absent" the caller answers itself
        except Exception as error:
            raise to_backend_error(error, what) from error

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
