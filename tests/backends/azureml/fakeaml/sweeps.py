"""Sweeps in the fake workspace: a pipeline's sweep node, or a sweep job, with child trials.

Shaped after the recorded sweep-in-pipeline PUT (``../shared/azure-recordings/11``: a node of
``type: sweep`` with ``limits``, ``sampling_algorithm``, ``objective``, ``search_space`` and
``trial.componentId``) and after what azure-ai-ml reads back: a sweep run names its best trial
in the ``best_child_run_id`` property (``MLClient.jobs.download`` relies on it). Trials are the
sweep run's children in run history, named ``<sweep run>_<n>`` from 0, at most
``max_concurrent_trials`` at a time within the sweep's Running phase; the sweep completes when
its phases do. Tests pick failing trials (``workspace.failing_trials``) and the best one
(``workspace.best_trial``, else the first that does not fail).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from .jobs import CANCEL_SECONDS, FINAL, FakeJob, Step, iso

if TYPE_CHECKING:
    from .workspace import FakeWorkspace

TRIALS_FROM, TRIALS_UNTIL = 30.0, 90.0  # the sweep's Running phase (see jobs.STEP_PHASES)
PROVIDER = "Microsoft.MachineLearningServices"


@dataclass
class FakeSweep:
    name: str  # the sweep's run: a pipeline's child, or the sweep job itself
    job: FakeJob
    step: Step | None  # None for a sweep job
    node: dict[str, Any]  # the sweep node (pipeline) or the job's properties (sweep job)
    total: int
    concurrent: int
    failing: set[int] = field(default_factory=set)
    best: int | None = None

    # -- timeline ------------------------------------------------------------------------
    def _start(self) -> datetime:
        offset = self.step.start_offset if self.step is not None else 0.0
        return self.job.created + timedelta(seconds=offset)

    def status(self, now: datetime) -> str:
        if self.step is not None:
            return self.job.step_status(self.step, now)[0]
        return self.job.status(now)

    def _slot(self) -> float:
        return (TRIALS_UNTIL - TRIALS_FROM) / math.ceil(self.total / self.concurrent)

    def trial(self, index: int, now: datetime) -> tuple[str, datetime, datetime | None] | None:
        """(status, started, ended) of trial ``index``, None when it does not exist yet."""
        slot = self._slot()
        begin = TRIALS_FROM + (index // self.concurrent) * slot
        started = self._start() + timedelta(seconds=begin)
        elapsed = (now - self._start()).total_seconds()
        cut = self.job._cancel_cut()
        if cut is not None:
            cut -= self.step.start_offset if self.step is not None else 0.0
        if elapsed < begin or (cut is not None and cut < begin):
            return None
        end = begin + slot
        if cut is not None and cut < end:
            if elapsed >= cut + CANCEL_SECONDS:
                return "Canceled", started, self._start() + timedelta(seconds=cut + CANCEL_SECONDS)
            return "CancelRequested", started, None
        if elapsed < end:
            return "Running", started, None
        return (
            ("Failed" if index in self.failing else "Completed"),
            started,
            started + timedelta(seconds=slot),
        )

    def best_trial(self) -> str:
        index = self.best if self.best is not None else min(set(range(self.total)) - self.failing)
        return f"{self.name}_{index}"

    # -- what run history and ARM answer ------------------------------------------------------
    def properties(self, now: datetime) -> dict[str, str]:
        if self.status(now) != "Completed":
            return {}
        return {"best_child_run_id": self.best_trial(), "score": "0.9", "best_metric_status": "Succeeded"}

    def children(self, now: datetime) -> list[dict[str, Any]]:
        runs = []
        for index in range(self.total):
            found = self.trial(index, now)
            if found is None:
                continue
            status, started, ended = found
            runs.append(
                {
                    "runId": f"{self.name}_{index}",
                    "parentRunId": self.name,
                    "rootRunId": self.job.name,
                    "experimentId": self.job.experiment_id,
                    "displayName": f"{self.name}_{index}",
                    "name": f"{self.name}_{index}",
                    "status": status,
                    "runType": "azureml.StepRun" if self.step is None else "hyperdrive",
                    "createdUtc": iso(started),
                    "startTimeUtc": iso(started),
                    "endTimeUtc": iso(ended),
                    "lastModifiedUtc": iso(ended or now),
                    "tags": {},
                    "properties": {},
                    "services": {},
                }
            )
        return runs

    def arm_body(self, scope: str, now: datetime) -> dict[str, Any]:
        """The sweep node's run as ARM's jobs GET shows it: a Sweep job."""
        node = self.node
        sampling = node.get("sampling_algorithm")
        kind = sampling.get("type", "random") if isinstance(sampling, dict) else str(sampling or "random")
        objective = node.get("objective") or {}
        space = {
            name: [
                dist["type"],
                [dist["values"]] if "values" in dist else [dist["min_value"], dist["max_value"]],
            ]
            for name, dist in (node.get("search_space") or {}).items()
        }
        return {
            "id": f"{scope}/jobs/{self.name}",
            "name": self.name,
            "type": f"{PROVIDER}/workspaces/jobs",
            "properties": {
                "jobType": "Sweep",
                "displayName": node.get("display_name") or node.get("name"),
                "experimentName": self.job.experiment_name,
                "status": self.status(now),
                "properties": self.properties(now),
                "trial": {
                    "command": "python train.py",
                    "environmentId": f"{scope}/environments/trial/versions/1",
                },
                "objective": {
                    "goal": objective.get("goal"),
                    "primaryMetric": objective.get("primary_metric"),
                },
                "samplingAlgorithm": {"samplingAlgorithmType": kind.capitalize()},
                "searchSpace": space,
                "limits": {"jobLimitsType": "Sweep", "maxTotalTrials": self.total},
            },
        }


class SweepRegistry:
    def __init__(self, workspace: FakeWorkspace) -> None:
        self.ws = workspace
        self.sweeps: dict[str, FakeSweep] = {}

    def created(self, job: FakeJob) -> None:
        """A job was just created: register its sweep node(s), or itself if a sweep job."""
        props = job.body.get("properties", {})
        if props.get("jobType") == "Sweep":
            limits = props.get("limits") or {}
            sweep = self._sweep(
                job.name, job, None, props, limits.get("maxTotalTrials"), limits.get("maxConcurrentTrials")
            )
            job.command_fails = len(sweep.failing) == sweep.total  # a sweep fails when every trial does
            return
        nodes = props.get("jobs") or {}
        for step in job.steps:
            node = nodes.get(step.key) or {}
            if node.get("type") == "sweep":
                limits = node.get("limits") or {}
                sweep = self._sweep(
                    step.name,
                    job,
                    step,
                    node,
                    limits.get("max_total_trials"),
                    limits.get("max_concurrent_trials"),
                )
                step.fails = step.fails or len(sweep.failing) == sweep.total

    def _sweep(
        self, name: str, job: FakeJob, step: Step | None, node: dict[str, Any], total: Any, concurrent: Any
    ) -> FakeSweep:
        count = int(total or 1)
        sweep = FakeSweep(
            name=name,
            job=job,
            step=step,
            node=node,
            total=count,
            concurrent=max(1, int(concurrent or count)),
            failing={i for i in self.ws.failing_trials if i < count},
            best=self.ws.best_trial,
        )
        self.sweeps[name] = sweep
        return sweep

    def get(self, name: str) -> FakeSweep | None:
        return self.sweeps.get(name)

    def decorate(self, runs: list[dict[str, Any]], now: datetime) -> list[dict[str, Any]]:
        """A pipeline's children as run history lists them: a sweep node's run names its best."""
        for run in runs:
            sweep = self.sweeps.get(run["runId"])
            if sweep is not None:
                run["properties"] = {**run["properties"], **sweep.properties(now)}
                run["runType"] = "hyperdrive"
        return runs

    def final(self, name: str, now: datetime) -> bool:
        sweep = self.sweeps.get(name)
        return sweep is not None and sweep.status(now) in FINAL
