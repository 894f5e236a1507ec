"""`trainctl serve`: the API under uvicorn, one worker."""

from __future__ import annotations

import argparse
import math
import sys
from typing import Any

from app.cli.client import EXIT_BAD_INPUT, EXIT_OK


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from app.main import create_app
    from app.observability import configure_logging
    from app.security import SecurityConfigError, UnsafeBindingError
    from app.settings import load_settings

    # Flags override TRAINCTL_* variables, which override the defaults: Settings does the rest.
    overrides: dict[str, Any] = {
        key: value for key in ("host", "port", "data_dir") if (value := getattr(args, key, None)) is not None
    }
    settings = load_settings(**overrides)
    configure_logging(settings.log_level, log_format=settings.log_format)
    try:
        app = create_app(settings)
    except (UnsafeBindingError, SecurityConfigError) as error:
        print(f"trainctl serve: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    # One worker: the engine, its step runner and the reconciler live in this process.
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        workers=1,
        log_level=settings.log_level.lower(),
        log_config=None,  # keep the JSON logging configured above
        access_log=False,  # the observability middleware writes one access line per request
        timeout_graceful_shutdown=math.ceil(settings.shutdown_grace_seconds),
    )
    return EXIT_OK
