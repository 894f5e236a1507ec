"""Workspace facts that never change, kept on disk so a restarted service need not ask again.

Only content-addressed facts are kept (e.g. which code snapshot a component version was
registered with): they cannot go stale, only disappear (someone deletes the asset), and a
submission refused for a missing reference registers again and records the new fact. The file
is a cache: unreadable or absent means "ask the workspace"; writes replace it atomically, so
replicas sharing a data directory never see half a file (the last writer wins, and all of them
write the same facts).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
from pathlib import Path

log = logging.getLogger(__name__)

MAX_FACTS = 1000  # a bound on the file: old components' facts are dropped first


class FactsFile:
    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._facts: dict[str, str] | None = None

    def get(self, key: str) -> str | None:
        with self._lock:
            return self._load().get(key)

    def put(self, key: str, value: str) -> None:
        with self._lock:
            facts = self._load()
            if facts.get(key) == value:
                return
            facts.pop(key, None)
            facts[key] = value  # newest last: the oldest are dropped past the bound
            while len(facts) > MAX_FACTS:
                facts.pop(next(iter(facts)))
            self._save(facts)

    def _load(self) -> dict[str, str]:
        if self._facts is None:
            self._facts = {}
            if self.path is not None and self.path.is_file():
                try:
                    loaded = json.loads(self.path.read_text())
                    self._facts = (
                        {str(k): str(v) for k, v in loaded.items()} if isinstance(loaded, dict) else {}
                    )
                except (OSError, ValueError) as error:
                    log.warning("ignoring unreadable Azure ML facts file %s: %s", self.path, error)
        return self._facts

    def _save(self, facts: dict[str, str]) -> None:
        if self.path is None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=".facts-")
            with os.fdopen(handle, "w") as out:
                json.dump(facts, out)
            os.replace(temporary, self.path)
        except OSError as error:  # a cache: losing it costs a request, nothing more
            log.warning("could not write Azure ML facts file %s: %s", self.path, error)
