"""The sweep flags of `trainctl job|pipeline` and the request's `sweep` block they make.

    --sweep 'reg_rate=loguniform(0.0001,10)' --sweep 'solver=choice(lbfgs,liblinear)'
    --sampling random --seed 7 --max_trials 16 --max_concurrent_trials 4 --trial_timeout 300

Model families are flags of their own (`--model_type random_forest --n_estimators 200`): fixed
values, like `--reg_rate`. The service checks the whole sweep and names any bad field; here only
the `NAME=KIND(ARGS)` spelling is checked, so a typo fails before anything is sent.
"""

from __future__ import annotations

import argparse
import re
from typing import Any, get_args

from app.domain.search import Sampling
from app.domain.spec import (
    DEFAULT_MAX_CONCURRENT_TRIALS,
    DEFAULT_MAX_TRIALS,
    DEFAULT_SAMPLING,
    FAMILY_DEFAULTS,
    MAX_TRIALS,
    Goal,
    Metric,
    ModelType,
    Objective,
)

Json = dict[str, Any]
KINDS = ("choice", "uniform", "loguniform", "randint")
_SPEC = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*([a-z]+)\s*\((.*)\)\s*$")
#: Request field -> the flag that sets it, so a 422 names what the user typed.
SWEEP_FIELDS = {
    "sweep": "--sweep",
    "sweep.search_space": "--sweep",
    "sweep.sampling": "--sampling",
    "sweep.seed": "--seed",
    "sweep.max_trials": "--max_trials",
    "sweep.max_concurrent_trials": "--max_concurrent_trials",
    "sweep.objective.metric": "--objective",
    "sweep.objective.goal": "--goal",
    "sweep.trial_timeout_s": "--trial_timeout",
    "hyperparameters.model_type": "--model_type",
    "hyperparameters.n_estimators": "--n_estimators",
    "hyperparameters.max_depth": "--max_depth",
    "hyperparameters.min_samples_leaf": "--min_samples_leaf",
    "hyperparameters.learning_rate": "--learning_rate",
}
#: Flags that only mean something with --sweep.
SWEEP_ONLY = ("sampling", "seed", "max_trials", "max_concurrent_trials", "objective", "goal", "trial_timeout")


def _value(text: str) -> str | int | float:
    text = text.strip().strip("'\"")
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text


def distribution(text: str) -> tuple[str, Json]:
    """``NAME=KIND(ARGS)`` as (name, the request's distribution)."""
    found = _SPEC.match(text)
    if not found:
        raise argparse.ArgumentTypeError(
            f"expected NAME=KIND(ARGS), e.g. reg_rate=loguniform(0.0001,10); got {text!r}"
        )
    name, kind, raw = found.groups()
    if kind not in KINDS:
        raise argparse.ArgumentTypeError(f"{kind!r} is not one of {', '.join(KINDS)}")
    values = [_value(part) for part in raw.split(",") if part.strip()]
    if kind == "choice":
        return name, {"choice": values}
    if len(values) != 2 or not all(isinstance(v, int | float) for v in values):
        raise argparse.ArgumentTypeError(f"{kind} takes two numbers, lo and hi: {kind}(lo,hi); got {text!r}")
    return name, {kind: values}


def add_flags(parser: argparse.ArgumentParser, flag: Any) -> None:
    """The family and sweep flags; ``flag`` adds a flag with its dashed spelling too."""
    family = parser.add_argument_group("model families (fixed hyper-parameters)")
    flag(family, "model_type", choices=get_args(ModelType), help="default logistic_regression")
    for name, help_text in (
        ("n_estimators", "random_forest, gradient_boosting"),
        ("max_depth", "random_forest (default: no limit), gradient_boosting"),
        ("min_samples_leaf", "random_forest"),
    ):
        flag(family, name, type=int, help=f"{help_text}{_defaults(name)}")
    flag(family, "learning_rate", type=float, help=f"gradient_boosting{_defaults('learning_rate')}")
    sweep = parser.add_argument_group("sweep: many candidates, the best goes on")
    sweep.add_argument(
        "--sweep",
        dest="sweep",
        type=distribution,
        action="append",
        default=[],
        metavar="NAME=KIND(ARGS)",
        help=f"repeatable; KIND one of {', '.join(KINDS)}, e.g. 'reg_rate=loguniform(0.0001,10)', "
        "'model_type=choice(logistic_regression,random_forest)'",
    )
    flag(sweep, "sampling", choices=get_args(Sampling), help=f"default {DEFAULT_SAMPLING}")
    flag(sweep, "seed", type=int, help="random: the same seed draws the same trials")
    flag(sweep, "max_trials", type=int, help=f"at most {MAX_TRIALS} (default {DEFAULT_MAX_TRIALS})")
    flag(sweep, "max_concurrent_trials", type=int, help=f"default {DEFAULT_MAX_CONCURRENT_TRIALS}")
    flag(
        sweep,
        "objective",
        choices=get_args(Metric),
        help=f"the metric trials are ranked by (default {Objective().metric})",
    )
    flag(sweep, "goal", choices=get_args(Goal), help=f"default {Objective().goal}")
    flag(sweep, "trial_timeout", type=float, help="seconds; a trial running longer fails")


def _defaults(name: str) -> str:
    found = [
        f"{family} {values[name]}"
        for family, values in FAMILY_DEFAULTS.items()
        if values.get(name) is not None
    ]
    return f" (default: {', '.join(found)})" if found else ""


def check(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if not args.sweep:
        given = [f"--{name}" for name in SWEEP_ONLY if getattr(args, name, None) is not None]
        if given:
            parser.error(f"{', '.join(given)} only apply with --sweep")


def sweep_body(args: argparse.Namespace) -> Json | None:
    if not args.sweep:
        return None
    body: Json = {"search_space": dict(args.sweep)}
    for key, value in (
        ("sampling", args.sampling),
        ("seed", args.seed),
        ("max_trials", args.max_trials),
        ("max_concurrent_trials", args.max_concurrent_trials),
        ("trial_timeout_s", args.trial_timeout),
    ):
        if value is not None:
            body[key] = value
    objective = {k: v for k, v in (("metric", args.objective), ("goal", args.goal)) if v is not None}
    if objective:
        body["objective"] = objective
    return body


def family_values(args: argparse.Namespace) -> Json:
    """The fixed family hyper-parameters given on the command line."""
    names = ("model_type", "n_estimators", "max_depth", "min_samples_leaf", "learning_rate")
    return {name: getattr(args, name) for name in names if getattr(args, name, None) is not None}
