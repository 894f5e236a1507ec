"""Builds the running service once, in the app's lifespan: store, backend, lifecycle, in the
order start-up needs (the slow backend start overlaps the database migration)."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from app.api.deps import Services
from app.backends.factory import build_backend
from app.backends.protocol import TrainingBackend
from app.data_assets.service import DataAssets
from app.lifecycle.runtime import Lifecycle
from app.observability import observe_finished_run
from app.security.egress import CallbackPolicy
from app.settings import Settings
from app.store import Store
from app.store.db import make_engine, migrate, session_factory

log = logging.getLogger(__name__)


@asynccontextmanager
async def running_services(
    settings: Settings, callback_policy: CallbackPolicy, backend: TrainingBackend | None = None
) -> AsyncIterator[Services]:
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    data_dir = settings.resolved_data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.resolved_database_url)
    store = Store(session_factory(engine))
    assets = DataAssets(store.assets, data_dir, settings.max_upload_bytes)
    chosen = backend or build_backend(settings, store.sessions, assets)
    # First: the local backend's step runner takes seconds to import its libraries, and does
    # so in its own process while the rest of start-up goes on here.
    await chosen.start()
    await asyncio.to_thread(migrate, engine)
    await chosen.store_ready()
    lifecycle = Lifecycle(store, chosen, settings, callback_policy, finish_hooks=[observe_finished_run])
    lifecycle.start()
    # What start-up loaded lives as long as the service; without this, full collections over
    # it cause tail-latency pauses of tens of milliseconds.
    gc.freeze()
    log.info("trainctl ready: backend=%s data_dir=%s", chosen.kind, data_dir)
    try:
        yield Services(settings, store, chosen, lifecycle, assets)
    finally:
        await lifecycle.stop()
        engine.dispose()
