"""What a finished step process left behind: its MLflow run id and its readable error."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path


def read_step_info(path: Path) -> str | None:
    """The MLflow run id the step wrote to ``TRAINCTL_STEP_INFO`` (none if it failed early)."""
    with contextlib.suppress(OSError, ValueError, KeyError):
        return str(json.loads(path.read_text())["mlflow_run_id"])
    return None


def last_error_line(log_path: Path) -> str | None:
    """The readable reason a step failed: its last ``error:`` line, else its last line."""
    with contextlib.suppress(OSError):
        lines = [line.strip() for line in log_path.read_text(errors="replace").splitlines() if line.strip()]
        for line in reversed(lines):
            if line.lower().startswith("error:"):
                return line[6:].strip()
        if lines:
            return lines[-1][:500]
    return None
