"""The FastAPI application: ``create_app()`` checks the security settings, then declares the
routes, error handlers and middleware; ``wiring.running_services`` builds what they use."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from app.api import data_assets, health, models, runs
from app.api.drain import CloseWhileDraining
from app.api.errors import install_handlers
from app.api.guarded import include_guarded
from app.api.limits import BodySizeLimit
from app.backends.protocol import TrainingBackend
from app.lifecycle.callbacks import CallbackSender
from app.observability import install_observability
from app.security import build_guard, ensure_safe_binding
from app.security.egress import CallbackPolicy
from app.settings import Settings
from app.wiring import running_services

DESCRIPTION = """
Submit a diabetes-classifier training **job** (train) or **pipeline** (train → evaluate against
the current champion → register only if better), then poll its status, steps, metrics, plots,
logs and the promotion outcome. Runs on Azure ML when a workspace is configured, otherwise on
this machine with the same component definitions.
"""


def create_app(settings: Settings | None = None, backend: TrainingBackend | None = None) -> FastAPI:
    settings = settings or Settings()
    # Misconfigured security fails here, before anything listens.
    ensure_safe_binding(settings)
    guard = build_guard(settings)
    callback_policy = CallbackPolicy(settings.callback_allowlist)
    CallbackSender.check_secret(callback_policy, settings.callback_secret)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with running_services(settings, callback_policy, backend) as services:
            app.state.services = services
            yield

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
    app.add_middleware(CloseWhileDraining)
    include_guarded(app, (runs.router, models.router, data_assets.router, health.router), guard)
    install_observability(app)  # last: its middleware wraps the size limit and auth too
    return app
