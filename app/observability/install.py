"""The one call create_app makes to switch all of this on."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import PlainTextResponse

from app.observability.middleware import ObservabilityMiddleware
from app.observability.scrape import metrics_endpoint


def install_observability(app: FastAPI) -> None:
    """Add the request-id/access-log/latency middleware and the open GET /metrics route.

    Call it after the routers are included and after any other middleware is added, so this
    middleware is the outermost: requests other middleware rejects (401, 413...) then get a
    request id, an access line and a latency observation too.
    """
    if getattr(app.state, "observability_installed", False):
        return
    app.state.observability_installed = True
    app.add_middleware(ObservabilityMiddleware)
    app.add_api_route(
        "/metrics",
        metrics_endpoint,
        methods=["GET"],
        include_in_schema=False,  # Prometheus text, not JSON: it would only confuse the API schema
        response_class=PlainTextResponse,
        summary="Prometheus metrics",
    )
