"""The promotion decision of a pipeline run and what registration did with it: one shape,
stored as JSON by the store and extended by the API with the run id."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, Field, computed_field

from app.domain.state import TrialState


class ModelRef(BaseModel):
    name: str
    version: str
    metrics: dict[str, float] = Field(default_factory=dict)


class TrialRef(BaseModel):
    """The sweep trial a pipeline sent on to evaluate (its hyper-parameters and score when the
    backend reports them while the run goes on; the trials view always has them)."""

    name: str
    hyperparameters: dict[str, str | int | float] = Field(default_factory=dict)
    objective: float | None = None


class Outcome(BaseModel):
    deploy: bool
    reason: str
    rule: dict[str, Any]
    candidate_metrics: dict[str, float]
    champion_before: ModelRef | None
    champion_after: ModelRef | None
    registered_model: ModelRef | None
    best_trial: TrialRef | None = Field(default=None, description="A sweep's best trial, the candidate.")

    @computed_field(description="True when this run made its model the champion.")  # type: ignore[prop-decorator]
    @property
    def promoted(self) -> bool:
        registered, after = self.registered_model, self.champion_after
        return registered is not None and after is not None and after.version == registered.version

    def with_best_trial(self, trials: Sequence[TrialState]) -> Outcome:
        best = next((t for t in trials if t.best), None)
        if best is None:
            return self
        ref = TrialRef(name=best.name, hyperparameters=dict(best.hyperparameters), objective=best.objective)
        return self.model_copy(update={"best_trial": ref})

    @classmethod
    def from_records(cls, decision: dict[str, Any], info: dict[str, Any] | None, model_name: str) -> Outcome:
        """The outcome from evaluate's ``decision.json`` and register's ``model_info.json``
        (None when register did not run), the same for every backend."""
        name = str(decision.get("model_name") or model_name)
        champion_before = _model_ref(decision.get("champion"), name)
        champion_after = champion_before
        registered = None
        reason = str(decision.get("reason") or "")
        if info is not None:
            if info.get("registered") and info.get("version") is not None:
                registered = ModelRef(
                    name=str(info.get("name") or name),
                    version=str(info["version"]),
                    metrics=float_values(info.get("metrics")),
                )
            champion_after = _model_ref(info.get("champion_after"), name) or champion_after
            reason = str(info.get("reason") or reason)
        # Register refuses a deploy decision that went stale (the champion changed meanwhile).
        deploy = bool(decision.get("deploy")) and (info is None or bool(info.get("registered")))
        return cls(
            deploy=deploy,
            reason=reason,
            rule=dict(decision.get("rule") or {}),
            candidate_metrics=float_values(decision.get("candidate_metrics")),
            champion_before=champion_before,
            champion_after=champion_after,
            registered_model=registered,
        )


def float_values(values: Any) -> dict[str, float]:
    result: dict[str, float] = {}
    for key, value in (values or {}).items():
        try:
            result[str(key)] = float(value)
        except (TypeError, ValueError):
            continue
    return result


def _model_ref(value: Any, default_name: str) -> ModelRef | None:
    """A ``{name, version, metrics}`` record (or a bare version) as a ModelRef."""
    if not value:
        return None
    if isinstance(value, dict):
        if value.get("version") is None:
            return None
        return ModelRef(
            name=str(value.get("name") or default_name),
            version=str(value["version"]),
            metrics=float_values(value.get("metrics")),
        )
    return ModelRef(name=default_name, version=str(value))
