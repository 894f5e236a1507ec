"""Run rows as the submission service would store them, for store and lifecycle tests."""

from __future__ import annotations

from typing import Any

from app.domain.clock import utcnow
from app.domain.spec import DataAssetRef, RunSpec
from app.store.tables import RunRow


def run_row(
    run_id: str,
    *,
    kind: str = "pipeline",
    key: str | None = None,
    body_hash: str = "h",
    caller: str = "tester",
    **spec: Any,
) -> RunRow:
    built = RunSpec.model_validate(
        {"run_id": run_id, "kind": kind, "data_asset": DataAssetRef(name="d", version="1"), **spec}
    )
    now = utcnow()
    return RunRow(
        id=run_id,
        kind=kind,
        status="queued",
        raw_status="NotStarted",
        experiment_name=built.experiment_name,
        model_name=built.model_name,
        backend="local",
        spec=built,
        data_asset_name="d",
        data_asset_version="1",
        submitted_by=caller,
        idempotency_key=key,
        request_hash=body_hash,
        callback_attempts=[],
        created_at=now,
        updated_at=now,
    )
