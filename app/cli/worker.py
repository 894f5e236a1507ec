"""One worker of `trainctl serve --workers N`: the whole app, serving the socket it inherited
(its file descriptor is the only argument). Settings come from the environment the
supervisor prepared."""

from __future__ import annotations

import socket
import sys


def main(argv: list[str]) -> int:
    from app.cli.serve import run_server
    from app.main import create_app
    from app.observability import configure_logging
    from app.settings import Settings

    settings = Settings()
    configure_logging(settings.log_level)
    sock = socket.socket(fileno=int(argv[0]))
    return run_server(create_app(settings), settings, sockets=[sock])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
