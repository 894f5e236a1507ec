"""The promotion rule of the evaluate step, as a pure function."""

from __future__ import annotations

import math
from types import ModuleType

import pytest


def metrics(roc_auc: float, f1: float = 0.6) -> dict[str, float]:
    return {"accuracy": 0.77, "precision": 0.7, "recall": 0.55, "f1": f1, "roc_auc": roc_auc}


@pytest.fixture
def evaluate(scripts: dict[str, ModuleType]) -> ModuleType:
    return scripts["evaluate"]


def champion(evaluate: ModuleType, roc_auc: float, f1: float = 0.6) -> object:
    return evaluate.Champion("diabetes-model", "3", metrics(roc_auc, f1))


def test_first_model_is_promoted_explicitly(evaluate: ModuleType) -> None:
    deploy, reason, improvement = evaluate.decide(metrics(0.61), None, evaluate.Rule())
    assert deploy is True
    assert reason.startswith("no champion yet")
    assert "roc_auc 0.6100" in reason
    assert improvement is None


def test_better_candidate_is_promoted_with_the_numbers_in_the_reason(evaluate: ModuleType) -> None:
    deploy, reason, improvement = evaluate.decide(
        metrics(0.8612), champion(evaluate, 0.8577), evaluate.Rule("roc_auc", 0.0)
    )
    assert deploy is True
    assert reason == "candidate roc_auc 0.8612 beats champion diabetes-model v3 (0.8577) by 0.0035 >= 0.0"
    assert improvement == pytest.approx(0.0035)


@pytest.mark.parametrize("candidate", [0.8577, 0.8012])
def test_equal_or_worse_candidate_is_not_promoted(evaluate: ModuleType, candidate: float) -> None:
    deploy, reason, improvement = evaluate.decide(
        metrics(candidate), champion(evaluate, 0.8577), evaluate.Rule()
    )
    assert deploy is False
    assert reason == (
        f"candidate roc_auc {candidate:.4f} is not better than champion diabetes-model v3 (0.8577)"
    )
    assert improvement == pytest.approx(candidate - 0.8577)


def test_improvement_below_the_minimum_is_not_promoted(evaluate: ModuleType) -> None:
    deploy, reason, _ = evaluate.decide(
        metrics(0.86), champion(evaluate, 0.855), evaluate.Rule("roc_auc", 0.01)
    )
    assert deploy is False
    assert "by only 0.0050 < 0.01" in reason


def test_improvement_exactly_at_the_minimum_is_promoted_despite_float_rounding(evaluate: ModuleType) -> None:
    assert 0.8612 - 0.8577 < 0.0035  # the float trap the rule must not fall into
    deploy, _, _ = evaluate.decide(
        metrics(0.8612), champion(evaluate, 0.8577), evaluate.Rule("roc_auc", 0.0035)
    )
    assert deploy is True


def test_rule_uses_the_configured_metric(evaluate: ModuleType) -> None:
    # Better roc_auc but worse f1: judged on f1 it stays out.
    deploy, reason, _ = evaluate.decide(
        metrics(0.9, f1=0.5), champion(evaluate, 0.8, f1=0.6), evaluate.Rule("f1", 0.0)
    )
    assert deploy is False
    assert reason.startswith("candidate f1 0.5000 is not better")


def test_tiny_improvements_stay_visible_in_the_reason(evaluate: ModuleType) -> None:
    _, reason, _ = evaluate.decide(metrics(0.8232 + 5e-7), champion(evaluate, 0.8232), evaluate.Rule())
    assert "by 5.0e-07 >= 0.0" in reason


def test_non_finite_metrics_never_promote(evaluate: ModuleType) -> None:
    deploy, _, improvement = evaluate.decide(metrics(0.9), champion(evaluate, math.nan), evaluate.Rule())
    assert deploy is False
    assert improvement is None
