"""The layering in docs/architecture.md, checked on the code: no module imports a layer above
its own, no two packages of one layer import each other, and modules stay small."""

from __future__ import annotations

import ast
from pathlib import Path

APP = Path(__file__).resolve().parents[1] / "app"
MAX_LINES = 350
#: Lower numbers are lower layers. A module may import its own package or lower layers.
LAYER = {
    "domain": 0,
    "settings": 0,
    "sampledata": 1,
    "store": 1,
    "security": 1,
    "data_assets": 2,
    "observability": 2,
    "backends": 3,
    "lifecycle": 4,
    "api": 5,
    "wiring": 6,
    "ui": 6,
    "main": 7,
    "cli": 8,
    "__main__": 9,
}


def top_package(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "app" and len(parts) > 1 else None


def imports_of(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
    return found


def modules() -> list[tuple[str, Path]]:
    found = []
    for path in sorted(APP.rglob("*.py")):
        relative = path.relative_to(APP)
        if relative.parts[0] == "__init__.py" or "migrations" in relative.parts:
            continue
        found.append((relative.parts[0].removesuffix(".py"), path))
    return found


def test_every_package_has_a_layer() -> None:
    assert {package for package, _ in modules()} <= set(LAYER)


def test_no_import_runs_up_or_across_a_layer() -> None:
    wrong = []
    for package, path in modules():
        for imported in imports_of(path):
            target = top_package(imported)
            if target is None or target == package:
                continue
            if LAYER[target] >= LAYER[package]:
                wrong.append(f"{path.relative_to(APP.parent)} imports {imported}")
    assert wrong == []


def test_modules_stay_small() -> None:
    long = [
        f"{path.relative_to(APP.parent)}: {n}"
        for _, path in modules()
        if (n := len(path.read_text().splitlines())) > MAX_LINES
    ]
    assert long == []
