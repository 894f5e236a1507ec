"""The FastAPI application: ``create_app()`` wires settings, store, backend and reconciler once."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI

from app.api import data_assets, health, models, runs
from app.api.deps import Services
from app.api.errors import install_handlers
from app.backends.base import TrainingBackend
from app.backends.factory import build_backend
from app.callbacks import CallbackSender
from app.data_assets.service import DataAssets
from app.observability import install_observability, observe_finished_run
from app.reconciler import Reconciler
from app.runs.events import RunEvents
from app.runs.service import RunsService
from app.security import build_guard, ensure_safe_binding
from app.security.egress import CallbackPolicy
from app.security.limits import BodySizeLimit
from app.security.wiring import include_guarded
from app.settings import Settings
from app.store.db import make_engine, migrate, session_factory
from app.store.repository import Repository

log = logging.getLogger(__name__)

DESCRIPTION = """
Submit a diabetes-classifier training **job** (train) or **pipeline** (train → evaluate against
the current champion → register only if better), then poll its status, steps, metrics, plots,
logs and the promotion outcome. Runs on Azure ML when a workspace is configured, otherwise on
this machine with the same component definitions.
"""


def create_app(settings: Settings | None = None, backend: TrainingBackend | None = None) -> FastAPI:
    settings = settings or Settings()
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    # Misconfigured security fails here, before anything listens.
    ensure_safe_binding(settings)
    guard = build_guard(settings)
    callback_policy = CallbackPolicy(settings.callback_allowlist)
    CallbackSender.check_secret(callback_policy, settings.callback_secret)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        data_dir = settings.resolved_data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        engine = make_engine(settings.resolved_database_url)
        sessions = session_factory(engine)
        chosen = backend or build_backend(settings, sessions)
        # First: the local backend's step runner takes seconds to import its libraries, and
        # does so in its own process while the rest of start-up goes on here.
        await chosen.start()
        await asyncio.to_thread(migrate, engine)
        repo = Repository(sessions)
        assets = DataAssets(repo, data_dir, settings.max_upload_bytes)
        if settings.backend_kind == "local":
            await asyncio.to_thread(assets.ensure_default)
        events = RunEvents()
        callbacks = CallbackSender.from_settings(settings, repo, callback_policy)
        reconciler_box: list[Reconciler] = []
        runs_service = RunsService(
            repo,
            chosen,
            settings.backend_kind,
            assets,
            events,
            max_active_runs=settings.max_queued_runs,
            wake_reconciler=lambda: reconciler_box[0].wake() if reconciler_box else None,
        )
        reconciler = Reconciler(
            repo,
            chosen,
            runs_service,
            events,
            poll_seconds=1.0 if settings.backend_kind == "local" else settings.azure_poll_seconds,
            on_finished=[callbacks.on_finished, observe_finished_run],
        )
        reconciler_box.append(reconciler)
        runs_service.end_unsubmitted = reconciler.end
        app.state.services = Services(settings, repo, chosen, runs_service, assets)
        reconciler.start()
        callbacks.start()  # resumes callbacks left pending by an earlier process
        # What start-up loaded lives as long as the service; without this, full collections
        # over it cause tail-latency pauses of tens of milliseconds.
        gc.freeze()
        log.info("trainctl ready: backend=%s data_dir=%s", settings.backend_kind, data_dir)
        try:
            yield
        finally:
            # Graceful stop: take no new runs, let running steps finish within the grace
            # period (the reconciler keeps recording them), leave the rest resumable.
            runs_service.accepting = False
            await chosen.close(settings.shutdown_grace_seconds)
            await reconciler.stop()
            await callbacks.stop()  # undelivered callbacks stay pending for the next start
            engine.dispose()

    app = FastAPI(
        title="trainctl",
        version="1.0.0",
        summary="Training orchestration for Azure Machine Learning, with an embedded local engine",
        description=DESCRIPTION,
        lifespan=lifespan,
        swagger_ui_parameters={"persistAuthorization": True},
    )
    install_handlers(app)
    app.add_middleware(
        BodySizeLimit, max_body_bytes=settings.max_body_bytes, max_upload_bytes=settings.max_upload_bytes
    )
    include_guarded(
        app,
        (runs.router, models.router, data_assets.router, health.router),
        guard,
        extra={("POST", "/v1/training-runs"): [Depends(callback_policy.submit_dependency())]},
    )
    install_observability(app)  # last: its middleware wraps the size limit and auth too
    return app
