"""Builds the running service once, in the app's lifespan: store, backend, lifecycle, in the
order start-up needs, and the topology the database implies:

- SQLite: this process owns the file (a second process is refused), or it is one of the
  workers of one ``serve --workers N`` that share it; they hear each other's changes by polling.
- PostgreSQL: any number of replicas; they hear each other through LISTEN/NOTIFY.

In every case one process, the holder of the lifecycle lease, drives the runs.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import Engine

from app.api.deps import Services
from app.backends.factory import build_backend
from app.backends.protocol import TrainingBackend
from app.data_assets.service import DataAssets
from app.lifecycle.runtime import Lifecycle
from app.observability import observe_finished_run
from app.security.egress import CallbackPolicy
from app.settings import Settings
from app.store import Store
from app.store.db import is_postgres, make_engine, migrate, session_factory, sqlite_path, startup_lock
from app.store.notify import ChangeFeed, PollingFeed, PostgresFeed
from app.store.ownership import SqliteClaim, claim_sqlite

log = logging.getLogger(__name__)


@asynccontextmanager
async def _starting_alone(engine: Engine) -> AsyncIterator[None]:
    """The start-up lock, taken and let go in a worker thread (waiting for it may take a
    while when replicas start together; the event loop must not wait with it)."""
    lock = startup_lock(engine)
    await asyncio.to_thread(lock.__enter__)
    try:
        yield
    finally:
        await asyncio.to_thread(lock.__exit__, None, None, None)


def _feed(engine: Engine, store: Store, claim: SqliteClaim | None) -> ChangeFeed:
    if is_postgres(engine):
        return PostgresFeed(str(engine.url.render_as_string(hide_password=False)))
    if claim is not None and claim.shared:
        return PollingFeed(store.sessions)
    return ChangeFeed()


@asynccontextmanager
async def running_services(
    settings: Settings, callback_policy: CallbackPolicy, backend: TrainingBackend | None = None
) -> AsyncIterator[Services]:
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    data_dir = settings.resolved_data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    url = settings.resolved_database_url
    db_file = sqlite_path(url)
    # Refuses (StoreInUse) when another process serves the same SQLite file.
    claim = claim_sqlite(db_file, settings.sqlite_shared_token) if db_file is not None else None
    engine = make_engine(url)
    try:
        store = Store(session_factory(engine))
        assets = DataAssets(store.assets, data_dir, settings.max_upload_bytes)
        chosen = backend or build_backend(settings, store.sessions, assets)
        await chosen.start()
        async with _starting_alone(engine):
            await asyncio.to_thread(migrate, engine)
            await chosen.store_ready()  # seeds data once, not once per replica
        lifecycle = Lifecycle(
            store,
            chosen,
            settings,
            callback_policy,
            feed=_feed(engine, store, claim),
            finish_hooks=[observe_finished_run],
        )
        await lifecycle.start()
        # What start-up loaded lives as long as the service; without this, full collections
        # over it cause tail-latency pauses of tens of milliseconds.
        gc.freeze()
        log.info(
            "trainctl ready: backend=%s data_dir=%s replica=%s leader=%s",
            chosen.kind,
            data_dir,
            lifecycle.replica_id,
            lifecycle.leadership.leader,
        )
        try:
            yield Services(settings, store, chosen, lifecycle, assets)
        finally:
            await lifecycle.stop()
    finally:
        engine.dispose()
        if claim is not None:
            claim.release()
