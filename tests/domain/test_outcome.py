"""The outcome both backends build from the steps' decision.json and model_info.json."""

from __future__ import annotations

from app.domain.outcome import Outcome

METRICS = {"accuracy": 0.8, "precision": 0.7, "recall": 0.6, "f1": 0.65, "roc_auc": 0.85}
RULE = {"metric": "roc_auc", "min_improvement": 0.0}


def decision(**extra: object) -> dict[str, object]:
    return {
        "model_name": "m",
        "candidate_metrics": METRICS,
        "champion": None,
        "rule": RULE,
        "deploy": True,
        "reason": "no champion yet",
        **extra,
    }


def test_promoted_model_becomes_champion_after() -> None:
    info = {
        "registered": True,
        "name": "m",
        "version": "1",
        "reason": "no champion yet",
        "champion_after": {"name": "m", "version": "1", "metrics": METRICS},
        "metrics": METRICS,
    }
    outcome = Outcome.from_records(decision(), info, "m")
    assert outcome.deploy is True
    assert outcome.registered_model is not None and outcome.registered_model.version == "1"
    assert outcome.champion_before is None
    assert outcome.champion_after is not None and outcome.champion_after.version == "1"


def test_a_decision_register_refused_as_stale_is_not_a_deploy() -> None:
    info = {
        "registered": False,
        "name": "m",
        "version": None,
        "reason": "not promoted: the champion changed from none to v2 ...",
        "champion_after": {"name": "m", "version": "2", "metrics": {}},
    }
    outcome = Outcome.from_records(decision(), info, "m")
    assert outcome.deploy is False
    assert outcome.registered_model is None
    assert outcome.reason.startswith("not promoted")
    assert outcome.champion_after is not None and outcome.champion_after.version == "2"


def test_without_a_register_record_the_champion_is_unchanged() -> None:
    before = {"name": "m", "version": "3", "metrics": {"roc_auc": "0.9"}}
    outcome = Outcome.from_records(decision(deploy=False, champion=before, reason="not better"), None, "m")
    assert outcome.deploy is False
    assert outcome.champion_before == outcome.champion_after
    assert outcome.champion_before is not None and outcome.champion_before.metrics == {"roc_auc": 0.9}


def test_the_stored_shape_round_trips_and_promoted_is_derived() -> None:
    info = {"registered": True, "version": "4", "champion_after": {"version": "4"}}
    outcome = Outcome.from_records(decision(), info, "m")
    assert outcome.promoted is True
    stored = outcome.model_dump(mode="json", exclude={"promoted"})
    assert Outcome.model_validate(stored) == outcome
    held = Outcome.from_records(decision(deploy=False, champion={"version": "3"}), None, "m")
    assert held.promoted is False
