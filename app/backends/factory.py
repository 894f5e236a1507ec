"""Picks the backend the settings ask for."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from app.backends.base import TrainingBackend
from app.settings import Settings


def build_backend(settings: Settings, sessions: sessionmaker[Session]) -> TrainingBackend:
    if settings.backend_kind == "azureml":
        from app.backends.azureml.backend import AzureMLBackend

        return AzureMLBackend(settings)
    from app.backends.local.backend import LocalBackend
    from app.backends.local.layout import DataLayout
    from app.store.repository import StoreStepCache

    return LocalBackend(
        DataLayout(settings.resolved_data_dir),
        StoreStepCache(sessions),
        warm_runner=settings.warm_runner,
        max_parallel_steps=settings.max_parallel_steps,
    )
