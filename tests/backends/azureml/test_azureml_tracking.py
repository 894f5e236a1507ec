"""Status and steps as the reconciler sees them: every JobStatus value, pipeline progress on the
fake clock, a failing step, and cancel."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta

import pytest
from fakeaml import STEP_SECONDS, FakeClock, FakeWorkspace

from app.backends.azureml import AzureMLBackend
from app.backends.azureml.tracking import parse_time
from app.domain.spec import RunSpec
from app.domain.status import RunStatus, normalize_status
from app.domain.steps import PIPELINE_STEPS
from app.settings import Settings

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True)
def _images_already_built(workspace: FakeWorkspace) -> None:
    """These timelines count steps of STEP_SECONDS: the environment's image is built already
    (the first build's extra Preparing time is covered in test_fake_fidelity.py)."""
    workspace.image_build_seconds = 0


# DESIGN 6: the 13 azure-ai-ml JobStatus values plus REST's Unknown.
JOB_STATUSES = [
    "NotStarted",
    "Queued",
    "Preparing",
    "Provisioning",
    "Starting",
    "Running",
    "CancelRequested",
    "Finalizing",
    "Completed",
    "Failed",
    "Canceled",
    "NotResponding",
    "Paused",
    "Unknown",
]
EXPECTED = {
    "NotStarted": RunStatus.QUEUED,
    "Queued": RunStatus.QUEUED,
    "Preparing": RunStatus.QUEUED,
    "Provisioning": RunStatus.QUEUED,
    "Starting": RunStatus.RUNNING,
    "Running": RunStatus.RUNNING,
    "CancelRequested": RunStatus.RUNNING,
    "Finalizing": RunStatus.RUNNING,
    "Completed": RunStatus.COMPLETED,
    "Failed": RunStatus.FAILED,
    "Canceled": RunStatus.CANCELED,
    "NotResponding": RunStatus.RUNNING,
    "Paused": RunStatus.RUNNING,
    "Unknown": RunStatus.RUNNING,
}


def test_the_list_matches_the_sdk() -> None:
    from azure.ai.ml._restclient.arm_ml_service.models import JobStatus

    assert {status.value for status in JobStatus} == set(JOB_STATUSES)


@pytest.mark.parametrize("raw", JOB_STATUSES)
async def test_every_job_status_maps_and_keeps_the_raw_value(
    backend: AzureMLBackend, workspace: FakeWorkspace, spec_factory: Callable[..., RunSpec], raw: str
) -> None:
    spec = spec_factory("job", run_id=f"status-{raw}")
    submitted = await backend.submit(spec)
    workspace.set_status(submitted.backend_job_name, raw)

    state = await backend.refresh(spec, submitted.backend_job_name)

    assert state.raw_status == raw
    assert state.status is EXPECTED[raw] is normalize_status(raw)
    assert [s.name for s in state.steps] == ["train-model"]
    assert state.steps[0].raw_status == raw
    assert state.steps[0].mlflow_run_id == submitted.backend_job_name
    assert state.studio_url is not None
    assert (state.error is not None) == (raw in ("Failed", "Canceled"))


@pytest.mark.parametrize("raw", JOB_STATUSES)
async def test_every_status_of_a_pipeline_step_maps(
    backend: AzureMLBackend,
    workspace: FakeWorkspace,
    clock: FakeClock,
    spec_factory: Callable[..., RunSpec],
    raw: str,
) -> None:
    spec = spec_factory("pipeline", run_id=f"step-{raw}")
    submitted = await backend.submit(spec)
    clock.advance(STEP_SECONDS + 10)  # train done, evaluate started
    workspace.job(submitted.backend_job_name).steps[1].status_override = raw

    state = await backend.refresh(spec, submitted.backend_job_name)

    evaluate = state.steps[1]
    assert evaluate.name == "evaluate-model"
    assert evaluate.raw_status == raw
    assert evaluate.status is EXPECTED[raw]


async def test_pipeline_steps_follow_the_clock(
    backend: AzureMLBackend, workspace: FakeWorkspace, clock: FakeClock, spec_factory: Callable[..., RunSpec]
) -> None:
    workspace.child_namer = lambda parent, display: f"{parent}-{display}"
    spec = spec_factory("pipeline", run_id="progress")
    submitted = await backend.submit(spec)

    state = await backend.refresh(spec, submitted.backend_job_name)
    assert state.raw_status == "NotStarted"
    assert [(s.name, s.raw_status) for s in state.steps] == [(n, "NotStarted") for n in PIPELINE_STEPS]

    seen: list[list[str]] = []
    for _ in range(8):
        clock.advance(STEP_SECONDS / 2)
        state = await backend.refresh(spec, submitted.backend_job_name)
        seen.append([state.raw_status, *(s.raw_status for s in state.steps)])

    assert seen[0] == ["Running", "Running", "NotStarted", "NotStarted"]
    assert seen[2] == ["Running", "Completed", "Running", "NotStarted"]
    assert seen[-1] == ["Completed", "Completed", "Completed", "Completed"]
    assert state.status is RunStatus.COMPLETED
    for step in state.steps:
        assert step.backend_job_name == f"trainctl-progress-{step.name}"
        assert step.mlflow_run_id == step.backend_job_name  # Azure ML: MLflow run id == job name
        assert step.studio_url is not None
        assert f"/runs/{step.backend_job_name}" in step.studio_url
        assert step.started_at is not None
        assert step.ended_at is not None
        assert step.started_at < step.ended_at
    assert state.started_at is not None
    assert state.ended_at is not None


async def test_a_failed_step_fails_the_run_and_the_rest_never_start(
    backend: AzureMLBackend, workspace: FakeWorkspace, clock: FakeClock, spec_factory: Callable[..., RunSpec]
) -> None:
    workspace.failing_steps = {"evaluate-model"}
    spec = spec_factory("pipeline", run_id="failing")
    submitted = await backend.submit(spec)

    clock.advance(4 * STEP_SECONDS)
    state = await backend.refresh(spec, submitted.backend_job_name)

    assert state.raw_status == "Failed"
    assert state.status is RunStatus.FAILED
    assert [(s.name, s.raw_status) for s in state.steps] == [
        ("train-model", "Completed"),
        ("evaluate-model", "Failed"),
        ("register-model", "NotStarted"),
    ]
    assert state.error is not None
    assert "evaluate-model" in state.error
    # the step run's own error, not a pointer to Studio
    assert state.steps[1].error is not None
    assert "exited with status code 1" in state.steps[1].error
    assert "exited with status code 1" in state.error


async def test_cancel_goes_through_begin_cancel(
    backend: AzureMLBackend, workspace: FakeWorkspace, clock: FakeClock, spec_factory: Callable[..., RunSpec]
) -> None:
    spec = spec_factory("pipeline", run_id="cancel-me")
    submitted = await backend.submit(spec)
    clock.advance(STEP_SECONDS + 40)

    await backend.cancel(spec, submitted.backend_job_name)

    assert len(workspace.transport.requests("POST", f"/jobs/{submitted.backend_job_name}/cancel")) == 1
    state = await backend.refresh(spec, submitted.backend_job_name)
    assert state.raw_status == "CancelRequested"
    assert state.status is RunStatus.RUNNING
    clock.advance(10)
    state = await backend.refresh(spec, submitted.backend_job_name)
    assert state.raw_status == "Canceled"
    assert state.status is RunStatus.CANCELED
    assert [(s.name, s.raw_status) for s in state.steps] == [
        ("train-model", "Completed"),
        ("evaluate-model", "Canceled"),
        ("register-model", "NotStarted"),
    ]
    # cancelling a finished run again is harmless
    await backend.cancel(spec, submitted.backend_job_name)
    assert (await backend.refresh(spec, submitted.backend_job_name)).raw_status == "Canceled"


async def test_cancel_answers_once_azure_accepted_it(
    backend_factory: Callable[..., AzureMLBackend],
    settings: Settings,
    workspace: FakeWorkspace,
    clock: FakeClock,
    spec_factory: Callable[..., RunSpec],
) -> None:
    """The cancel LRO has no Retry-After: waiting on it means ARM's 30 s polling interval,
    past the call limit. The accepted POST is the answer; polls report the rest."""
    backend = backend_factory(settings.model_copy(update={"azure_call_timeout_seconds": 5.0}))
    spec = spec_factory("job", run_id="cancel-fast")
    submitted = await backend.submit(spec)
    clock.advance(40)

    with workspace.transport.recording() as calls:
        started = time.monotonic()
        await backend.cancel(spec, submitted.backend_job_name)
        took = time.monotonic() - started

    assert took < 2
    assert [(c.method, c.path.rsplit("/", 1)[-1], c.status) for c in calls] == [("POST", "cancel", 202)]
    assert (await backend.refresh(spec, submitted.backend_job_name)).raw_status == "CancelRequested"
    clock.advance(10)
    assert (await backend.refresh(spec, submitted.backend_job_name)).status is RunStatus.CANCELED


async def test_command_job_progress_and_times(
    backend: AzureMLBackend, clock: FakeClock, spec_factory: Callable[..., RunSpec]
) -> None:
    spec = spec_factory("job", run_id="timed")
    submitted = await backend.submit(spec)
    clock.advance(STEP_SECONDS + 1)

    state = await backend.refresh(spec, submitted.backend_job_name)

    assert state.raw_status == "Completed"
    assert state.started_at is not None
    assert state.ended_at is not None
    assert state.ended_at > state.started_at


async def test_what_a_poll_costs(
    backend: AzureMLBackend, workspace: FakeWorkspace, clock: FakeClock, spec_factory: Callable[..., RunSpec]
) -> None:
    spec = spec_factory("pipeline", run_id="poll-cost")
    submitted = await backend.submit(spec)
    clock.advance(STEP_SECONDS)
    with workspace.transport.recording() as first:
        await backend.refresh(spec, submitted.backend_job_name)
    with workspace.transport.recording() as later:
        await backend.refresh(spec, submitted.backend_job_name)

    print(f"\nrequests per pipeline poll: first={len(first)} later={len(later)}")
    # jobs.get, then the run history children (the first poll also reads the workspace and
    # its discovery document to find run history)
    assert [(r.method, r.host.split(".")[0]) for r in later] == [
        ("GET", "management"),
        ("GET", workspace.location),
    ]
    assert len(first) == 4
    assert all(r.method == "GET" for r in first)


async def test_a_step_started_when_it_ran_not_when_it_was_created(
    backend: AzureMLBackend, workspace: FakeWorkspace, clock: FakeClock, spec_factory: Callable[..., RunSpec]
) -> None:
    """A step's run is created when the pipeline reaches it; queueing, preparation and the
    environment's image build come before it runs. Its start is startTimeUtc."""
    workspace.image_build_seconds = 60  # the first step also waits for the image
    spec = spec_factory("pipeline", run_id="late-start")
    submitted = await backend.submit(spec)
    created = workspace.job(submitted.backend_job_name).created
    clock.advance(4 * STEP_SECONDS)

    state = await backend.refresh(spec, submitted.backend_job_name)

    url = f"https://{workspace.api_host}/history/v1.0{workspace.scope}/runs/{submitted.backend_job_name}/children"
    runs = {
        r["displayName"]: r
        for r in workspace.transport.session.get(url, params={"api-version": "v1.0"}).json()["value"]
    }
    for step in state.steps:
        run = runs[step.name]
        assert step.started_at == parse_time(run["startTimeUtc"]), step.name
        assert step.ended_at == parse_time(run["endTimeUtc"]), step.name
        assert step.started_at is not None
        created_at = parse_time(run["createdUtc"])
        assert created_at is not None
        assert step.started_at > created_at, step.name
    train = state.steps[0]
    assert train.started_at is not None
    assert (train.started_at - created).total_seconds() == 2 + 30 + 60  # pipeline start, queue+prep, build
    assert state.started_at == created + timedelta(
        seconds=2
    )  # the Execution stage, from azureml.pipelines.stages


async def test_a_reused_step_is_reported_and_points_at_the_run_that_did_the_work(
    backend: AzureMLBackend, workspace: FakeWorkspace, clock: FakeClock, spec_factory: Callable[..., RunSpec]
) -> None:
    workspace.child_namer = lambda parent, display: f"{parent}-{display}"
    first = await backend.submit(spec_factory("pipeline", run_id="original"))
    clock.advance(4 * STEP_SECONDS)
    workspace.resubmit(first.backend_job_name, "again")  # the same pipeline, unchanged
    clock.advance(4 * STEP_SECONDS)

    state = await backend.refresh(spec_factory("pipeline", run_id="again"), "again")

    train, evaluate, register = state.steps
    assert train.reused is True
    assert train.raw_status == "Completed"
    assert train.backend_job_name == "again-train-model"  # the reused child itself
    # metrics, artifacts and logs live with the run that did the work
    assert train.mlflow_run_id == "trainctl-original-train-model"
    # evaluate and register read the champion: not deterministic, never reused
    assert (evaluate.reused, register.reused) == (False, False)
    assert evaluate.mlflow_run_id == "again-evaluate-model"


async def test_an_unchanged_submission_reuses_its_train_step(
    backend: AzureMLBackend, clock: FakeClock, spec_factory: Callable[..., RunSpec]
) -> None:
    await backend.submit(spec_factory("pipeline", run_id="monday"))
    clock.advance(4 * STEP_SECONDS)
    spec = spec_factory("pipeline", run_id="tuesday")
    submitted = await backend.submit(spec)
    clock.advance(STEP_SECONDS)

    state = await backend.refresh(spec, submitted.backend_job_name)

    assert state.steps[0].reused
