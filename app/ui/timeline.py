"""Shapes the run page draws: the steps as bars on one time axis, and the decision as a
candidate-versus-champion table on the rule's metric."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from app.domain.clock import utcnow
from app.domain.status import RunStatus
from app.store.tables import RunRow, StepRow

WIDTH = 600  # the SVG's user units; it scales to the screen
ROW = 28


def step_timeline(steps: Sequence[StepRow]) -> dict[str, Any]:
    """Each step with its duration and an SVG bar placed on the run's time axis."""
    now = utcnow()
    starts = [s.started_at for s in steps if s.started_at]
    origin = min(starts) if starts else None
    ends = [s.ended_at or now for s in steps if s.started_at]
    span = max(((max(ends) - origin).total_seconds() if origin and ends else 0.0), 0.001)
    rows = []
    for index, step in enumerate(steps):
        seconds = _seconds(step.started_at, step.ended_at, now)
        x = width = 0.0
        if origin is not None and step.started_at is not None:
            x = (step.started_at - origin).total_seconds() / span * WIDTH
            width = max(3.0, (seconds or 0.0) / span * WIDTH)
        rows.append(
            {
                "name": step.name,
                "status": step.status,
                "raw_status": step.raw_status,
                "reused": step.reused,
                "started_at": step.started_at,
                "ended_at": step.ended_at,
                "seconds": seconds,
                "running": not RunStatus(step.status).is_final,
                "exit_code": step.exit_code,
                "error": step.error,
                "studio_url": step.studio_url,
                "x": round(x, 1),
                "y": index * ROW + 4,
                "width": round(min(width, WIDTH - x), 1),
            }
        )
    return {"rows": rows, "width": WIDTH, "height": max(1, len(rows)) * ROW + 8, "span": span}


def _seconds(start: datetime | None, end: datetime | None, now: datetime) -> float | None:
    if start is None:
        return None
    return max(0.0, ((end or now) - start).total_seconds())


def decision_view(row: RunRow) -> dict[str, Any] | None:
    """The outcome as a person reads it: the verdict, the rule, and each metric of the
    candidate beside the champion's, both scored on the same held-out rows."""
    outcome = row.outcome
    if outcome is None:
        return None
    metric = str(outcome.rule.get("metric", row.spec.promotion.metric))
    min_improvement = float(outcome.rule.get("min_improvement", row.spec.promotion.min_improvement))
    champion = outcome.champion_before
    names = sorted(set(outcome.candidate_metrics) | set(champion.metrics if champion else {}))
    table = []
    for name in names:
        candidate = outcome.candidate_metrics.get(name)
        held = champion.metrics.get(name) if champion else None
        table.append(
            {
                "name": name,
                "candidate": candidate,
                "champion": held,
                "difference": None if candidate is None or held is None else candidate - held,
                "rule": name == metric,
            }
        )
    return {
        "deploy": outcome.deploy,
        "promoted": outcome.promoted,
        "reason": outcome.reason,
        "metric": metric,
        "min_improvement": min_improvement,
        "champion_before": champion.version if champion else None,
        "champion_after": outcome.champion_after.version if outcome.champion_after else None,
        "registered": outcome.registered_model.version if outcome.registered_model else None,
        "model_name": row.model_name,
        "table": table,
    }
