"""Picks the backend the settings ask for: the only module that knows which kinds exist."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from app.backends.protocol import ReadyReport, TrainingBackend
from app.data_assets.service import DataAssets
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
        import logging

        from app.backends.azureml.preflight import preflight

        # azure-identity logs every failed credential of its chain as a multi-line warning;
        # the report already says in one line what went wrong.
        logging.getLogger("azure").setLevel(logging.ERROR)
        report = await (preflight(settings, compute=compute) if compute else preflight(settings))
        details = {
            "workspace": str(settings.azureml_workspace),
            "resource group": str(settings.azureml_resource_group),
        }
        return "azureml", report, details
    from app.backends.local.preflight import local_preflight

    return "local", local_preflight(settings.resolved_data_dir), {"data dir": str(settings.resolved_data_dir)}
