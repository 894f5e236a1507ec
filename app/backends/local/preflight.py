"""Whether this machine can run the local engine, checked without starting it."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from app.backends.protocol import ReadyReport
from app.domain.pipeline import COMPONENTS_DIR, components

# What every step process imports; find_spec locates them without paying for the import.
STEP_PACKAGES = ("pandas", "sklearn", "mlflow", "matplotlib")


def _ok(value: str) -> bool:
    return value == "ok" or value.startswith("ok ")


def _writable_dir(path: Path) -> str:
    if path.is_dir():
        return "ok" if os.access(path, os.W_OK) else f"{path} is not writable"
    parent = next((p for p in path.parents if p.exists()), None)
    if parent is not None and parent.is_dir() and os.access(parent, os.W_OK):
        return f"ok (created on first start: {path})"
    return f"{path} does not exist and cannot be created"


def local_preflight(data_dir: Path, components_dir: Path = COMPONENTS_DIR) -> ReadyReport:
    checks = {"data_dir": _writable_dir(data_dir)}
    missing = [
        str(components_dir / name / part)
        for name in components()
        for part in (f"{name}.yml", f"src/{name}.py")
        if not (components_dir / name / part).is_file()
    ]
    checks["components"] = "ok" if not missing else "missing: " + ", ".join(missing)
    absent = [name for name in STEP_PACKAGES if importlib.util.find_spec(name) is None]
    checks["step_packages"] = "ok" if not absent else "not installed: " + ", ".join(absent)
    return ReadyReport(ready=all(_ok(v) for v in checks.values()), checks=checks)
