"""`trainctl serve`: the API under uvicorn, one worker."""

from __future__ import annotations

import argparse
import math
from typing import Any

from app.cli.client import EXIT_OK


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from app.main import create_app
    from app.settings import Settings

    # Flags override TRAINCTL_* variables, which override the defaults: Settings does the rest.
    overrides: dict[str, Any] = {
        key: value for key in ("host", "port", "data_dir") if (value := getattr(args, key, None)) is not None
    }
    settings = Settings(**overrides)
    # One worker: the engine, its step runner and the reconciler live in this process.
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        workers=1,
        log_level="info",
        timeout_graceful_shutdown=math.ceil(settings.shutdown_grace_seconds),
    )
    return EXIT_OK
