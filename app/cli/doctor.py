"""`trainctl doctor`: is the service (or, with --direct, its backend) ready to train?"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import logging
import os
from pathlib import Path

from app.cli import render
from app.cli.client import EXIT_BAD_INPUT, EXIT_OK, EXIT_RUN_FAILED, CliError, connect

# What every step process imports; find_spec locates them without paying for the import.
STEP_PACKAGES = ("pandas", "sklearn", "mlflow", "matplotlib")


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


def _writable_dir(path: Path) -> str:
    if path.is_dir():
        return "ok" if os.access(path, os.W_OK) else f"{path} is not writable"
    parent = next((p for p in path.parents if p.exists()), None)
    if parent is not None and parent.is_dir() and os.access(parent, os.W_OK):
        return f"ok (created on first start: {path})"
    return f"{path} does not exist and cannot be created"


def _local_checks(data_dir: Path) -> dict[str, str]:
    from app.backends.local.pipeline import COMPONENTS_DIR

    checks = {"data_dir": _writable_dir(data_dir)}
    missing = [
        str(COMPONENTS_DIR / name / part)
        for name in ("train", "evaluate", "register")
        for part in (f"{name}.yml", f"src/{name}.py")
        if not (COMPONENTS_DIR / name / part).is_file()
    ]
    checks["components"] = "ok" if not missing else "missing: " + ", ".join(missing)
    absent = [name for name in STEP_PACKAGES if importlib.util.find_spec(name) is None]
    checks["step_packages"] = "ok" if not absent else "not installed: " + ", ".join(absent)
    return checks


async def _direct(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from app.settings import Settings

    try:
        settings = Settings(data_dir=args.data_dir) if args.data_dir is not None else Settings()
    except ValidationError as error:
        raise CliError(f"invalid settings: {error}".replace("\n", " "), EXIT_BAD_INPUT) from None
    kind = settings.backend_kind
    if kind == "azureml":
        try:
            from app.backends.azureml.preflight import preflight
        except ImportError as error:
            raise CliError(
                f"the Azure ML pre-flight is unavailable in this installation: {error}", EXIT_RUN_FAILED
            ) from None
        # azure-identity logs every failed credential of its chain as a multi-line warning;
        # the report below already says in one line what went wrong.
        logging.getLogger("azure").setLevel(logging.ERROR)
        report = await (
            preflight(settings, compute=args.compute_name) if args.compute_name else preflight(settings)
        )
        checks, ready = dict(report.checks), report.ready
        details = {
            "workspace": str(settings.azureml_workspace),
            "resource group": str(settings.azureml_resource_group),
        }
    else:
        checks = _local_checks(settings.resolved_data_dir)
        ready = all(_ok(v) for v in checks.values())
        details = {"data dir": str(settings.resolved_data_dir)}
    if getattr(args, "json", False):
        print(render.as_json({"backend": kind, "ready": ready, "checks": checks, "details": details}))
    else:
        print(_report(kind, "this process (--direct)", details, checks, ready))
    return EXIT_OK if ready else EXIT_RUN_FAILED


async def doctor_command(args: argparse.Namespace) -> int:
    return await (_direct(args) if args.direct else _remote(args))
