"""Picks the backend the settings ask for: the only module that knows which kinds exist."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from app.backends.protocol import ReadyReport, TrainingBackend
from app.data_assets.service import DataAssets
from app.domain.spec import DEFAULT_DATA_ASSET
from app.settings import Settings


def build_backend(
    settings: Settings, sessions: sessionmaker[Session], catalog: DataAssets
) -> TrainingBackend:
    if settings.backend_kind == "azureml":
        from app.backends.azureml.backend import AzureMLBackend

        return AzureMLBackend(settings)
    from app.backends.local.backend import LocalBackend
    from app.backends.local.layout import DataLayout
    from app.backends.local.stepcache import SqlStepCache

    return LocalBackend(
        DataLayout(settings.resolved_data_dir),
        SqlStepCache(sessions),
        catalog=catalog,
        warm_runner=settings.warm_runner,
        max_parallel_steps=settings.max_parallel_steps,
        # The only process on its own SQLite file is sure to lead: its step runner may start
        # importing its libraries at once, while the database is migrated.
        sole_process=settings.resolved_database_url.startswith("sqlite") and not settings.sqlite_shared_token,
    )


async def preflight_without_service(
    settings: Settings, compute: str | None = None
) -> tuple[str, ReadyReport, dict[str, str]]:
    """The chosen backend's pre-flight, run in this process with no service started: the kind,
    the report, and what was checked (for `trainctl doctor --direct`)."""
    if settings.backend_kind == "azureml":
        from app.backends.azureml.preflight import preflight

        _quiet_azure_logs()
        report = await (preflight(settings, compute=compute) if compute else preflight(settings))
        return "azureml", report, _workspace_details(settings)
    from app.backends.local.preflight import local_preflight

    return "local", local_preflight(settings.resolved_data_dir), {"data dir": str(settings.resolved_data_dir)}


async def smoke_without_service(
    settings: Settings, compute: str | None, data_asset: str | None, timeout_seconds: float
) -> tuple[str, ReadyReport, dict[str, str]]:
    """A tiny real job on the configured workspace, from this process (`trainctl doctor
    --smoke`): the kind, one line per check, what was checked. Only Azure ML has a workspace
    to try; the local engine answers that it has nothing to smoke-test."""
    if settings.backend_kind == "azureml":
        from app.backends.azureml.smoke import SmokeOptions, smoke

        _quiet_azure_logs()
        details = _workspace_details(settings)
        if not compute:
            needed = "name the compute cluster the smoke job runs on: --compute_name NAME"
            return "azureml", ReadyReport(False, {"compute": needed}), details
        options = SmokeOptions(compute, data_asset or DEFAULT_DATA_ASSET, timeout_seconds)
        return "azureml", await smoke(settings, options), details
    nothing = (
        "the smoke test runs a job on an Azure ML workspace: set AZUREML_ARM_SUBSCRIPTION, "
        "AZUREML_ARM_RESOURCEGROUP and AZUREML_ARM_WORKSPACE_NAME (`trainctl doctor --direct` "
        "checks the local engine)"
    )
    return "local", ReadyReport(False, {"smoke": nothing}), {"data dir": str(settings.resolved_data_dir)}


def _quiet_azure_logs() -> None:
    # azure-identity logs every failed credential of its chain as a multi-line warning, and
    # the SDK its retries; the report already says in one line what went wrong.
    import logging

    logging.getLogger("azure").setLevel(logging.ERROR)


def _workspace_details(settings: Settings) -> dict[str, str]:
    return {
        "workspace": str(settings.azureml_workspace),
        "resource group": str(settings.azureml_resource_group),
    }
