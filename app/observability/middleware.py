"""Per request: a request id (bound for logging and echoed back), one access line, latency."""

from __future__ import annotations

import logging
import time

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.observability.metrics import METRICS, Metrics
from app.observability.requestid import HEADER, REQUEST_ID, accept_request_id, new_request_id

access_log = logging.getLogger("trainctl.access")

_HEADER_KEY = HEADER.lower().encode("latin-1")
# Methods are caller-chosen tokens: anything unusual is one label value, not one each.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Probes and scrapes arrive every few seconds; their successes would drown the access log.
_QUIET_ROUTES = frozenset({"/healthz", "/readyz", "/metrics"})
UNMATCHED_ROUTE = "unmatched"


class ObservabilityMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics = METRICS) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = accept_request_id(_first_header(scope, _HEADER_KEY)) or new_request_id()
        token = REQUEST_ID.set(request_id)
        started = time.perf_counter()
        status = 500  # what the server answers if the app fails before starting a response

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                MutableHeaders(scope=message)[HEADER] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except BaseException:
            # The id stays bound on purpose: the app's catch-all error handler runs outside
            # this middleware and should log the traceback under the same request id.
            self._record(scope, status, started)
            raise
        self._record(scope, status, started)
        REQUEST_ID.reset(token)

    def _record(self, scope: Scope, status: int, started: float) -> None:
        elapsed = time.perf_counter() - started
        method = scope["method"] if scope["method"] in _METHODS else "OTHER"
        route = _route_template(scope)
        self.metrics.http_duration.labels(method, route, f"{status // 100}xx").observe(elapsed)
        level = logging.DEBUG if route in _QUIET_ROUTES and status < 400 else logging.INFO
        # Never the query string nor any header: either may carry a credential.
        access_log.log(
            level,
            "%s %s %d %.1fms",
            method,
            route,
            status,
            elapsed * 1000,
            extra={
                "method": method,
                "route": route,
                "path": scope.get("path", ""),
                "status": status,
                "duration_ms": round(elapsed * 1000, 2),
                "client": (scope.get("client") or ("", 0))[0],
            },
        )


def _first_header(scope: Scope, key: bytes) -> bytes | None:
    for name, value in scope.get("headers", ()):
        if name.lower() == key:
            return bytes(value)
    return None


def _route_template(scope: Scope) -> str:
    """The matched route's path template ("/v1/training-runs/{run_id}"), never the raw path,
    so label values stay bounded whatever ids and garbage callers put in URLs."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) and path else UNMATCHED_ROUTE
