"""Train the diabetes classifier and hand the model plus its held-out rows to the next steps.

Three model families (`--model_type`): logistic regression (the original scripts' `--reg_rate`
and `--solver`), random forest and gradient boosting; each reads its own hyper-parameters and
ignores the others', so a sweep's flat search space can hand every trial all of them. The test
metrics are logged under their plain names (`roc_auc`...): an Azure ML sweep's primary metric
is one of these names. `--light true` (a sweep trial that is not kept) fits, scores on the test
rows and logs, and skips what only the kept candidate needs: the plots, the model files, the
signature and the training-set scores.

Runs unchanged as an Azure ML command component and under trainctl's local engine, which
calls `main(argv)` in a forked worker: nothing here may do work at import time.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import mlflow
import mlflow.sklearn
import numpy as np
import pandas as pd
import sklearn
import skops
from matplotlib.figure import Figure
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag
from mlflow.models import infer_signature
from sklearn.base import ClassifierMixin
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    ConfusionMatrixDisplay,
    PrecisionRecallDisplay,
    RocCurveDisplay,
    accuracy_score,
    f1_score,
    log_loss,
    precision_recall_fscore_support,
    precision_score,
    recall_score,
    roc_auc_score,
)
from sklearn.model_selection import train_test_split
from threadpoolctl import threadpool_limits

ID_COLUMN = "PatientID"
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
COLUMNS = (ID_COLUMN, *FEATURES, LABEL)
SOLVERS = ("lbfgs", "liblinear", "newton-cg", "newton-cholesky", "sag", "saga")
# The features are unscaled (as in the original scripts), so sag/saga need many passes.
MAX_ITER = 1000
MODEL_TYPES = ("logistic_regression", "random_forest", "gradient_boosting")
#: Each family's hyper-parameters and the value a left-out flag takes (Azure ML leaves optional
#: inputs out). The service's defaults (app/domain/spec.py) are pinned to these by a test.
FAMILY_DEFAULTS: dict[str, dict[str, float | int | str | None]] = {
    "logistic_regression": {"reg_rate": 0.01, "solver": "lbfgs"},
    "random_forest": {"n_estimators": 100, "max_depth": None, "min_samples_leaf": 1},
    "gradient_boosting": {"learning_rate": 0.1, "n_estimators": 100, "max_depth": 3},
}
#: What a tree ensemble's skops file holds beyond skops' default trust.
TREE_TYPES = ["sklearn.tree._tree.Tree"]
#: Parameters this step logs itself, before the estimator's own (same names, same values).
LOGGED = frozenset(name for names in FAMILY_DEFAULTS.values() for name in names)
#: The tag MLflow's UI groups child runs by: a local sweep's trials carry their sweep's run.
PARENT_TAG = "mlflow.parentRunId"


class DataError(Exception):
    """Input data the step cannot use; reported as one line and exit code 2."""


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def _whole(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {text}")
    return value


def _boolean(text: str) -> bool:
    # Azure ML and the local engine write booleans as true/false (in either case).
    if text.lower() not in ("true", "false"):
        raise argparse.ArgumentTypeError(f"must be true or false, got {text}")
    return text.lower() == "true"


def _fraction(text: str) -> float:
    value = float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="train.py", description=__doc__)
    parser.add_argument(
        "--training_data", type=Path, required=True, help="CSV file, or a folder holding exactly one CSV"
    )
    parser.add_argument("--model_type", choices=MODEL_TYPES, default="logistic_regression")
    parser.add_argument("--reg_rate", type=_positive, default=0.01, help="C = 1 / reg_rate")
    parser.add_argument("--solver", choices=SOLVERS, default="lbfgs")
    parser.add_argument("--n_estimators", type=_whole, help="random_forest, gradient_boosting (default 100)")
    parser.add_argument(
        "--max_depth", type=_whole, help="random_forest (default no limit), gradient_boosting (3)"
    )
    parser.add_argument("--min_samples_leaf", type=_whole, help="random_forest (default 1)")
    parser.add_argument("--learning_rate", type=_positive, help="gradient_boosting (default 0.1)")
    parser.add_argument(
        "--light", type=_boolean, default=False, help="a sweep trial: no plots, no model files"
    )
    parser.add_argument("--test_size", type=_fraction, default=0.3)
    parser.add_argument("--random_seed", type=int, default=0)
    parser.add_argument("--model_output", type=Path, required=True, help="MLflow model folder")
    parser.add_argument("--test_data", type=Path, required=True, help="folder for test.csv")
    return parser


def load_training_data(path: Path) -> pd.DataFrame:
    """Read and validate the CSV; every problem becomes a one-line DataError."""
    if path.is_dir():
        # An uri_folder mounted where a file was expected: accept a folder holding one CSV.
        csvs = sorted(path.glob("*.csv"))
        if len(csvs) != 1:
            raise DataError(f"expected one CSV file in folder {path}, found {len(csvs)}")
        path = csvs[0]
    if not path.is_file():
        raise DataError(f"training data not found: {path}")
    try:
        frame = pd.read_csv(path, skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise DataError(f"training data is empty: {path}") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        reason = str(exc).strip().splitlines()[-1]
        raise DataError(f"cannot parse {path.name} as CSV: {reason}") from None
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise DataError(f"missing columns: {', '.join(missing)}")
    extra = [str(c) for c in frame.columns if c not in COLUMNS]
    if extra:
        raise DataError(f"unexpected columns: {', '.join(extra)}")
    if frame.empty:
        raise DataError(f"training data has a header but no rows: {path}")
    for column in (*FEATURES, LABEL):
        frame[column] = _numeric(frame[column], column)
    labels = frame[LABEL]
    bad = ~labels.isin((0, 1))
    if bad.any():
        row = int(np.argmax(bad.to_numpy()))
        raise DataError(f"column {LABEL} must be 0 or 1: found {labels.iloc[row]:g} in row {row + 1}")
    classes = labels.unique()
    if len(classes) < 2:
        raise DataError(f"column {LABEL} has a single class ({int(classes[0])}); need both 0 and 1")
    frame[LABEL] = labels.astype(np.int64)
    return frame


def _numeric(values: pd.Series, column: str) -> pd.Series:
    """Numeric view of a column; rows are numbered from 1 after the header line."""
    converted = pd.to_numeric(values, errors="coerce")
    bad = ~np.isfinite(converted.to_numpy(dtype=np.float64))
    if bad.any():
        row = int(np.argmax(bad))
        raw, where = values.iloc[row], f"column {column}, row {row + 1}"
        if pd.isna(raw):
            raise DataError(f"{where} is empty")
        raise DataError(f"{where}: {str(raw)!r} is not a finite number")
    return converted


def split(frame: pd.DataFrame, test_size: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    try:
        train, test = train_test_split(frame, test_size=test_size, stratify=frame[LABEL], random_state=seed)
    except ValueError as exc:
        raise DataError(f"too few rows for a stratified split: {exc}") from None
    # Original row order keeps test.csv easy to diff against the source file.
    return train.sort_index(), test.sort_index()


def score(y_true: pd.Series, predicted: np.ndarray, probability: np.ndarray) -> dict[str, float]:
    # One pass for precision, recall and f1 (the same values as their three functions): a
    # sweep scores every trial, and each call re-validates the labels.
    precision, recall, f1, _ = precision_recall_fscore_support(
        y_true, predicted, average="binary", zero_division=0
    )
    return {
        "accuracy": float(accuracy_score(y_true, predicted)),
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(f1),
        "roc_auc": float(roc_auc_score(y_true, probability)),
    }


def hyperparameters(args: argparse.Namespace) -> dict[str, float | int | str]:
    """model_type and its family's hyper-parameters, defaults filled in: what this run trains."""
    values: dict[str, float | int | str] = {"model_type": args.model_type}
    for name, default in FAMILY_DEFAULTS[args.model_type].items():
        value = getattr(args, name)
        value = default if value is None else value
        if value is not None:
            values[name] = value
    return values


def build_model(values: dict[str, float | int | str], seed: int) -> ClassifierMixin:
    family = values["model_type"]
    if family == "random_forest":
        return RandomForestClassifier(
            n_estimators=int(values["n_estimators"]),
            max_depth=int(values["max_depth"]) if "max_depth" in values else None,
            min_samples_leaf=int(values["min_samples_leaf"]),
            random_state=seed,
            n_jobs=1,  # parallel steps already share the cores
        )
    if family == "gradient_boosting":
        return GradientBoostingClassifier(
            learning_rate=float(values["learning_rate"]),
            n_estimators=int(values["n_estimators"]),
            max_depth=int(values["max_depth"]),
            random_state=seed,
        )
    return LogisticRegression(
        C=1 / float(values["reg_rate"]), solver=str(values["solver"]), max_iter=MAX_ITER
    )


@dataclass
class Record:
    """What a run logs, written to MLflow in one batch: each write is a database commit, and a
    sweep's trials (many, in parallel, sharing one store) would otherwise spend most of their
    time committing."""

    params: dict[str, object] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)

    def write(self, run_id: str) -> None:
        now = int(time.time() * 1000)
        MlflowClient().log_batch(
            run_id,
            metrics=[Metric(k, float(v), now, 0) for k, v in self.metrics.items()],
            params=[Param(k, str(v)) for k, v in self.params.items()],  # type: ignore[no-untyped-call]
            tags=[RunTag(k, v) for k, v in self.tags.items()],  # type: ignore[no-untyped-call]
        )


def fit(model: ClassifierMixin, x: pd.DataFrame, y: pd.Series, *, training_scores: bool = True) -> Record:
    """Fit; return what `mlflow.sklearn.autolog` would log, minus its cost, by default.

    Autolog always draws three training-set plots at 175 dpi (about 1 s; no setting turns
    them off). By default the same params, tags and training metrics are returned for logging,
    under autolog's names and with its weighted averages; TRAINCTL_SKLEARN_AUTOLOG=true
    runs the real autolog instead (which logs them itself).
    """
    if os.environ.get("TRAINCTL_SKLEARN_AUTOLOG", "").lower() in ("1", "true"):
        mlflow.sklearn.autolog(
            log_models=False,
            log_input_examples=False,
            log_model_signatures=False,
            log_datasets=False,
            log_post_training_metrics=False,
            silent=True,
        )
        try:
            model.fit(x, y)
        finally:
            mlflow.sklearn.autolog(disable=True)
        return Record()
    model.fit(x, y)
    kind = type(model)
    record = Record(
        # Under autolog's names; keys this step logs itself (e.g. solver) keep its value.
        params={k: v for k, v in model.get_params(deep=True).items() if k not in LOGGED},
        tags={"estimator_name": kind.__name__, "estimator_class": f"{kind.__module__}.{kind.__name__}"},
    )
    if not training_scores:  # a light trial: ranked by its test scores, it skips these
        return record
    predicted, probability = model.predict(x), model.predict_proba(x)
    averaged = {"average": "weighted", "zero_division": 0}
    record.metrics = {
        "training_precision_score": float(precision_score(y, predicted, **averaged)),
        "training_recall_score": float(recall_score(y, predicted, **averaged)),
        "training_f1_score": float(f1_score(y, predicted, **averaged)),
        "training_accuracy_score": float(accuracy_score(y, predicted)),
        "training_log_loss": float(log_loss(y, probability)),
        "training_roc_auc": float(roc_auc_score(y, probability[:, 1])),
        "training_score": float(model.score(x, y)),
    }
    return record


def log_plots(y_true: pd.Series, predicted: np.ndarray, probability: np.ndarray) -> None:
    # Figure objects, not pyplot: no global figure registry to leak or to share across runs.
    plots = {
        "roc_curve.png": (RocCurveDisplay, probability),
        "confusion_matrix.png": (ConfusionMatrixDisplay, predicted),
        "precision_recall.png": (PrecisionRecallDisplay, probability),
    }
    for name, (display, values) in plots.items():
        figure = Figure(figsize=(5, 4), dpi=100)
        figure.subplots_adjust(left=0.16, bottom=0.13, right=0.95, top=0.95)
        display.from_predictions(y_true, values, ax=figure.subplots())
        mlflow.log_figure(figure, name)


def trainctl_tags(step: str) -> dict[str, str]:
    tags = {"trainctl.step": os.environ.get("TRAINCTL_STEP", step)}
    if run_id := os.environ.get("TRAINCTL_RUN_ID"):
        tags["trainctl.run_id"] = run_id
    return tags


def experiment_id() -> str | None:
    """The experiment of MLFLOW_EXPERIMENT_NAME, created if missing. Two steps starting at once in
    a new store may both try to create it; the loser's insert fails on the unique name, so look
    again instead of failing the step. None where the run is handed over (Azure ML)."""
    name = os.environ.get("MLFLOW_EXPERIMENT_NAME")
    if not name or os.environ.get("MLFLOW_RUN_ID"):
        return None
    client = MlflowClient()
    found = client.get_experiment_by_name(name)
    if found is not None:
        return str(found.experiment_id)
    try:
        return str(client.create_experiment(name))
    except Exception:  # another step created it meanwhile (a unique-name failure)
        again = client.get_experiment_by_name(name)
        if again is None:
            raise
        return str(again.experiment_id)


def run_name(step: str) -> str | None:
    # A run handed over through MLFLOW_RUN_ID (Azure ML, or the engine) keeps its own name; a
    # local sweep's trial is named after its step (train-model.trial-03) under its sweep's run.
    if os.environ.get("MLFLOW_RUN_ID"):
        return None
    if os.environ.get("TRAINCTL_PARENT_RUN_ID"):
        return os.environ.get("TRAINCTL_STEP", step)
    return step


def parent_tags() -> dict[str, str]:
    parent = os.environ.get("TRAINCTL_PARENT_RUN_ID")
    return {PARENT_TAG: parent} if parent else {}


def write_step_info(info: dict[str, str]) -> None:
    if target := os.environ.get("TRAINCTL_STEP_INFO"):
        Path(target).write_text(json.dumps(info))


def keep(
    args: argparse.Namespace,
    run_id: str,
    model: ClassifierMixin,
    values: dict[str, float | int | str],
    test: pd.DataFrame,
    x_test: pd.DataFrame,
    predicted: np.ndarray,
    probability: np.ndarray,
) -> None:
    """What only a candidate that goes on needs: plots, its held-out rows and the model."""
    y_test = test[LABEL]
    log_plots(y_test, predicted, probability)
    args.test_data.mkdir(parents=True, exist_ok=True)
    test.to_csv(args.test_data / "test.csv", index=False)
    mlflow.sklearn.save_model(
        model,
        str(args.model_output),
        signature=infer_signature(x_test.head(50), predicted[:50]),
        # Explicit requirements: inferring them costs seconds (a subprocess).
        pip_requirements=[f"scikit-learn=={sklearn.__version__}", f"skops=={skops.__version__}"],
        # skops refuses to load tree nodes unless told they are trusted: these models are our own.
        skops_trusted_types=TREE_TYPES if values["model_type"] != "logistic_regression" else None,
        # Register tags the version's lineage with these (the family and every hyper-parameter).
        metadata={
            "trainctl.train_mlflow_run_id": run_id,
            "trainctl.model_type": str(values["model_type"]),
            "trainctl.hyperparameters": json.dumps(values, sort_keys=True),
        },
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        train, test = split(load_training_data(args.training_data), args.test_size, args.random_seed)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    # Float features: the model signature then accepts missing values and integer inputs.
    x_train, y_train = train[list(FEATURES)].astype(np.float64), train[LABEL]
    x_test, y_test = test[list(FEATURES)].astype(np.float64), test[LABEL]
    step_info: dict[str, str] = {}
    values = hyperparameters(args)
    try:
        # Eight features: BLAS threads would only spin and contend with parallel steps.
        with (
            threadpool_limits(limits=1),
            mlflow.start_run(
                run_name=run_name("train"),
                experiment_id=experiment_id(),
                tags={**parent_tags(), **trainctl_tags("train")},
            ) as run,
        ):
            step_info = {"mlflow_run_id": run.info.run_id, "experiment_id": run.info.experiment_id}
            model = build_model(values, args.random_seed)
            record = fit(model, x_train, y_train, training_scores=not args.light)
            record.params |= {
                **values,
                "test_size": args.test_size,
                "random_seed": args.random_seed,
                "training_rows": len(train),
                "test_rows": len(test),
            }
            predicted = model.predict(x_test)
            probability = model.predict_proba(x_test)[:, 1]
            record.metrics |= score(y_test, predicted, probability)
            record.write(run.info.run_id)
            if not args.light:
                keep(args, run.info.run_id, model, values, test, x_test, predicted, probability)
    finally:
        if step_info:
            write_step_info(step_info)
    return 0


if __name__ == "__main__":
    sys.exit(main())
