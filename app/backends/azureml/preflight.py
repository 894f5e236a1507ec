"""Pre-flight: can this service, with this identity, use this workspace right now?

Used by `trainctl doctor` and `/readyz`. Token, workspace, compute, environment are checked
in that order under one deadline (settings.preflight_timeout_seconds); a check that cannot
run because an earlier one failed says so instead of waiting. The token check asks for both
tokens the backend uses: Azure Resource Manager's, and Azure ML's (`https://ml.azure.com`),
which pipeline submission requests and decodes.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from azure.core.credentials import TokenCredential

from app.backends.protocol import ReadyReport
from app.domain.errors import BackendError
from app.domain.pipeline import COMPONENTS_DIR
from app.domain.spec import DEFAULT_ENVIRONMENT
from app.settings import Settings

from .client import (
    AML_SCOPE,
    ARM_SCOPE,
    AnyTransport,
    AzureCalls,
    build_credential,
    build_ml_client,
    http_status,
    is_not_found,
)
from .environments import conda_problem, owned_version, parse_environment

CHECKS = ("token", "workspace", "compute", "environment")
REPORT_MARGIN_SECONDS = 0.3


def identity_label(settings: Settings) -> str:
    if settings.managed_identity_client_id:
        return f"managed identity {settings.managed_identity_client_id}"
    return "DefaultAzureCredential (no MANAGED_IDENTITY_CLIENT_ID set)"


class _Checks:
    """One pre-flight pass: shares the deadline, the worker pool and the results."""

    def __init__(self, settings: Settings, calls: AzureCalls) -> None:
        self.settings = settings
        self.calls = calls
        self.results: dict[str, str] = {}
        self._loop = asyncio.get_running_loop()
        # a little under the limit: the report itself must also arrive within it
        budget = max(0.5, settings.preflight_timeout_seconds - REPORT_MARGIN_SECONDS)
        self._end = self._loop.time() + budget

    async def call(self, what: str, func: Any, *args: Any) -> Any:
        left = max(0.05, self._end - self._loop.time())
        return await self.calls.run(what, func, *args, limit_seconds=left)

    async def token(self, credential: TokenCredential | None) -> TokenCredential | None:
        scope = ARM_SCOPE
        try:
            if credential is None:
                credential = await self.call("build credential", build_credential, self.settings)
            for scope in (ARM_SCOPE, AML_SCOPE):
                await self.call("get token", credential.get_token, scope)
        except BackendError as error:
            audience = scope.removesuffix("/.default")
            self.results["token"] = (
                f"{identity_label(self.settings)} could not get an Azure token for {audience} within "
                f"{self.settings.preflight_timeout_seconds:g}s: {_reason(error)}. "
                "Check that the identity exists and is assigned to this host."
            )
            return None
        self.results.setdefault("token", "ok")
        return credential

    async def workspace(
        self, credential: TokenCredential, transport: AnyTransport | None, ml_client: Any | None
    ) -> Any | None:
        try:
            ml = ml_client or await self.call(
                "build MLClient", build_ml_client, self.settings, credential, transport
            )
            await self.call("read workspace", ml.workspaces.get, self.settings.azureml_workspace)
        except BackendError as error:
            self.results["workspace"] = _workspace_problem(self.settings, error)
            return None
        self.results["workspace"] = "ok"
        return ml

    async def compute(self, ml: Any, compute: str | None) -> None:
        workspace = self.settings.azureml_workspace
        try:
            if compute:
                found = await self.call("read compute", ml.compute.get, compute)
                raw = getattr(found, "provisioning_state", None) or "Succeeded"
                state = str(getattr(raw, "value", raw))  # an enum from some SDK paths
                ok = state.lower() == "succeeded"
                self.results["compute"] = "ok" if ok else f"compute {compute} is {state}, not Succeeded."
                return
            names = await self.call("list computes", lambda: [c.name for c in ml.compute.list()])
            self.results["compute"] = (
                "ok" if names else f"workspace {workspace} has no compute; create a cluster for the jobs."
            )
        except BackendError as error:
            if is_not_found(error):
                self.results["compute"] = f"compute {compute} does not exist in workspace {workspace}."
            else:
                problem = f"could not read compute in workspace {workspace}: {_reason(error)}."
                self.results["compute"] = problem

    async def environment(self, ml: Any, environment: str, components_dir: Path) -> None:
        """The environment runs would use exists, or trainctl can create it: its own is built
        from conda.yml (checked here: present, YAML, python and pip packages); one you named
        (NAME:VERSION or NAME@latest) must exist, trainctl never creates it."""
        ref = parse_environment(environment)
        version = ref.version
        if ref.owned:
            problem = conda_problem(components_dir)
            if problem is not None:
                self.results["environment"] = (
                    f"trainctl's environment {ref.name} cannot be built: {problem}. Restore "
                    "components/environment/conda.yml, or pin an existing environment (NAME:VERSION)."
                )
                return
            version = owned_version(components_dir)
        try:
            if version:
                await self.call("read environment", ml.environments.get, ref.name, version)
            else:
                await self.call("read environment", lambda: ml.environments.get(ref.name, label=ref.label))
        except BackendError as error:
            if not (is_not_found(error) or "does not exist" in str(error)):
                self.results["environment"] = f"could not read environment {ref}: {_reason(error)}."
            elif ref.owned:
                self.results["environment"] = (
                    f"ok (environment {ref.name}:{version} is not registered yet; it will be created from "
                    "components/environment/conda.yml on the first submission, and the first job builds "
                    "its image)"
                )
            else:
                self.results["environment"] = (
                    f"environment {ref} does not exist in workspace {self.settings.azureml_workspace}: "
                    "register it, or leave the environment out to use trainctl's own."
                )
            return
        self.results["environment"] = "ok"


async def preflight(
    settings: Settings,
    *,
    credential: TokenCredential | None = None,
    transport: AnyTransport | None = None,
    compute: str | None = None,
    environment: str = DEFAULT_ENVIRONMENT,
    ml_client: Any | None = None,
    components_dir: Path = COMPONENTS_DIR,
) -> ReadyReport:
    """Checks and one sentence per problem; never takes longer than the pre-flight timeout.

    `compute` is the cluster to check (e.g. the CLI's --compute_name); without it, any
    compute in the workspace will do. trainctl's own environment missing is not a failure:
    submission creates it.
    """
    missing = [
        var
        for var, value in (
            ("AZUREML_ARM_SUBSCRIPTION", settings.azureml_subscription),
            ("AZUREML_ARM_RESOURCEGROUP", settings.azureml_resource_group),
            ("AZUREML_ARM_WORKSPACE_NAME", settings.azureml_workspace),
        )
        if not value
    ]
    if missing:
        message = f"Azure ML is not configured: {', '.join(missing)} not set."
        return ReadyReport(False, {"configuration": message})

    calls = AzureCalls(settings.preflight_timeout_seconds, max_workers=2)
    checks = _Checks(settings, calls)
    try:
        token_credential = await checks.token(credential)
        ml = await checks.workspace(token_credential, transport, ml_client) if token_credential else None
        if ml is not None:
            await checks.compute(ml, compute)
            await checks.environment(ml, environment, components_dir)
    finally:
        calls.close()
    results = checks.results
    for name in CHECKS:
        results.setdefault(name, "not checked: an earlier check failed")
    ready = all(value == "ok" or value.startswith("ok ") for value in results.values())
    return ReadyReport(ready, results)


def _workspace_problem(settings: Settings, error: BackendError) -> str:
    who = identity_label(settings)
    status = http_status(error)
    scope = (
        f"workspace {settings.azureml_workspace} in resource group {settings.azureml_resource_group} "
        f"(subscription {settings.azureml_subscription})"
    )
    if status in (401, 403):
        return (
            f"{who} is not allowed to read {scope}: assign it the AzureML Data Scientist role "
            "(or Contributor) on the workspace."
        )
    if status == 404 or is_not_found(error):
        return f"{scope} was not found: check AZUREML_ARM_* settings."
    return f"could not read {scope}: {_reason(error)}."


def _reason(error: BaseException) -> str:
    return str(error).split(": ", 1)[-1].rstrip(".")
