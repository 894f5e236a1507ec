"""What the engine remembers about finished steps, so unchanged steps are reused."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

#: Champion marker meaning "the model had no champion".
NO_CHAMPION = "-"


@dataclass
class CacheEntry:
    key: str
    run_id: str
    step: str
    outputs_dir: str
    output_digests: dict[str, str]
    log_path: str
    mlflow_run_id: str | None = None
    reads_champion: bool = False
    champion_seen: str | None = None
    champion_left: str | None = None
    created_at: datetime | None = field(default=None)


class StepCache(Protocol):
    def find(self, key: str) -> list[CacheEntry]:
        """Entries with this key, newest first."""
        ...

    def find_for_run(self, run_id: str, step: str, key: str) -> CacheEntry | None: ...

    def put(self, entry: CacheEntry) -> None: ...

    def set_champion_left(self, run_id: str, champion: str) -> None:
        """Record the champion a finished run left behind on its champion-reading steps."""
        ...


class MemoryStepCache:
    """For one-off runs and tests that need no persistence."""

    def __init__(self) -> None:
        self._entries: list[CacheEntry] = []

    def find(self, key: str) -> list[CacheEntry]:
        return [e for e in reversed(self._entries) if e.key == key]

    def find_for_run(self, run_id: str, step: str, key: str) -> CacheEntry | None:
        return next((e for e in self.find(key) if e.run_id == run_id and e.step == step), None)

    def put(self, entry: CacheEntry) -> None:
        self._entries.append(entry)

    def set_champion_left(self, run_id: str, champion: str) -> None:
        for entry in self._entries:
            if entry.run_id == run_id and entry.reads_champion:
                entry.champion_left = champion
