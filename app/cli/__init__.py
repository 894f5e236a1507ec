"""The `trainctl` command line: `main(argv) -> exit code`.

Exit codes: 0 success / run completed, 1 run failed or canceled (or a server-side error),
2 bad input (argument errors and HTTP 4xx), 3 service unreachable, 130 interrupted.
Only argparse and the CLI's own modules load at import: each command imports what it needs.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from app.cli.client import ApiProblem, CliError
from app.cli.parser import parse

EXIT_INTERRUPTED = 130


def _handler(command: str) -> Callable[[argparse.Namespace], Coroutine[Any, Any, int]]:
    if command in ("job", "pipeline"):
        from app.cli.submit import submit_command

        return submit_command
    if command == "doctor":
        from app.cli.doctor import doctor_command

        return doctor_command
    from app.cli.commands import api_command

    return api_command


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = parse(list(argv) if argv is not None else None)
    except SystemExit as done:  # argparse exits on --help (0) and on usage errors (2)
        return done.code if isinstance(done.code, int) else (0 if done.code is None else 2)
    try:
        if args.command == "serve":
            from app.cli.serve import serve

            return serve(args)
        return asyncio.run(_handler(args.command)(args))
    except ApiProblem as problem:
        print(f"error: {problem.describe(getattr(args, 'field_flags', {}))}", file=sys.stderr)
        return problem.exit_code
    except CliError as error:
        print(f"error: {error.message}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
