"""Recorded answers of the real service, replayed through the transport to the backend's read
path (`AzureMLBackend.refresh`, tracking.py): the mapped run, its steps, `reused` flags, times
and error messages. The answers are compact rewrites of the recordings (replay_fixtures.py);
`test_replay_recordings.py` replays the recordings themselves."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import replay_fixtures as rec
from fakeaml import FakeWorkspace

from app.backends.azureml import AzureMLBackend
from app.backends.azureml.tracking import parse_time
from app.domain.errors import BackendError
from app.domain.spec import RunSpec
from app.domain.status import RunStatus, normalize_status

pytestmark = [pytest.mark.anyio, pytest.mark.replay]

T0 = "2025-03-04T10:15:02.9000000+00:00"
T1 = "2025-03-04T10:16:10.2500000+00:00"
T2 = "2025-03-04T10:21:44.0000000+00:00"
T3 = "2025-03-04T10:22:30.1000000+00:00"
T4 = "2025-03-04T10:24:05.7000000+00:00"


def _replay_pipeline(
    workspace: FakeWorkspace, name: str, job: dict[str, object], runs: dict[str, object]
) -> None:
    workspace.transport.replay("GET", f"/jobs/{name}", rec.answer(job))
    workspace.transport.replay("GET", f"/runs/{name}/children", rec.answer(runs))


async def test_a_running_pipeline_with_a_step_waiting_to_start(
    backend: AzureMLBackend, workspace: FakeWorkspace, spec_factory: Callable[..., RunSpec]
) -> None:
    name = "trainctl-replay-running"
    _replay_pipeline(
        workspace,
        name,
        rec.pipeline_job(workspace.scope, name, "Running"),
        rec.children(
            rec.child_run(
                name, "train_model", "Completed", run_id="run-train", created=T0, started=T1, ended=T2
            ),
            rec.child_run(name, "evaluate_model", "Preparing", run_id="run-eval", created=T2),
        ),
    )

    state = await backend.refresh(spec_factory("pipeline"), name)

    assert (state.raw_status, state.status) == ("Running", RunStatus.RUNNING)
    assert [(s.name, s.raw_status, s.status) for s in state.steps] == [
        ("train-model", "Completed", RunStatus.COMPLETED),
        ("evaluate-model", "Preparing", RunStatus.QUEUED),
        ("register-model", "NotStarted", RunStatus.QUEUED),
    ]
    train, evaluate, _ = state.steps
    assert (train.started_at, train.ended_at) == (parse_time(T1), parse_time(T2))  # not createdUtc
    assert evaluate.started_at is None  # created, not started: queueing is not run time
    assert (train.backend_job_name, train.mlflow_run_id, train.reused) == ("run-train", "run-train", False)
    assert train.studio_url is not None
    assert "/runs/run-train" in train.studio_url
    assert state.started_at == parse_time(T1)  # no stages yet: the first step's start
    assert state.ended_at is None
    assert state.error is None


async def test_a_failed_pipeline_reports_the_steps_own_errors(
    backend: AzureMLBackend, workspace: FakeWorkspace, spec_factory: Callable[..., RunSpec]
) -> None:
    """02: both steps failed; the pipeline's times come from its Execution stage."""
    name = "trainctl-replay-failed"
    _replay_pipeline(
        workspace,
        name,
        rec.pipeline_job(
            workspace.scope, name, "Failed", stages=(rec.PIPELINE_START, rec.PIPELINE_END, "Failed")
        ),
        rec.children(
            rec.child_run(
                name,
                "train_model",
                "Failed",
                run_id="run-t",
                created=T0,
                started=T1,
                ended=T2,
                error=rec.ACCESS_DENIED,
            ),
            rec.child_run(
                name,
                "evaluate_model",
                "Failed",
                run_id="run-e",
                created=T0,
                started=T3,
                ended=T4,
                error=rec.SCRIPT_FAILED,
            ),
        ),
    )

    state = await backend.refresh(spec_factory("pipeline"), name)

    assert state.status is RunStatus.FAILED
    train, evaluate, register = state.steps
    assert train.error == (
        "step train-model failed: Access to the input data was denied; check the compute identity's role "
        "on the datastore. (ScriptExecution.StreamAccess.Authentication)"
    )
    assert evaluate.error == f"step evaluate-model failed: {rec.SCRIPT_FAILED} (UserError)"
    assert register.raw_status == "NotStarted"
    assert state.error is not None
    assert state.error.startswith(
        "Azure ML job failed at step train-model, evaluate-model: Access to the input"
    )
    assert (state.started_at, state.ended_at) == (
        parse_time(rec.PIPELINE_START),
        parse_time(rec.PIPELINE_END),
    )


async def test_a_reused_step_points_at_the_run_that_did_the_work(
    backend: AzureMLBackend, workspace: FakeWorkspace, spec_factory: Callable[..., RunSpec]
) -> None:
    """03 (the version with reuse): the reused child completes within seconds."""
    name = "trainctl-replay-reused"
    reused_train = rec.child_run(
        name,
        "train_model",
        "Completed",
        run_id="run-reused",
        created=T0,
        started="2025-03-04T10:15:03.1000000+00:00",
        ended="2025-03-04T10:15:04.0000000+00:00",
        reused_from=("run-original-train", "trainctl-replay-first"),
    )
    _replay_pipeline(
        workspace,
        name,
        rec.pipeline_job(workspace.scope, name, "Running"),
        rec.children(
            reused_train,
            rec.child_run(name, "evaluate_model", "Running", run_id="run-eval-2", created=T0, started=T1),
        ),
    )

    state = await backend.refresh(spec_factory("pipeline"), name)

    train, evaluate, _ = state.steps
    assert (train.reused, train.raw_status) == (True, "Completed")
    assert train.backend_job_name == "run-reused"
    assert train.mlflow_run_id == "run-original-train"  # metrics, plots and logs live there
    assert train.ended_at == parse_time("2025-03-04T10:15:04.0000000+00:00")
    assert (evaluate.reused, evaluate.mlflow_run_id) == (False, "run-eval-2")


async def test_a_canceled_pipeline(
    backend: AzureMLBackend, workspace: FakeWorkspace, spec_factory: Callable[..., RunSpec]
) -> None:
    name = "trainctl-replay-canceled"
    _replay_pipeline(
        workspace,
        name,
        rec.pipeline_job(workspace.scope, name, "Canceled", stages=(rec.PIPELINE_START, T3, "Canceled")),
        rec.children(
            rec.child_run(
                name, "train_model", "Completed", run_id="run-c1", created=T0, started=T1, ended=T2
            ),
            rec.child_run(
                name, "evaluate_model", "Canceled", run_id="run-c2", created=T2, started=T3, ended=T3
            ),
        ),
    )

    state = await backend.refresh(spec_factory("pipeline"), name)

    assert (state.raw_status, state.status, state.error) == ("Canceled", RunStatus.CANCELED, "canceled")
    assert [s.raw_status for s in state.steps] == ["Completed", "Canceled", "NotStarted"]
    assert state.ended_at == parse_time(T3)


@pytest.mark.parametrize(
    ("status", "run", "expected"),
    [
        ("Preparing", None, (RunStatus.QUEUED, None, None, None)),  # 04: no run read while it waits
        ("Running", {"started": T1}, (RunStatus.RUNNING, T1, None, None)),
        ("Completed", {"started": T1, "ended": T2}, (RunStatus.COMPLETED, T1, T2, None)),
        (
            "Failed",
            {"started": T1, "ended": T2, "error": rec.SCRIPT_FAILED},
            (RunStatus.FAILED, T1, T2, f"{rec.SCRIPT_FAILED} (UserError)"),
        ),
        ("Canceled", {"started": T1, "ended": T3}, (RunStatus.CANCELED, T1, T3, None)),
    ],
)
async def test_a_command_job_takes_its_times_and_error_from_its_run(
    backend: AzureMLBackend,
    workspace: FakeWorkspace,
    spec_factory: Callable[..., RunSpec],
    status: str,
    run: dict[str, str] | None,
    expected: tuple[RunStatus, str | None, str | None, str | None],
) -> None:
    name = f"trainctl-replay-job-{status.lower()}"
    workspace.transport.replay(
        "GET", f"/jobs/{name}", rec.answer(rec.command_job(workspace.scope, name, status))
    )
    if run is not None:
        workspace.transport.replay("GET", f"/runs/{name}", rec.answer(rec.command_run(name, status, **run)))

    with workspace.transport.recording() as calls:
        state = await backend.refresh(spec_factory("job"), name)

    wanted_status, started, ended, reason = expected
    (step,) = state.steps
    assert (state.status, state.raw_status, step.raw_status) == (wanted_status, status, status)
    assert (state.started_at, state.ended_at) == (parse_time(started), parse_time(ended))
    assert (step.started_at, step.ended_at) == (state.started_at, state.ended_at)
    assert step.error == (f"step train-model failed: {reason}" if reason else None)
    assert any(c.path.endswith(f"/runs/{name}") for c in calls) == (run is not None)


async def test_a_validation_error_names_what_is_missing(
    backend: AzureMLBackend, workspace: FakeWorkspace, spec_factory: Callable[..., RunSpec]
) -> None:
    """06: the job PUT refused with 404 NotFound: a permanent error with the service's words."""
    workspace.transport.replay(
        "PUT", "/jobs/trainctl-run-0001", rec.validation_error(workspace.scope, "train_diabetes_model", "9")
    )

    with pytest.raises(BackendError) as caught:
        await backend.submit(spec_factory("pipeline"))

    assert not caught.value.transient
    assert "Not found component train_diabetes_model (version: 9)" in str(caught.value)
    assert workspace.jobs == {}


async def test_a_status_never_heard_of_keeps_its_raw_value(
    backend: AzureMLBackend, workspace: FakeWorkspace, spec_factory: Callable[..., RunSpec]
) -> None:
    name = "trainctl-replay-new-status"
    _replay_pipeline(
        workspace,
        name,
        rec.pipeline_job(workspace.scope, name, "Hibernating"),
        rec.children(rec.child_run(name, "train_model", "Throttled", run_id="run-x", created=T0)),
    )

    state = await backend.refresh(spec_factory("pipeline"), name)

    assert (state.raw_status, state.steps[0].raw_status) == ("Hibernating", "Throttled")
    assert state.status is normalize_status("Unknown")
    assert state.steps[0].status is normalize_status("Unknown")
