"""Latency at a paced request rate with wrk (Debian's `wrk` package), when it is installed.

wrk is written in C and costs the 2-core machine far less than any Python client; the Lua
script (paced.lua) spaces each connection's requests so all of them together offer `rate`
requests a second. The Python generator in loadgen.py is the fallback.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

SCRIPT = Path(__file__).with_name("paced.lua")


def available() -> bool:
    return shutil.which("wrk") is not None


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def paced(url: str, *, rate: int, seconds: int, connections: int = 10) -> dict[str, float]:
    env = {**os.environ, "WRK_RATE": str(rate), "WRK_CONNECTIONS": str(connections)}
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(SCRIPT), url],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stdout
    percentiles = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", out, re.MULTILINE))
    rate_seen = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "tool": "wrk",
        "rate_per_s": round(rate_seen, 1),
        "p50_ms": round(_ms(percentiles["50"]), 2),
        "p99_ms": round(_ms(percentiles["99"]), 2),
        "errors": int(errors.group(1)) if errors else 0,
    }  # type: ignore[dict-item]
