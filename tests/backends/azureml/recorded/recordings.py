"""Reading the recorded sessions (Azure SDK test-proxy format) without copying them anywhere.

The folder is `TRAINCTL_AZURE_RECORDINGS`, else `../shared/azure-recordings` next to the
repository. Each file holds `Entries[]` of `RequestUri`, `RequestMethod`, `StatusCode`,
`ResponseHeaders`, `ResponseBody`; some files are CRLF and some start with a BOM.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

# the repository root, wherever this test tree is moved within it
REPO = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").is_file())
ENV_VAR = "TRAINCTL_AZURE_RECORDINGS"
DEFAULT_DIR = REPO.parent / "shared" / "azure-recordings"
_SCOPE = re.compile(r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/[^/]+/workspaces/[^/]+", re.I)


def recordings_dir() -> Path:
    configured = os.environ.get(ENV_VAR)
    return Path(configured).expanduser() if configured else DEFAULT_DIR


def missing_reason(folder: Path) -> str | None:
    """Why the recordings cannot be read, or None when they can."""
    if not folder.is_dir():
        return f"no recordings at {folder} (set {ENV_VAR} to a folder of recorded Azure ML sessions)"
    if not any(folder.glob("*.json")):
        return f"{folder} holds no *.json recordings"
    return None


@dataclass(frozen=True)
class Exchange:
    """One recorded request and its answer, or one answer of the fake: the same fields."""

    source: str  # recording file name, or "fake"
    method: str
    host: str
    path: str
    query: dict[str, str]
    status: int
    headers: dict[str, str]
    body: Any  # parsed JSON; shapes.EMPTY for no body

    @property
    def kind(self) -> str:
        """arm, history, discovery, mfe (operation results) or blob."""
        if ".blob." in self.host:
            return "blob"
        if self.path.startswith("/history/"):
            return "history"
        if self.path == "/discovery":
            return "discovery"
        if "/mfeOperationResults/" in self.path:
            return "mfe"
        return "arm"

    @property
    def rest(self) -> str:
        """The path below the workspace (`jobs/x`, `runs/x/children`), '' for the workspace."""
        path = self.path.removeprefix("/history/v1.0")
        match = _SCOPE.match(path)
        return path[match.end() :].strip("/") if match else path

    def header(self, name: str) -> str | None:
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return None


def parse_body(raw: Any) -> Any:
    """The test proxy stores JSON bodies parsed and others as text (`"null"`, `""`)."""
    from .shapes import EMPTY

    if raw is None or raw == "":
        return EMPTY
    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except ValueError:
            return raw
    return raw


def load(path: Path) -> list[Exchange]:
    document = json.loads(path.read_text(encoding="utf-8-sig"))
    exchanges = []
    for entry in document.get("Entries", []):
        parts = urlsplit(entry["RequestUri"])
        exchanges.append(
            Exchange(
                source=path.name,
                method=entry["RequestMethod"],
                host=parts.hostname or "",
                path=parts.path,
                query=dict(parse_qsl(parts.query, keep_blank_values=True)),
                status=int(entry["StatusCode"]),
                headers=dict(entry.get("ResponseHeaders") or {}),
                body=parse_body(entry.get("ResponseBody")),
            )
        )
    return exchanges


def load_all(folder: Path) -> list[Exchange]:
    found: list[Exchange] = []
    for path in sorted(folder.glob("*.json")):
        found.extend(load(path))
    return found
