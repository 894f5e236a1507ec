"""When a step may reuse an earlier execution's outputs instead of running again.

The key covers everything the step's result depends on: the component's name, version, command
and every byte of its code folder, the literal parameters, and the contents of its input files.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from app.backends.local import componentspec
from app.backends.local.champion import champion_version
from app.backends.local.stepcache import CacheEntry, StepCache
from app.domain.pipeline import Step
from app.domain.spec import RunSpec


def file_digest(path: Path) -> str:
    """sha256 of a file, or of a folder's relative names and contents."""
    if path.is_dir():
        return componentspec.tree_digest(path)
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class FileDigests:
    """Data asset files are immutable once registered: each is hashed once per (path, size,
    modification time), not once per run."""

    def __init__(self) -> None:
        self._memo: dict[tuple[str, int, int], str] = {}

    def of(self, path: Path) -> str:
        stat = path.stat()
        memo = (str(path), stat.st_size, stat.st_mtime_ns)
        if memo not in self._memo:
            self._memo[memo] = file_digest(path)
        return self._memo[memo]


def reuse_key(
    component: componentspec.ComponentSpec, literals: dict[str, str], inputs: dict[str, str]
) -> str:
    material = {
        "component": component.name,
        "version": component.version,
        "code": component.code_digest(),
        "command": component.command,
        "literals": literals,
        "inputs": inputs,
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()


def find_reusable(
    cache: StepCache,
    spec: RunSpec,
    plan: Step,
    component: componentspec.ComponentSpec,
    key: str,
    mlflow_db: Path,
) -> tuple[CacheEntry, bool] | None:
    """An earlier execution to adopt, and whether that counts as reuse (False when it is this
    same run's own step, finished before a restart)."""
    own = cache.find_for_run(spec.run_id, plan.name, key)
    if own is not None and Path(own.outputs_dir).is_dir():
        return own, False
    # Azure ML must re-run a non-deterministic step every time; here the engine knows the one
    # outside state such a step reads (the champion) and checks it before any reuse.
    if spec.force_rerun or not (component.is_deterministic or plan.reads_champion):
        return None
    champion_now = champion_version(mlflow_db, spec.model_name) if plan.reads_champion else None
    for entry in cache.find(key):
        if not Path(entry.outputs_dir).is_dir():
            continue
        if plan.reads_champion and champion_now not in (entry.champion_seen, entry.champion_left):
            continue
        return entry, True
    return None
