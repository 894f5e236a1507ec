"""The FastAPI application: ``create_app()`` checks the security settings, then declares the
routes, error handlers and middleware; ``wiring.running_services`` builds what they use."""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from types import FrameType
from typing import Any

from fastapi import FastAPI

from app.api import data_assets, events, health, models, runs
from app.api.docs import install_docs
from app.api.drain import CloseWhileDraining
from app.api.errors import declare_problem_schema, install_handlers
from app.api.guarded import include_guarded
from app.api.limits import BodySizeLimit
from app.api.operations import operation_id
from app.backends.protocol import TrainingBackend
from app.lifecycle.callbacks import CallbackSender
from app.lifecycle.eventhub import EventHub
from app.observability import install_observability
from app.security import build_guard, ensure_safe_binding
from app.security.egress import CallbackPolicy
from app.settings import Settings
from app.ui import install_ui
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
    callback_policy = CallbackPolicy(settings.callback_allowlist, allow_http=settings.callback_allow_http)
    CallbackSender.check_secret(callback_policy, settings.callback_secret)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with running_services(settings, callback_policy, backend) as services:
            app.state.services = services
            _end_streams_on_exit_signal(services.lifecycle.hub)
            yield

    app = FastAPI(
        title="trainctl",
        version="1.0.0",
        summary="Training orchestration for Azure Machine Learning, with an embedded local engine",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        generate_unique_id_function=operation_id,
        # One schema per model: client generators drop the -Input/-Output suffixes and would
        # then meet two models of one name.
        separate_input_output_schemas=False,
    )
    install_docs(app)
    install_handlers(app)
    app.add_middleware(
        BodySizeLimit, max_body_bytes=settings.max_body_bytes, max_upload_bytes=settings.max_upload_bytes
    )
    app.add_middleware(CloseWhileDraining)
    routers = (runs.router, models.router, data_assets.router, events.router, health.router)
    include_guarded(app, routers, guard)
    install_ui(app, guard, settings)
    install_observability(app)  # last: its middleware wraps the size limit and auth too
    _describe_problems(app)
    return app


def _describe_problems(app: FastAPI) -> None:
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = declare_problem_schema(build())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _end_streams_on_exit_signal(hub: EventHub) -> None:
    """uvicorn lets open responses finish before it runs the lifespan's shutdown, and an event
    stream never finishes by itself: on SIGINT or SIGTERM, end the streams (each told to
    retry) before passing the signal on to uvicorn's own handler."""
    if threading.current_thread() is not threading.main_thread():
        return  # served from a thread (tests): whoever runs that server stops it
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        previous = signal.getsignal(sig)
        if not callable(previous):
            continue

        def handler(signum: int, frame: FrameType | None, previous: Callable[..., object] = previous) -> None:
            loop.call_soon_threadsafe(hub.close_streams)
            previous(signum, frame)

        signal.signal(sig, handler)
