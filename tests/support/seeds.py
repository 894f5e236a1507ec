"""Seeds for generated tests: a fixed one every commit must keep passing, and one that changes
with every commit, so new cases get tried; ``TRAINCTL_FUZZ_SEED=N`` replays a given one."""

from __future__ import annotations

import functools
import hashlib
import os
import subprocess
from pathlib import Path

FIXED_SEED = 20261128


@functools.cache
def commit_seed() -> int:
    chosen = os.environ.get("TRAINCTL_FUZZ_SEED")
    if chosen:
        return int(chosen)
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        head = str(os.getpid())  # no git: still a new seed each run, and it is printed
    return int(hashlib.sha256(head.encode()).hexdigest()[:8], 16)
