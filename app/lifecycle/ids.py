"""Run ids sort by creation time, so the newest-first listing and its cursor are one index."""

from __future__ import annotations

import secrets
import time


def new_run_id() -> str:
    return f"run-{time.time_ns() // 1_000_000:012x}{secrets.token_hex(4)}"
