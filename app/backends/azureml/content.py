"""Content-addressed versions: the same bytes always give the same asset version.

Components and trainctl's environment are registered under a version derived from what they
are made of, so an unchanged one is found again (by any process, without asking) and a
changed one gets a version of its own.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

_MAX_VERSION_LENGTH = 30  # the service rejects longer asset versions
_SKIP_PARTS = {"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"}


def content_version(base: str | None, *parts: bytes) -> str:
    """`<base>-<16 hex digits of a hash of parts>`; parts are length-prefixed, so no two
    different sequences hash alike by concatenation."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    prefix = re.sub(r"[^A-Za-z0-9.]", "", base or "0")[:8] or "0"
    return f"{prefix}-{digest.hexdigest()[:16]}"[:_MAX_VERSION_LENGTH]


def folder_bytes(folder: Path) -> bytes:
    """Relative paths and contents of every file under `folder`, in a stable order."""
    if folder.is_file():
        return folder.name.encode() + b"\0" + folder.read_bytes()
    chunks: list[bytes] = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        relative = path.relative_to(folder)
        if _SKIP_PARTS.intersection(relative.parts) or path.suffix == ".pyc":
            continue
        chunks.append(relative.as_posix().encode() + b"\0" + path.read_bytes())
    return b"\0\0".join(chunks)
