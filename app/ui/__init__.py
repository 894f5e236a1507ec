"""The dashboard at /ui: server-rendered pages for people, served by the service itself.

Runs (live through the event stream), a run's steps, decision, metrics, plots and logs,
models with their champion history, data assets and their upload, and a submit form. No
build step and no outside request: Jinja templates, one stylesheet and one script from this
origin, under a strict Content-Security-Policy. ``install_ui`` adds it to the app.
"""

from __future__ import annotations

from fastapi import FastAPI, Response

from app.security.guard import Guard
from app.settings import Settings
from app.ui import catalog, forms, runs
from app.ui.auth import UiAuth
from app.ui.common import UiState, install_handlers
from app.ui.render import static_file


def install_ui(app: FastAPI, guard: Guard, settings: Settings) -> None:
    app.state.ui = UiState(auth=UiAuth(settings, guard))
    install_handlers(app)
    for router in (runs.router, catalog.router, forms.router):
        app.include_router(router)

    async def static(digest: str, name: str) -> Response:
        return static_file(digest, name)

    # Open like /docs: the files hold no data, only the page code.
    app.add_api_route("/ui/static/{digest}/{name}", static, methods=["GET"], include_in_schema=False)
