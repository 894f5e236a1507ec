"""`trainctl doctor`: is the service (or, with --direct, its backend) ready to train? With
--smoke, a tiny real job on the workspace proves it (the backend's factory decides what that
means: the CLI only prints the lines)."""

from __future__ import annotations

import argparse
import asyncio

from app.cli import render
from app.cli.client import EXIT_BAD_INPUT, EXIT_OK, EXIT_RUN_FAILED, CliError, connect


def _ok(value: str) -> bool:
    return value == "ok" or value.startswith("ok ")


def _report(kind: str, where: str, details: dict[str, str], checks: dict[str, str], ready: bool) -> str:
    head = render.fields([("checked", where), ("backend", kind), *details.items()])
    rows = [("ok" if _ok(v) else ("note" if ready else "FAIL"), name, v) for name, v in checks.items()]
    verdict = "ready: yes" if ready else "ready: no (fix the FAIL lines above)"
    return f"{head}\n\n{render.table(('', 'CHECK', 'RESULT'), rows)}\n\n{verdict}"


async def _remote(args: argparse.Namespace) -> int:
    async with connect(args) as api:
        readiness, backend = await asyncio.gather(api.readiness(), api.backend())
    ready = bool(readiness.get("ready"))
    if getattr(args, "json", False):
        print(render.as_json({"readiness": readiness, "backend": backend}))
    else:
        print(_report(backend["kind"], api.where, backend.get("details", {}), readiness["checks"], ready))
    return EXIT_OK if ready else EXIT_RUN_FAILED


async def _direct(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from app.settings import Settings, settings_problems

    try:
        settings = Settings(data_dir=args.data_dir) if args.data_dir is not None else Settings()
    except ValidationError as error:
        raise CliError("invalid settings: " + "; ".join(settings_problems(error)), EXIT_BAD_INPUT) from None
    from app.backends.factory import preflight_without_service, smoke_without_service

    try:
        if args.smoke:
            where = "this process (--smoke)"
            found = await smoke_without_service(
                settings, args.compute_name, args.data_asset_name, args.timeout
            )
        else:
            where = "this process (--direct)"
            found = await preflight_without_service(settings, args.compute_name)
    except ImportError as error:
        raise CliError(
            f"the pre-flight is unavailable in this installation: {error}", EXIT_RUN_FAILED
        ) from None
    kind, report, details = found
    checks, ready = dict(report.checks), report.ready
    if getattr(args, "json", False):
        print(render.as_json({"backend": kind, "ready": ready, "checks": checks, "details": details}))
    else:
        print(_report(kind, where, details, checks, ready))
    return EXIT_OK if ready else EXIT_RUN_FAILED


async def doctor_command(args: argparse.Namespace) -> int:
    return await (_direct(args) if args.direct or args.smoke else _remote(args))
