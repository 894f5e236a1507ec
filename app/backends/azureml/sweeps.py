"""A sweep on Azure ML: the train step's ``.sweep(...)`` (a sweep node in the pipeline, or a
sweep job for a job), and its trials read back.

Azure ML draws the trials itself from the search space. Its distributions are the request's,
with two translations: ``loguniform`` takes the logs of its bounds, and ``randint`` only counts
from 0, so another lower bound becomes a ``choice`` of the whole numbers in range. Its search
spaces are flat: every trial gets every swept input, and the train component ignores the
hyper-parameters of other families. A grid therefore spans every combination of the choices
(trials that differ only in another family's values repeat a candidate, which the local engine
runs once).

Trials are the sweep's child runs, named ``<sweep run>_<n>``; the sweep run names its best one
in the ``best_child_run_id`` property (what ``MLClient.jobs.download`` reads too). Their
hyper-parameters and scores are what train logged to MLflow, read when they are asked for.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from app.domain.errors import BackendError
from app.domain.pipeline import SweepPlan, trial_name
from app.domain.search import Distribution
from app.domain.spec import SweepOptions
from app.domain.state import TrialState
from app.domain.steps import StepName

from .mlflow_reader import MlflowReader, _is_missing
from .tracking import FINAL_RAW, parse_time, raw_status

BEST_CHILD = "best_child_run_id"
#: The most combinations a grid may span on Azure ML (its own limit on a sweep's trials).
AZURE_MAX_TRIALS = 1000
_INDEX = re.compile(r"_(\d+)$")


def distribution(dist: Distribution) -> Any:
    from azure.ai.ml.sweep import Choice, LogUniform, Randint, Uniform

    if dist.choice is not None:
        return Choice(values=list(dist.choice))
    if dist.randint is not None:
        first, end = dist.randint
        return Randint(upper=end) if first == 0 else Choice(values=list(range(first, end)))
    lo, hi = dist.bounds
    if dist.kind == "loguniform":
        return LogUniform(min_value=math.log(lo), max_value=math.log(hi))
    return Uniform(min_value=lo, max_value=hi)


def search_space(options: SweepOptions) -> dict[str, Any]:
    """The swept inputs, as the trial component's inputs take them."""
    return {name: distribution(dist) for name, dist in options.search_space.items()}


def total_trials(options: SweepOptions) -> int:
    if options.sampling != "grid":
        return options.max_trials
    combinations = math.prod(len(d.choice or []) for d in options.search_space.values())
    if combinations > AZURE_MAX_TRIALS:
        raise BackendError(
            f"this grid spans {combinations} combinations on Azure ML, whose sweeps have no per-family "
            f"search spaces (at most {AZURE_MAX_TRIALS}); sweep fewer values, or use random sampling"
        )
    return max(combinations, options.max_trials)


def sampling(options: SweepOptions) -> Any:
    from azure.ai.ml.sweep import RandomSamplingAlgorithm

    if options.sampling == "random" and options.seed is not None:
        return RandomSamplingAlgorithm(seed=options.seed)
    return options.sampling


def make_sweep(node: Any, plan: SweepPlan, compute: str | None) -> Any:
    """``node`` (a command node or job whose swept inputs hold distributions) as a sweep."""
    options = plan.options
    sweep = node.sweep(
        primary_metric=options.objective.metric,  # train logs each test metric under its plain name
        goal=options.objective.goal,
        sampling_algorithm=sampling(options),
        compute=compute,
        max_total_trials=total_trials(options),
        max_concurrent_trials=options.max_concurrent_trials,
        trial_timeout=math.ceil(options.trial_timeout_s) if options.trial_timeout_s else None,
    )
    return sweep


def trial_states(
    children: list[Any], best_child: str | None, *, total: int, step: str = StepName.TRAIN
) -> list[TrialState]:
    """A sweep run's child runs as trials, in the order Azure ML numbered them (``total``, the
    most there can be, fixes the width of the trial numbers)."""
    numbered = sorted((c for c in children if c is not None), key=lambda c: _number(str(c.name)))
    trials = []
    for child in numbered:
        status = raw_status(getattr(child, "status", None))
        props = getattr(child, "properties", None) or {}
        started = parse_time(props.get("StartTimeUtc"))
        ended = parse_time(props.get("EndTimeUtc"))
        context = getattr(child, "creation_context", None)
        if started is None and status not in ("NotStarted", "Queued"):
            started = parse_time(getattr(context, "created_at", None))
        if ended is None and status in FINAL_RAW:
            ended = parse_time(getattr(context, "last_modified_at", None))
        trial = TrialState(
            name=trial_name(step, _number(str(child.name)) + 1, total),
            raw_status=status,
            started_at=started,
            ended_at=ended,
            backend_job_name=str(child.name),
            mlflow_run_id=str(child.name),  # an Azure ML run's MLflow run id is its name
            best=str(child.name) == best_child,
        )
        if status == "Failed":
            trial.error = f"trial {child.name} failed; see its logs in Azure ML studio"
        trials.append(trial)
    return trials


def best_child(job: Any) -> str | None:
    props: Mapping[str, Any] = getattr(job, "properties", None) or {}
    value = props.get(BEST_CHILD)
    return str(value) if value else None


async def read_params(reader: MlflowReader, runs: dict[str, str]) -> dict[str, dict[str, str]]:
    """The params each trial's run logged (train logs its family's hyper-parameters)."""

    def read() -> dict[str, dict[str, str]]:
        found: dict[str, dict[str, str]] = {}
        for name, run_id in runs.items():
            try:
                found[name] = dict(reader._client.get_run(run_id).data.params)
            except Exception as error:
                if not _is_missing(error):
                    raise
        return found

    result: dict[str, dict[str, str]] = await reader._run("read params", read)
    return result


def _number(name: str) -> int:
    found = _INDEX.search(name)
    return int(found.group(1)) if found else 0
