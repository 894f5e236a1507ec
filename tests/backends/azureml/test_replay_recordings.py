"""Every recorded job and child-job answer maps without error.

`TRAINCTL_AZURE_RECORDINGS=DIR python -m pytest -m replay` replays each recording in DIR
(default `../shared/azure-recordings`): every job the service answered with (ARM GET or PUT
of `jobs/{name}`) goes through the transport to `AzureMLBackend.refresh`, with the
recording's child-job list when it has one, and every child-job list is mapped as the steps
of a pipeline. The mapping must keep each raw status (one it has never heard of included),
read the reuse markers and start times, and never fail on extra or missing optional fields,
so recordings it has never seen can be dropped in.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import replay_fixtures as rec
from fakeaml import FakeWorkspace
from recorded.recordings import Exchange, load, missing_reason, recordings_dir

from app.backends.azureml import AzureMLBackend
from app.backends.azureml.tracking import parse_time
from app.domain.spec import RunSpec
from app.domain.state import RunState
from app.domain.status import normalize_status

pytestmark = [pytest.mark.anyio, pytest.mark.replay]

FOLDER = recordings_dir()
ABSENT = missing_reason(FOLDER)


def _recordings() -> list[Any]:
    if ABSENT is not None:
        return [pytest.param(None, id="no-recordings", marks=pytest.mark.skip(reason=ABSENT))]
    return [pytest.param(path, id=path.name) for path in sorted(FOLDER.glob("*.json"))]


def _is_job(exchange: Exchange) -> bool:
    body = exchange.body
    return (
        exchange.kind == "arm"
        and re.fullmatch(r"jobs/[^/]+", exchange.rest) is not None
        and exchange.status in (200, 201)
        and isinstance(body, dict)
        and "jobType" in (body.get("properties") or {})
    )


def _child_lists(exchanges: list[Exchange]) -> dict[str, dict[str, Any]]:
    return {
        e.rest.split("/")[1]: e.body
        for e in exchanges
        if e.kind == "history"
        and e.rest.endswith("/children")
        and e.status == 200
        and isinstance(e.body, dict)
    }


def _check_steps(state: RunState, runs: list[dict[str, Any]], where: str) -> None:
    by_run = {step.backend_job_name: step for step in state.steps}
    for run in runs:
        step = by_run[str(run["runId"])]
        properties = run.get("properties") or {}
        reused = str(properties.get("azureml.isreused", "")).lower() == "true"
        assert step.raw_status == run.get("status"), where
        assert step.status is normalize_status(str(run.get("status")))
        assert step.reused is reused, where
        assert step.mlflow_run_id == (properties.get("azureml.reusedrunid") if reused else run["runId"]), (
            where
        )
        assert step.started_at == parse_time(run.get("startTimeUtc")), where
        if run.get("status") == "Failed":
            assert step.error, where


@pytest.mark.parametrize("path", _recordings())
async def test_every_recorded_job_and_step_maps(
    path: Path, backend: AzureMLBackend, workspace: FakeWorkspace, spec_factory: Callable[..., RunSpec]
) -> None:
    exchanges = load(path)
    jobs = [e for e in exchanges if _is_job(e)]
    lists = _child_lists(exchanges)
    if not jobs and not lists:
        pytest.skip(f"{path.name} records no job or child-job answer")

    for index, exchange in enumerate(jobs):
        name = str(exchange.body["name"])
        props = exchange.body["properties"]
        kind = "pipeline" if props["jobType"] == "Pipeline" else "job"
        runs = lists.get(name, {"value": []})
        workspace.transport.replay("GET", f"/jobs/{name}", rec.answer(exchange.body))
        workspace.transport.replay("GET", f"/runs/{name}/children", rec.answer(runs))
        # a command job's own run is not recorded: the fewest fields it can come with
        workspace.transport.replay(
            "GET", f"/runs/{name}", rec.answer({"runId": name, "status": props["status"]})
        )
        where = f"{path.name} answer {index} ({exchange.method} jobs/{name}, {props['status']})"

        state = await backend.refresh(spec_factory(kind, run_id=name), name)

        assert state.raw_status == props["status"], where
        assert state.status is normalize_status(str(props["status"])), where
        if kind == "pipeline":
            _check_steps(state, runs["value"], where)

    for parent, runs in lists.items():
        if any(str(job.body["name"]) == parent for job in jobs):
            continue
        workspace.transport.replay(
            "GET", f"/jobs/{parent}", rec.answer(rec.pipeline_job(workspace.scope, parent, "Running"))
        )
        workspace.transport.replay("GET", f"/runs/{parent}/children", rec.answer(runs))
        state = await backend.refresh(spec_factory("pipeline", run_id=parent), parent)
        _check_steps(state, runs["value"], f"{path.name} children of {parent}")
