"""Driving a run through the API to its end, and sample data files, for tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.support.asgi import AppThread


def run_to_end(api: AppThread, body: dict[str, Any], timeout: float = 120) -> dict[str, Any]:
    created = api.post("/v1/training-runs", json=body)
    assert created.status_code == 202, created.text
    run_id = created.json()["id"]
    done = api.get(f"/v1/training-runs/{run_id}/wait", params={"timeout": timeout})
    assert done.status_code == 200, done.text
    run: dict[str, Any] = done.json()
    assert run["status"] in ("completed", "failed", "canceled"), run
    return run


def sample_csv(path: Path, rows: int = 2000, seed: int = 3) -> Path:
    from app.sampledata import write_csv

    return Path(write_csv(path, rows=rows, seed=seed))
