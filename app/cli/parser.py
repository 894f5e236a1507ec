"""The argument parser: the original Azure ML scripts' flags plus the service's commands."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from app.cli import sweeps
from app.domain.spec import (
    DEFAULT_DATA_ASSET,
    DEFAULT_EXPERIMENT,
    DEFAULT_MODEL,
    LATEST,
    Hyperparameters,
    PromotionRule,
)
from app.domain.status import RunStatus
from app.domain.steps import PIPELINE_STEPS

RUN_STATUSES = tuple(status.value for status in RunStatus)
HYPER = Hyperparameters()
RULE = PromotionRule()

# Request field -> the flag that sets it, so a 422 names what the user typed.
SUBMIT_FIELDS = {
    "experiment_name": "--experiment_name",
    "environment": "--environment_name",
    "model_name": "--model_name",
    "compute": "--compute_name",
    "data_asset": "--data_asset_name/--data_asset_version",
    "data_asset.name": "--data_asset_name",
    "data_asset.version": "--data_asset_version",
    "hyperparameters.reg_rate": "--reg_rate",
    "hyperparameters.solver": "--solver",
    "pipeline_name": "--pipeline",
    "promotion.metric": "--promotion_metric",
    "promotion.min_improvement": "--min_improvement",
    "tags": "--tag",
    "Idempotency-Key": "--idempotency-key",
}
LIST_FIELDS = {
    "status": "--status",
    "experiment_name": "--experiment",
    "model_name": "--model",
    "limit": "--limit",
}
UPLOAD_FIELDS = {"name": "--name", "file": "FILE", "description": "--description"}


def _tag(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def _flag(group: Any, name: str, **kwargs: Any) -> None:
    """`--name` exactly as the original scripts spelled it, plus the dashed spelling."""
    spellings = [f"--{name}"] + ([f"--{name.replace('_', '-')}"] if "_" in name else [])
    group.add_argument(*spellings, dest=name, **kwargs)


def _connection_options() -> argparse.ArgumentParser:
    # SUPPRESS: accepted before or after the subcommand without one hiding the other;
    # unset options fall back to the environment when the connection is made.
    common = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    group = common.add_argument_group("service connection")
    group.add_argument("--url", help="service URL (env TRAINCTL_URL; default http://127.0.0.1:8000)")
    group.add_argument(
        "--api-key", "--api_key", dest="api_key", help="sent as X-API-Key (env TRAINCTL_API_KEY)"
    )
    group.add_argument("--token", help="sent as a bearer token (env TRAINCTL_TOKEN)")
    group.add_argument("--json", action="store_true", help="print the raw JSON answer")
    return common


def _add_submit(sub: Any, common: argparse.ArgumentParser, kind: str) -> None:
    what = "train only" if kind == "job" else "train -> evaluate against the champion -> register if better"
    parser = sub.add_parser(
        kind,
        parents=[common],
        help=f"submit a training {kind} ({what})",
        description=f"Submit a training {kind} ({what}). Accepts the original Azure ML scripts' flags; "
        "unset options take the service's defaults.",
    )
    original = parser.add_argument_group("original script flags (dashed spellings work too)")
    _flag(original, "experiment_name", help=f"MLflow / Azure ML experiment (default {DEFAULT_EXPERIMENT})")
    _flag(original, "environment_name", help="Azure ML environment, NAME@latest or NAME:VERSION")
    _flag(original, "model_name", help=f"registered model name (default {DEFAULT_MODEL})")
    _flag(original, "compute_name", help="compute cluster (used on Azure ML, recorded locally)")
    _flag(original, "data_asset_name", help=f"data asset (default {DEFAULT_DATA_ASSET})")
    _flag(
        original,
        "reg_rate",
        type=float,
        help=f"regularization rate, > 0 (C = 1/reg_rate; default {HYPER.reg_rate})",
    )
    _flag(original, "solver", help=f"LogisticRegression solver (default {HYPER.solver})")
    if kind == "pipeline":
        _flag(original, "pipeline", help="pipeline name (sent as pipeline_name)")
        _flag(
            original,
            "evaluation_output",
            help="accepted for compatibility: it named the evaluate step's output path in the original "
            "script; here the service manages outputs, so it is only recorded in tags['evaluation_output']",
        )
    sweeps.add_flags(parser, _flag)
    more = parser.add_argument_group("run options")
    _flag(more, "data_asset_version", help=f'data asset version (default "{LATEST}")')
    _flag(more, "promotion_metric", help=f"metric the champion comparison uses (default {RULE.metric})")
    _flag(
        more,
        "min_improvement",
        type=float,
        help=f"how much better than the champion to register (default {RULE.min_improvement:g})",
    )
    _flag(more, "force_rerun", action="store_true", default=False, help="re-run steps even when reusable")
    more.add_argument(
        "--tag", dest="tags", type=_tag, action="append", default=[], metavar="KEY=VALUE", help="repeatable"
    )
    more.add_argument(
        "--idempotency-key",
        "--idempotency_key",
        dest="idempotency_key",
        help="same key + same request returns the same run",
    )
    more.add_argument(
        "--wait", action="store_true", help="follow the steps live, then print metrics and decision"
    )
    more.add_argument(
        "--local",
        action="store_true",
        help="no service needed: run the service in this process for this one run (implies --wait)",
    )
    more.add_argument(
        "--data-dir",
        "--data_dir",
        dest="data_dir",
        type=Path,
        help="with --local: the data directory (env TRAINCTL_DATA_DIR; default ./.trainctl)",
    )
    parser.set_defaults(field_flags=SUBMIT_FIELDS | sweeps.SWEEP_FIELDS)


def _add_runs(sub: Any, common: argparse.ArgumentParser) -> None:
    runs = sub.add_parser("runs", help="list, inspect, wait for and cancel runs").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    listing = runs.add_parser("list", parents=[common], help="runs, newest first")
    listing.add_argument("--status", choices=RUN_STATUSES)
    listing.add_argument("--experiment", help="experiment name")
    listing.add_argument("--model", help="model name")
    listing.add_argument("--limit", type=int, default=20, help="at most this many (default 20, max 200)")
    listing.add_argument("--cursor", help="next_cursor from the previous page")
    listing.set_defaults(field_flags=LIST_FIELDS)
    for action, text in (
        ("show", "status, steps and timings of one run"),
        ("cancel", "cancel a queued or running run"),
        ("outcome", "the promotion decision of a finished pipeline"),
        ("metrics", "metrics per step (and per trial of a sweep)"),
        ("trials", "a sweep's trials, best first"),
    ):
        runs.add_parser(action, parents=[common], help=text).add_argument("run_id", metavar="ID")
    wait = runs.add_parser("wait", parents=[common], help="follow a run until it ends, then summarize it")
    wait.add_argument("run_id", metavar="ID")
    wait.add_argument("--timeout", type=float, help="give up after this many seconds (default: never)")
    logs = runs.add_parser("logs", parents=[common], help="a step's log")
    logs.add_argument("run_id", metavar="ID")
    logs.add_argument(
        "--step",
        default=PIPELINE_STEPS[0].value,
        help=f"one of {', '.join(PIPELINE_STEPS)} (default: the first)",
    )


def build_parser() -> argparse.ArgumentParser:
    common = _connection_options()
    parser = argparse.ArgumentParser(
        prog="trainctl",
        parents=[common],
        description="Train the diabetes classifier as a job or a pipeline, on this machine or on Azure ML, "
        "through the trainctl service.",
        epilog="Exit codes: 0 run completed (or command succeeded), 1 run failed or canceled, "
        "2 bad input (HTTP 4xx), 3 service unreachable.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the API (uvicorn; --workers N for more processes)")
    serve.add_argument("--host", help="bind address (env TRAINCTL_HOST; default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (env TRAINCTL_PORT; default 8000)")
    serve.add_argument(
        "--data-dir",
        "--data_dir",
        dest="data_dir",
        type=Path,
        help="data directory (env TRAINCTL_DATA_DIR; default ./.trainctl)",
    )
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        help="API worker processes on one port (default 1); one of them drives the runs",
    )

    _add_submit(sub, common, "job")
    _add_submit(sub, common, "pipeline")
    _add_runs(sub, common)

    models = sub.add_parser("models", help="registered models").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    models.add_parser("show", parents=[common], help="versions, champion and champion history").add_argument(
        "name"
    )

    data = sub.add_parser("data", help="data assets").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    upload = data.add_parser("upload", parents=[common], help="upload a CSV as a new data asset version")
    upload.add_argument("file", type=Path, metavar="FILE")
    upload.add_argument("--name", required=True, help="data asset name")
    upload.add_argument("--description")
    upload.set_defaults(field_flags=UPLOAD_FIELDS)
    data.add_parser("list", parents=[common], help="data assets and their versions")

    doctor = sub.add_parser(
        "doctor", parents=[common], help="check that the service and its backend are ready"
    )
    doctor.add_argument(
        "--direct",
        action="store_true",
        help="check the backend from this process (Azure ML pre-flight, or the local engine) "
        "without a running service",
    )
    doctor.add_argument(
        "--data-dir", "--data_dir", dest="data_dir", type=Path, help="with --direct, local backend"
    )
    doctor.add_argument(
        "--compute_name",
        "--compute-name",
        dest="compute_name",
        help="with --direct or --smoke on Azure ML: the compute cluster to check (and run the smoke job on)",
    )
    doctor.add_argument(
        "--smoke",
        action="store_true",
        help="from this process: run a tiny real job on the configured Azure ML workspace, read its "
        "metrics back, check the identity may write what the service writes",
    )
    doctor.add_argument(
        "--data_asset_name",
        "--data-asset-name",
        dest="data_asset_name",
        help=f"with --smoke: the data asset runs use, checked to exist (default {DEFAULT_DATA_ASSET})",
    )
    doctor.add_argument(
        "--timeout",
        type=float,
        default=1800.0,
        help="with --smoke: seconds to wait for the smoke job (default 1800: a first job builds the "
        "environment's image)",
    )
    return parser


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command in ("job", "pipeline"):
        if args.local and getattr(args, "url", None):
            parser.error("--local runs the service in this process: drop --url")
        if args.data_dir is not None and not args.local:
            parser.error("--data-dir applies to --local only (a running service has its own)")
        sweeps.check(parser, args)
    return args
