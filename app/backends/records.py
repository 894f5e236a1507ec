"""Reads the decision the pipeline steps wrote, the same way for every backend.

``evaluate`` writes ``decision.json``, ``register`` writes ``model_info.json`` (schemas in
components/); a backend only has to fetch them (local files, or MLflow artifacts on Azure ML).
"""

from __future__ import annotations

from typing import Any

from app.backends.base import ModelRef, Outcome

DECISION_FILE = "decision.json"
MODEL_INFO_FILE = "model_info.json"


def float_dict(values: Any) -> dict[str, float]:
    result: dict[str, float] = {}
    for key, value in (values or {}).items():
        try:
            result[str(key)] = float(value)
        except (TypeError, ValueError):
            continue
    return result


def model_ref(value: Any, default_name: str) -> ModelRef | None:
    """A ``{name, version, metrics}`` record (or a bare version) as a ModelRef."""
    if not value:
        return None
    if isinstance(value, dict):
        if value.get("version") is None:
            return None
        return ModelRef(
            name=str(value.get("name") or default_name),
            version=str(value["version"]),
            metrics=float_dict(value.get("metrics")),
        )
    return ModelRef(name=default_name, version=str(value))


def outcome_from_records(decision: dict[str, Any], info: dict[str, Any] | None, model_name: str) -> Outcome:
    """The outcome from evaluate's decision and register's record (None if it did not run)."""
    name = str(decision.get("model_name") or model_name)
    champion_before = model_ref(decision.get("champion"), name)
    champion_after = champion_before
    registered = None
    reason = str(decision.get("reason") or "")
    if info is not None:
        if info.get("registered") and info.get("version") is not None:
            registered = ModelRef(
                str(info.get("name") or name), str(info["version"]), float_dict(info.get("metrics"))
            )
        champion_after = model_ref(info.get("champion_after"), name) or champion_after
        reason = str(info.get("reason") or reason)
    # Register refuses a deploy decision that went stale (the champion changed meanwhile).
    deploy = bool(decision.get("deploy")) and (info is None or bool(info.get("registered")))
    return Outcome(
        deploy=deploy,
        reason=reason,
        rule=dict(decision.get("rule") or {}),
        candidate_metrics=float_dict(decision.get("candidate_metrics")),
        champion_before=champion_before,
        champion_after=champion_after,
        registered_model=registered,
    )
