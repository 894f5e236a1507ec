"""The fake answers like Azure: for every operation the backend uses, the fake's answer has the
fields, JSON types, status and headers of the real service's recorded answer (values aside).

The recorded facts come from `recorded/shapes.json`, derived from the real sessions in
`../shared/azure-recordings` (or `TRAINCTL_AZURE_RECORDINGS`); where that folder is present,
`test_committed_shapes_match_the_recordings` re-derives them so the committed file cannot drift.
The fake's answers come from one realistic session: pre-flight, pipeline and command job
submission (code upload, components, environment), polls, a reused step, cancel and its
operation result, and the errors on the way.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from backendkit import COMPONENTS, make_settings, make_spec
from fakeaml import FakeCredential, FakeWorkspace, Recorded
from fakeaml.blob_routing import route_blob_clients
from recorded.operations import BY_NAME, ERROR, OPERATIONS, derive, load_shapes
from recorded.recordings import Exchange, load_all, missing_reason, parse_body, recordings_dir
from recorded.shapes import compare

from app.backends.azureml import AzureMLBackend, preflight
from app.domain.errors import BackendError
from app.domain.spec import DataAssetRef

FACTS = load_shapes()


def test_committed_shapes_match_the_recordings() -> None:
    folder = recordings_dir()
    if reason := missing_reason(folder):
        pytest.skip(f"{reason}; the committed recorded/shapes.json is used as is")
    derived = derive(load_all(folder))
    committed = json.loads(Path(__file__).with_name("recorded").joinpath("shapes.json").read_text())
    assert derived == committed, (
        "recorded/shapes.json is stale: run `python -m recorded.operations` in tests/azureml"
    )


def _exchange(recorded: Recorded) -> Exchange:
    return Exchange(
        source="fake",
        method=recorded.method,
        host=recorded.host,
        path=recorded.path,
        query=recorded.query,
        status=recorded.status,
        headers=recorded.response_headers,
        body=parse_body(recorded.response_body.decode() if recorded.response_body else None),
    )


async def _session(workspace: FakeWorkspace, data_dir: Path, components: Path) -> None:
    """Everything the backend asks of Azure ML, once, plus the cancel operation's polls."""
    credential = FakeCredential()
    settings = make_settings(workspace, data_dir)

    def backend() -> AzureMLBackend:  # a new one is a restarted service: no caches
        return AzureMLBackend(
            settings,
            credential=credential,
            transport=workspace.transport,
            mlflow_tracking_uri="http://127.0.0.1:9",
            components_dir=components,
        )

    await preflight(settings, credential=credential, transport=workspace.transport)  # compute list
    await preflight(settings, credential=credential, transport=workspace.transport, compute="cpu-cluster")
    first = backend()
    pipeline = await first.submit(make_spec("pipeline", run_id="shape-pipeline"))
    job = await first.submit(make_spec("job", run_id="shape-job", environment="pinned-env:1"))
    pinned = DataAssetRef(name="diabetes-diagnostics", version="1")  # a pinned data version is read
    await first.submit(make_spec("job", run_id="shape-pinned", data_asset=pinned))
    # an environment you maintain, followed by its label: the newest version is looked up
    await first.submit(make_spec("job", run_id="shape-labelled", environment="pinned-env@latest"))
    with pytest.raises(BackendError):  # the service refuses the experiment name
        await first.submit(
            make_spec("job", run_id="shape-bad").model_copy(update={"experiment_name": "no spaces"})
        )
    workspace.clock.advance(60)
    await first.refresh(make_spec("pipeline", run_id="shape-pipeline"), pipeline.backend_job_name)
    await first.refresh(make_spec("job", run_id="shape-job"), job.backend_job_name)
    # a command job's own run (its start time lives there, not in the ARM job)
    first._ml.jobs._runs_operations.get_run(job.backend_job_name)
    workspace.clock.advance(3600)
    await first.refresh(make_spec("job", run_id="shape-job"), job.backend_job_name)
    # the same pipeline again, unchanged: its deterministic step is reused
    workspace.resubmit(pipeline.backend_job_name, "shape-again")
    workspace.clock.advance(30)
    await first.refresh(make_spec("pipeline", run_id="shape-again"), "shape-again")

    # after a restart, with one component's YAML changed: components are looked up (found),
    # the changed one is registered anew with its code found by hash
    (components / "train" / "train.yml").write_text(
        (components / "train" / "train.yml").read_text().replace("display_name:", "display_name: Changed", 1)
    )
    restarted = backend()
    running = await restarted.submit(make_spec("pipeline", run_id="shape-cancel"))
    workspace.clock.advance(40)
    poller = restarted._ml.jobs.begin_cancel(running.backend_job_name, polling=False)
    location = poller.polling_method()._initial_response.http_response.headers["Location"]
    session = workspace.transport.session
    session.get(location)  # still canceling: 202
    workspace.clock.advance(10)
    session.get(location)  # canceled: 200, no body


@pytest.fixture(scope="module")
def fake_answers() -> list[Exchange]:
    workspace = FakeWorkspace()
    workspace.add_data_asset("diabetes-diagnostics", "1")
    workspace.add_data_asset("diabetes-diagnostics", "2")
    workspace.add_environment("pinned-env", "1")
    with pytest.MonkeyPatch.context() as patch, tempfile.TemporaryDirectory() as scratch:
        route_blob_clients(patch, workspace.transport)
        components = Path(scratch) / "components"
        shutil.copytree(COMPONENTS, components, ignore=shutil.ignore_patterns("__pycache__"))
        asyncio.run(_session(workspace, Path(scratch) / "data", components))
    assert workspace.unrouted == []
    return [_exchange(r) for r in workspace.transport.log]


def _problems(op_name: str, answers: list[Exchange]) -> tuple[list[str], int]:
    op = BY_NAME[op_name]
    facts = FACTS[op.like or op.name]
    shape = facts["body"]["keys"]["value"]["items"] if op.like_items else facts["body"]
    if op.name == ERROR:
        mine = [a for a in answers if a.kind == "arm" and a.status >= 400]
    else:
        mine = [a for a in answers if op.matches(a)]
    problems: list[str] = []
    for answer in mine:
        where = f"{answer.method} {answer.rest or answer.path} -> {answer.status}"
        if op.like is None and answer.status not in facts["statuses"]:
            problems.append(f"{where}: status, the service answers {facts['statuses']}")
        for header, expected in facts["headers"].items():
            value = answer.header(header)
            if expected is False and value is not None:
                problems.append(f"{where}: header {header}, the service never sends it")
            elif expected is True and value is None and op.like is None:
                problems.append(f"{where}: no {header} header, the service always sends it")
            elif isinstance(expected, str) and value != expected:
                problems.append(f"{where}: {header} is {value!r}, the service sends {expected!r}")
        bodies: list[Any] = (
            answer.body.get("value", []) if op.items and isinstance(answer.body, dict) else [answer.body]
        )
        for body in bodies:
            problems += [f"{where}: {p}" for p in compare(body, shape)]
    return problems, len(mine)


@pytest.mark.parametrize("op_name", [op.name for op in OPERATIONS])
def test_the_fake_answers_each_operation_like_the_service(op_name: str, fake_answers: list[Exchange]) -> None:
    problems, seen = _problems(op_name, fake_answers)
    assert seen, f"the session never exercised {op_name}: extend _session"
    assert not problems, "\n".join(problems)


def test_every_operation_the_backend_uses_is_compared(fake_answers: list[Exchange]) -> None:
    """No answer of the fake escapes comparison: each one belongs to some recorded operation."""
    uncompared = {
        f"{a.method} {a.kind} {a.rest or a.path} -> {a.status}"
        for a in fake_answers
        if not any(op.matches(a) for op in OPERATIONS) and not (a.kind == "arm" and a.status >= 400)
    }
    assert uncompared == set()
