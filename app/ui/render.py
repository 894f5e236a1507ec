"""Pages and static files of the dashboard: Jinja templates rendered on the server, security
headers on every answer, and static assets under content-hashed URLs cached for a year.

The Content-Security-Policy allows scripts, styles, images and connections from this origin
only: no inline script or style anywhere (charts are SVG with attributes, not styles), no
CDN, no outside request, nothing framing the pages.
"""

from __future__ import annotations

import hashlib
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import Request, Response
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

HERE = Path(__file__).parent
STATIC = HERE / "static"

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",  # pages show live state and the caller's role
}
STATIC_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}


def _digests() -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()[:12] for p in STATIC.iterdir() if p.is_file()}


DIGESTS = _digests()


def static_url(name: str) -> str:
    return f"/ui/static/{DIGESTS[name]}/{name}"


def duration(seconds: float | None) -> str:
    """1.4 s, 2 min 05 s, 1 h 02 min: what a person reads at a glance."""
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else ""


def number(value: float | None, digits: int = 4) -> str:
    return "" if value is None else f"{value:.{digits}f}"


environment = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(("html",)),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
environment.globals.update(static_url=static_url)
environment.filters.update(duration=duration, when=when, number=number)


def page(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render `template` with the viewer, the form token and the nav; time the work in a
    Server-Timing header (the dashboard's latency budget is measured on it)."""
    started = getattr(request.state, "ui_started", None) or time.perf_counter()
    ui = request.app.state.ui
    response = HTMLResponse("", status_code=status_code)
    viewer = request.state.viewer
    html = environment.get_template(template).render(
        viewer=viewer,
        principal=viewer.principal,
        csrf_token=ui.auth.csrf_token(request, response),
        path=request.url.path,
        **context,
    )
    response.body = response.render(html)
    response.headers["Content-Length"] = str(len(response.body))
    response.headers.update(SECURITY_HEADERS)
    response.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.1f}"
    return response


def fragment(template: str, **context: Any) -> HTMLResponse:
    """A piece of a page, for the scripts that refresh one section in place."""
    html = environment.get_template(template).render(**context)
    return HTMLResponse(html, headers=SECURITY_HEADERS)


def static_file(digest: str, name: str) -> Response:
    path = STATIC / name
    if name not in DIGESTS or not path.is_file():
        return Response("not found", status_code=404, media_type="text/plain")
    # An old digest still gets today's file, but must not be cached for a year as if it matched.
    fresh = digest == DIGESTS[name]
    headers = {
        "Cache-Control": "public, max-age=31536000, immutable" if fresh else "no-cache",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": CSP,
    }
    media = STATIC_TYPES.get(path.suffix, "application/octet-stream")
    return Response(path.read_bytes(), media_type=media, headers=headers)
