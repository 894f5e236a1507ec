"""--local: the whole service in this process, for one run, with no server to start first."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx


@asynccontextmanager
async def local_service(data_dir: Path | None) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client whose requests go straight into an app built here.

    The app's own lifespan runs (migrations, default data asset, engine, reconciler), so a
    one-shot run behaves exactly like one submitted to `trainctl serve`; leaving the block
    shuts the engine down like a server stop would.
    """
    # Imported here: the FastAPI stack is only needed in this mode and by `serve`.
    from app.main import create_app
    from app.settings import load_settings

    settings = load_settings(data_dir=data_dir) if data_dir is not None else load_settings()
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://trainctl.local") as http,
    ):
        yield http
