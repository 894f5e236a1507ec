"""Register the candidate and make it champion when the evaluate step said deploy.

Runs unchanged as an Azure ML command component and under trainctl's local engine, which
calls `main(argv)` in a forked worker: nothing here may do work at import time.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import mlflow
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.models import Model

CHAMPION_ALIAS = "champion"
CHAMPION_TAG = "champion"
RUN_TAG = "trainctl.run_id"
MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$")
DECISION_KEYS = ("model_name", "candidate_metrics", "champion", "deploy", "reason")


class DataError(Exception):
    """Input the step cannot use; reported as one line and exit code 2."""


class StaleDecision(Exception):
    """The evaluation was made against a champion that is no longer the champion."""


def _model_name(text: str) -> str:
    if not MODEL_NAME.match(text):
        raise argparse.ArgumentTypeError(f"invalid model name {text!r}")
    return text


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="register.py", description=__doc__)
    parser.add_argument("--model_input", type=Path, required=True, help="MLflow model folder")
    parser.add_argument("--evaluation_output", type=Path, required=True, help="evaluate's folder")
    parser.add_argument("--model_name", type=_model_name, required=True)
    parser.add_argument("--data_asset", required=True, help="name:version, for lineage")
    parser.add_argument("--register_output", type=Path, required=True)
    return parser


def read_decision(folder: Path, model_name: str) -> dict[str, Any]:
    path = folder / "decision.json"
    try:
        decision: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError:
        raise DataError(f"decision not found: {path}") from None
    except json.JSONDecodeError as exc:
        raise DataError(f"decision is not valid JSON: {path}: {exc}") from None
    missing = [k for k in DECISION_KEYS if not isinstance(decision, dict) or k not in decision]
    if missing:
        raise DataError(f"decision lacks keys: {', '.join(missing)}")
    if decision["model_name"] != model_name:
        raise DataError(f"decision is for model {decision['model_name']!r}, not {model_name!r}")
    return decision


def versions(client: MlflowClient, name: str) -> list[ModelVersion]:
    # Filtering tags client-side: registries differ in which tag filters they support.
    return list(client.search_model_versions(f"name='{name}'"))


def lineage_tags(args: argparse.Namespace, decision: dict[str, Any], run_id: str) -> dict[str, str]:
    tags = {"data_asset": args.data_asset, "trainctl.register_mlflow_run_id": run_id}
    if trainctl_run := os.environ.get("TRAINCTL_RUN_ID"):
        tags[RUN_TAG] = trainctl_run
    tags |= {f"metric.{k}": repr(float(v)) for k, v in decision["candidate_metrics"].items()}
    if rule := decision.get("rule"):
        tags["trainctl.promotion_rule"] = f"{rule['metric']}, min_improvement {rule['min_improvement']}"
    metadata = Model.load(str(args.model_input)).metadata or {}
    if train_run := metadata.get("trainctl.train_mlflow_run_id"):
        tags["trainctl.train_mlflow_run_id"] = str(train_run)
    tags |= model_lineage(metadata)
    evaluate_info = args.evaluation_output / "mlflow_run.json"
    if evaluate_info.is_file():
        tags["trainctl.evaluate_mlflow_run_id"] = json.loads(evaluate_info.read_text())["mlflow_run_id"]
    return tags


def model_lineage(metadata: dict[str, Any]) -> dict[str, str]:
    """The family and every hyper-parameter train recorded in the model (models trained before
    families existed record none)."""
    tags = {}
    if family := metadata.get("trainctl.model_type"):
        tags["model_type"] = str(family)
    try:
        values = json.loads(metadata.get("trainctl.hyperparameters") or "{}")
    except (TypeError, ValueError):
        values = {}
    if isinstance(values, dict):
        tags |= {f"hyperparameter.{k}": str(v) for k, v in values.items() if k != "model_type"}
    return tags


def mark_champion(client: MlflowClient, name: str, version: str) -> None:
    """Point the alias (the source of truth) and then the tag at `version`.

    The version is registered by now: a registry that refuses part of this (Azure ML's MLflow
    registry documents tags, not aliases, and may refuse deleting a tag) gets a warning, not a
    failed step that would report a registered model as never registered. Without the alias,
    the champion is the newest version tagged champion=true, which a stale tag on an older
    version does not change.
    """
    try:
        client.set_registered_model_alias(name, CHAMPION_ALIAS, version)
    except MlflowException as exc:
        print(f"warning: champion alias not set ({exc.error_code}); using the tag only", file=sys.stderr)
    client.set_model_version_tag(name, version, CHAMPION_TAG, "true")
    for other in versions(client, name):
        if str(other.version) != version and other.tags.get(CHAMPION_TAG) == "true":
            try:
                client.delete_model_version_tag(name, other.version, CHAMPION_TAG)
            except MlflowException as exc:
                print(
                    f"warning: champion tag of version {other.version} not removed ({exc.error_code}); "
                    f"version {version} is the newest tagged champion",
                    file=sys.stderr,
                )


def current_champion_version(client: MlflowClient, name: str) -> str | None:
    """The champion now: the alias, else the newest version tagged champion=true.

    The same lookup as evaluate's (each component's code folder must stand alone on Azure ML).
    """
    try:
        return str(client.get_model_version_by_alias(name, CHAMPION_ALIAS).version)
    except MlflowException:
        pass  # no such model, no alias yet, or a registry without alias support
    tagged = [int(v.version) for v in versions(client, name) if v.tags.get(CHAMPION_TAG) == "true"]
    return str(max(tagged)) if tagged else None


def stale_reason(client: MlflowClient, name: str, decision: dict[str, Any]) -> str | None:
    """Why the decision no longer holds, if the champion changed since it was made (another
    pipeline promoted a model in between): promoting now could replace a better model."""
    evaluated = (decision.get("champion") or {}).get("version")
    now = current_champion_version(client, name)
    if now == (None if evaluated is None else str(evaluated)):
        return None
    was = f"v{evaluated}" if evaluated is not None else "none"
    return (
        f"not promoted: the champion changed from {was} to v{now} after this candidate was evaluated; "
        "run the pipeline again to compare against the new champion"
    )


def promote(args: argparse.Namespace, decision: dict[str, Any], run_id: str) -> tuple[str, str]:
    """Register (once per trainctl run) and mark champion; return (version, reason)."""
    client = MlflowClient()
    trainctl_run = os.environ.get("TRAINCTL_RUN_ID")
    earlier = [
        v for v in versions(client, args.model_name) if trainctl_run and v.tags.get(RUN_TAG) == trainctl_run
    ]
    reason = str(decision["reason"])
    if earlier:
        version = str(max(int(v.version) for v in earlier))
        reason += f"; version {version} was already registered by run {trainctl_run}, not again"
    elif stale := stale_reason(client, args.model_name, decision):
        raise StaleDecision(stale)
    else:
        # Copying the folder into this run keeps the exact files of the evaluated model and
        # registers from run artifacts, which both a local store and Azure ML accept.
        mlflow.log_artifacts(str(args.model_input), artifact_path="model")
        tags = lineage_tags(args, decision, run_id)
        created = mlflow.register_model(f"runs:/{run_id}/model", args.model_name, tags=tags)
        version = str(created.version)
    mark_champion(client, args.model_name, version)
    return version, reason


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
    try:
        decision = read_decision(args.evaluation_output, args.model_name)
        if decision["deploy"] and not (args.model_input / "MLmodel").is_file():
            raise DataError(f"not an MLflow model folder: {args.model_input}")
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    step_info: dict[str, str] = {}
    try:
        with mlflow.start_run(run_name=run_name("register")) as run:
            step_info = {"mlflow_run_id": run.info.run_id, "experiment_id": run.info.experiment_id}
            mlflow.set_tags(trainctl_tags("register"))
            mlflow.log_params({"model_name": args.model_name, "data_asset": args.data_asset})
            before = decision["champion"]
            info: dict[str, Any] = {
                "registered": False,
                "name": args.model_name,
                "version": None,
                "reason": str(decision["reason"]),
                "champion_before": before,
                "champion_after": before,
                "metrics": decision["candidate_metrics"],
            }
            if decision["deploy"]:
                try:
                    version, reason = promote(args, decision, run.info.run_id)
                except StaleDecision as stale:
                    now = current_champion_version(MlflowClient(), args.model_name)
                    after = {"name": args.model_name, "version": now, "metrics": {}} if now else None
                    info |= {"reason": str(stale), "champion_after": after}
                else:
                    after = {
                        "name": args.model_name,
                        "version": version,
                        "metrics": decision["candidate_metrics"],
                    }
                    info |= {
                        "registered": True,
                        "version": version,
                        "reason": reason,
                        "champion_after": after,
                    }
            args.register_output.mkdir(parents=True, exist_ok=True)
            (args.register_output / "model_info.json").write_text(json.dumps(info, indent=2))
            mlflow.log_dict(info, "model_info.json")
            mlflow.set_tag("trainctl.registered_version", info["version"] or "none")
            print(info["reason"])
    finally:
        if step_info:
            write_step_info(step_info)
    return 0


if __name__ == "__main__":
    sys.exit(main())
