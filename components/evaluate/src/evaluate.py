"""Score the candidate and the current champion on the same held-out rows; decide promotion.

Runs unchanged as an Azure ML command component and under trainctl's local engine, which
calls `main(argv)` in a forked worker: nothing here may do work at import time.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import mlflow
import mlflow.sklearn
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)

LABEL = "Diabetic"
FEATURES = (
    "Pregnancies",
    "PlasmaGlucose",
    "DiastolicBloodPressure",
    "TricepsThickness",
    "SerumInsulin",
    "BMI",
    "DiabetesPedigree",
    "Age",
)
METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc")
CHAMPION_ALIAS = "champion"
CHAMPION_TAG = "champion"
# Azure ML asset names; also keeps the name safe inside registry filter strings.
MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$")
_ROUNDING = 1e-12


class DataError(Exception):
    """Input the step cannot use; reported as one line and exit code 2."""


@dataclass(frozen=True)
class Rule:
    metric: str = "roc_auc"
    min_improvement: float = 0.0


@dataclass(frozen=True)
class Champion:
    name: str
    version: str
    metrics: Mapping[str, float]


def decide(
    candidate: Mapping[str, float], champion: Champion | None, rule: Rule
) -> tuple[bool, str, float | None]:
    """Return (deploy, reason, improvement) for a candidate against the current champion.

    Deploy iff there is no champion, or improvement > 0 and improvement >= min_improvement
    (up to float rounding: 0.8612 - 0.8577 must count as 0.0035).
    """
    metric, value = rule.metric, candidate[rule.metric]
    if champion is None:
        return True, f"no champion yet: candidate {metric} {value:.4f} becomes the first", None
    best = champion.metrics[metric]
    improvement = value - best
    holder = f"champion {champion.name} v{champion.version} ({best:.4f})"
    if not math.isfinite(improvement):
        return False, f"candidate {metric} {value} cannot be compared with {holder}", None
    if improvement <= 0:
        return False, f"candidate {metric} {value:.4f} is not better than {holder}", improvement
    by = f"{improvement:.4f}" if improvement >= 5e-5 else f"{improvement:.1e}"
    if improvement < rule.min_improvement - _ROUNDING:
        reason = f"candidate {metric} {value:.4f} beats {holder} by only {by} < {rule.min_improvement}"
        return False, reason, improvement
    reason = f"candidate {metric} {value:.4f} beats {holder} by {by} >= {rule.min_improvement}"
    return True, reason, improvement


def _model_name(text: str) -> str:
    if not MODEL_NAME.match(text):
        raise argparse.ArgumentTypeError(f"invalid model name {text!r}")
    return text


def _non_negative(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="evaluate.py", description=__doc__)
    parser.add_argument("--model_input", type=Path, required=True, help="MLflow model folder")
    parser.add_argument("--test_data", type=Path, required=True, help="folder with test.csv")
    parser.add_argument("--model_name", type=_model_name, required=True)
    parser.add_argument("--promotion_metric", choices=METRICS, default="roc_auc")
    parser.add_argument("--min_improvement", type=_non_negative, default=0.0)
    parser.add_argument("--evaluation_output", type=Path, required=True)
    return parser


def load_test_data(path: Path) -> tuple[pd.DataFrame, pd.Series]:
    csv = path / "test.csv" if path.is_dir() else path
    if not csv.is_file():
        raise DataError(f"test data not found: {csv}")
    try:
        frame = pd.read_csv(csv)
    except pd.errors.EmptyDataError:
        raise DataError(f"test data is empty: {csv}") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot parse {csv.name} as CSV: {str(exc).strip()}") from None
    missing = [c for c in (*FEATURES, LABEL) if c not in frame.columns]
    if missing:
        raise DataError(f"test data is missing columns: {', '.join(missing)}")
    for column in (*FEATURES, LABEL):
        values = pd.to_numeric(frame[column], errors="coerce")
        bad = ~np.isfinite(values.to_numpy(dtype=np.float64))
        if bad.any():
            raise DataError(f"test data column {column}, row {int(np.argmax(bad)) + 1}: not a finite number")
        frame[column] = values
    if set(frame[LABEL].unique()) != {0, 1}:
        raise DataError(f"test data column {LABEL} must hold both 0 and 1, and nothing else")
    return frame[list(FEATURES)].astype(np.float64), frame[LABEL].astype(np.int64)


def score(model: Any, x: pd.DataFrame, y: pd.Series) -> dict[str, float]:
    predicted, probability = model.predict(x), model.predict_proba(x)[:, 1]
    return {
        "accuracy": float(accuracy_score(y, predicted)),
        "precision": float(precision_score(y, predicted, zero_division=0)),
        "recall": float(recall_score(y, predicted, zero_division=0)),
        "f1": float(f1_score(y, predicted, zero_division=0)),
        "roc_auc": float(roc_auc_score(y, probability)),
    }


def find_champion(client: MlflowClient, name: str) -> ModelVersion | None:
    """The version holding the champion alias, else the newest version tagged champion=true.

    The tag is the fallback for registries without aliases (register keeps both in step).
    """
    try:
        return client.get_model_version_by_alias(name, CHAMPION_ALIAS)
    except MlflowException:
        pass  # no such model, no alias yet, or a registry without alias support
    tagged = [v for v in client.search_model_versions(f"name='{name}'") if v.tags.get(CHAMPION_TAG) == "true"]
    return max(tagged, key=lambda v: int(v.version), default=None)


def comparison_figure(candidate: Mapping[str, float], champion: Champion | None) -> Figure:
    figure = Figure(figsize=(6, 4), dpi=100)
    figure.subplots_adjust(left=0.1, bottom=0.1, right=0.97, top=0.9)
    ax = figure.subplots()
    positions = np.arange(len(METRICS))
    width = 0.38 if champion else 0.6
    ax.bar(
        positions - (width / 2 if champion else 0), [candidate[m] for m in METRICS], width, label="candidate"
    )
    if champion:
        label = f"champion v{champion.version}"
        ax.bar(positions + width / 2, [champion.metrics[m] for m in METRICS], width, label=label)
    ax.set_xticks(positions, METRICS)
    ax.set_ylim(0, 1)
    ax.set_title("candidate vs champion on the same test rows")
    ax.legend(loc="lower right")
    return figure


def trainctl_tags(step: str) -> dict[str, str]:
    tags = {"trainctl.step": os.environ.get("TRAINCTL_STEP", step)}
    if run_id := os.environ.get("TRAINCTL_RUN_ID"):
        tags["trainctl.run_id"] = run_id
    return tags


def run_name(step: str) -> str | None:
    # A run handed over through MLFLOW_RUN_ID (Azure ML, or the engine) keeps its own name.
    return None if os.environ.get("MLFLOW_RUN_ID") else step


def write_step_info(info: dict[str, str]) -> None:
    if target := os.environ.get("TRAINCTL_STEP_INFO"):
        Path(target).write_text(json.dumps(info))


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    rule = Rule(args.promotion_metric, args.min_improvement)
    try:
        x_test, y_test = load_test_data(args.test_data)
        if not (args.model_input / "MLmodel").is_file():
            raise DataError(f"not an MLflow model folder: {args.model_input}")
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    step_info: dict[str, str] = {}
    try:
        with mlflow.start_run(run_name=run_name("evaluate")) as run:
            step_info = {"mlflow_run_id": run.info.run_id, "experiment_id": run.info.experiment_id}
            mlflow.set_tags(trainctl_tags("evaluate"))
            candidate = score(mlflow.sklearn.load_model(str(args.model_input)), x_test, y_test)
            champion = None
            if (version := find_champion(MlflowClient(), args.model_name)) is not None:
                uri = f"models:/{args.model_name}/{version.version}"
                metrics = score(mlflow.sklearn.load_model(uri), x_test, y_test)
                champion = Champion(args.model_name, str(version.version), metrics)
            deploy, reason, improvement = decide(candidate, champion, rule)
            decision: dict[str, Any] = {
                "model_name": args.model_name,
                "candidate_metrics": candidate,
                "champion": None if champion is None else asdict(champion),
                "rule": {"metric": rule.metric, "min_improvement": rule.min_improvement},
                "improvement": improvement,
                "deploy": deploy,
                "reason": reason,
                "test_rows": len(y_test),
            }
            out = args.evaluation_output
            out.mkdir(parents=True, exist_ok=True)
            (out / "decision.json").write_text(json.dumps(decision, indent=2))
            (out / "deploy_flag").write_text("1" if deploy else "0")
            # Lets the register step tag the model version with this run (lineage).
            (out / "mlflow_run.json").write_text(json.dumps(step_info))

            mlflow.log_params(
                {
                    "model_name": args.model_name,
                    "promotion_metric": rule.metric,
                    "min_improvement": rule.min_improvement,
                    "champion_version": champion.version if champion else "none",
                }
            )
            logged = {f"candidate_{k}": v for k, v in candidate.items()}
            if champion:
                logged |= {f"champion_{k}": v for k, v in champion.metrics.items()}
            if improvement is not None:
                logged["improvement"] = improvement
            mlflow.log_metrics(logged | {"deploy": float(deploy)})
            mlflow.log_dict(decision, "decision.json")
            mlflow.log_figure(comparison_figure(candidate, champion), "comparison.png")
            print(reason)
    finally:
        if step_info:
            write_step_info(step_info)
    return 0


if __name__ == "__main__":
    sys.exit(main())
