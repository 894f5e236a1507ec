"""The fake refuses what Azure ML refuses and behaves as the recordings show: api-versions,
experiment names, input types, unknown computes, immutable jobs, image builds, step reuse,
start times later than creation, cancel as a long-running operation, and the exact calls
azure-ai-ml 1.35.2 makes to list a pipeline's steps."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from fakeaml import STEP_SECONDS, FakeClock, FakeWorkspace

from app.backends.azureml import AzureMLBackend
from app.domain.errors import BackendError
from app.domain.spec import RunSpec

pytestmark = pytest.mark.anyio


def _arm(workspace: FakeWorkspace, method: str, tail: str, body: Any = None, **query: str) -> Any:
    """A raw request through the fake transport, as any ARM client would send it."""
    url = f"https://management.azure.com{workspace.scope}/{tail}"
    return workspace.transport.session.request(method, url, params=query, json=body)


def _children(workspace: FakeWorkspace, parent: str) -> list[dict[str, Any]]:
    url = f"https://{workspace.api_host}/history/v1.0{workspace.scope}/runs/{parent}/children"
    reply = workspace.transport.session.get(url, params={"api-version": "v1.0"})
    assert reply.status_code == 200
    runs: list[dict[str, Any]] = reply.json()["value"]
    return runs


@pytest.mark.parametrize(
    ("query", "code"),
    [({}, "MissingApiVersionParameter"), ({"api-version": "2019-01-01"}, "NoRegisteredProviderFound")],
)
def test_arm_refuses_a_missing_or_unknown_api_version(
    workspace: FakeWorkspace, query: dict[str, str], code: str
) -> None:
    reply = _arm(workspace, "GET", "computes/cpu-cluster", **query)

    assert reply.status_code == 400
    assert reply.headers["x-ms-response-type"] == "error"
    assert reply.json()["error"]["code"] == code
    assert _arm(workspace, "GET", "computes/cpu-cluster", **{"api-version": "2023-08-01-preview"}).ok


@pytest.mark.parametrize("experiment", ["has space", "-leading-dash", "dots.are.out", "x" * 257, "slash/no"])
async def test_an_experiment_name_outside_azures_rule_is_refused(
    backend: AzureMLBackend, workspace: FakeWorkspace, spec_factory: Callable[..., RunSpec], experiment: str
) -> None:
    with pytest.raises(BackendError, match="Experiment name must be 1-256 characters") as caught:
        # The service refuses these at POST already (app/domain/spec.py): bypass it to show the
        # fake refuses them as Azure ML would.
        await backend.submit(spec_factory("job").model_copy(update={"experiment_name": experiment}))
    assert not caught.value.transient
    assert workspace.jobs == {}


async def test_an_input_type_that_differs_from_the_data_assets_type_is_refused(
    backend: AzureMLBackend, workspace: FakeWorkspace, spec_factory: Callable[..., RunSpec]
) -> None:
    workspace.add_data_asset("patients-folder", "1", data_type="uri_folder")
    submitted = await backend.submit(spec_factory("job", run_id="template"))
    body = json.loads(json.dumps(workspace.job(submitted.backend_job_name).body))
    body["properties"]["inputs"]["training_data"]["uri"] = (
        f"{workspace.scope}/data/patients-folder/versions/1"
    )

    reply = _arm(workspace, "PUT", "jobs/folder-as-file", body, **{"api-version": "2025-01-01-preview"})

    assert reply.status_code == 400
    assert "patients-folder:1 is of type uri_folder" in reply.json()["error"]["message"]
    assert "folder-as-file" not in workspace.jobs


async def test_a_job_naming_an_unknown_compute_is_refused_by_the_service(
    backend: AzureMLBackend, workspace: FakeWorkspace, spec_factory: Callable[..., RunSpec]
) -> None:
    submitted = await backend.submit(spec_factory("job", run_id="template"))
    body = json.loads(json.dumps(workspace.job(submitted.backend_job_name).body))
    body["properties"]["computeId"] = f"{workspace.scope}/computes/no-such-cluster"

    reply = _arm(workspace, "PUT", "jobs/another", body, **{"api-version": "2025-01-01-preview"})

    assert reply.status_code == 404
    error = reply.json()["error"]
    assert error["code"] == "NotFound"
    assert "Not found compute no-such-cluster" in error["message"]
    assert "another" not in workspace.jobs


async def test_a_put_may_change_tags_but_nothing_else_of_an_existing_job(
    backend: AzureMLBackend, workspace: FakeWorkspace, spec_factory: Callable[..., RunSpec]
) -> None:
    name = (await backend.submit(spec_factory("job", run_id="fixed"))).backend_job_name
    body = json.loads(json.dumps(workspace.job(name).body))
    version = {"api-version": "2025-01-01-preview"}

    body["properties"]["tags"]["reviewed"] = "yes"
    retagged = _arm(workspace, "PUT", f"jobs/{name}", body, **version)
    assert retagged.status_code == 200  # 01: an update answers 200, without Location
    assert "Location" not in retagged.headers
    assert retagged.json()["properties"]["tags"]["reviewed"] == "yes"

    body["properties"]["command"] = "python train.py --something-else"
    changed = _arm(workspace, "PUT", f"jobs/{name}", body, **version)
    assert changed.status_code == 400
    assert (
        changed.json()["error"]["message"]
        == f'Failed to update job {name} since field "command" is immutable.'
    )
    assert "--something-else" not in workspace.job(name).body["properties"]["command"]


async def test_the_first_job_on_an_environment_waits_for_its_image_build(
    backend: AzureMLBackend, workspace: FakeWorkspace, clock: FakeClock, spec_factory: Callable[..., RunSpec]
) -> None:
    first = (await backend.submit(spec_factory("job", run_id="builds"))).backend_job_name
    clock.advance(40)
    second = (await backend.submit(spec_factory("job", run_id="waits"))).backend_job_name

    # 40 s in, the first job would be running without a build; it is still preparing
    assert workspace.job(first).status(clock.now()) == "Preparing"
    clock.advance(workspace.image_build_seconds + 30)
    assert workspace.job(first).status(clock.now()) == "Running"
    # the second arrived during the build and waited only for the rest of it
    assert workspace.job(second).status(clock.now()) == "Running"
    third = (await backend.submit(spec_factory("job", run_id="built"))).backend_job_name
    clock.advance(30)
    assert workspace.job(third).status(clock.now()) == "Running"  # no build any more


async def test_a_failed_image_build_fails_the_step_before_it_starts(
    backend: AzureMLBackend, workspace: FakeWorkspace, clock: FakeClock, spec_factory: Callable[..., RunSpec]
) -> None:
    workspace.failing_environments = {"trainctl-diabetes"}
    name = (await backend.submit(spec_factory("pipeline", run_id="bad-image"))).backend_job_name
    clock.advance(workspace.image_build_seconds + 60)

    assert workspace.job(name).status(clock.now()) == "Failed"
    (train,) = _children(workspace, name)
    assert train["status"] == "Failed"
    assert train["startTimeUtc"] is None  # it never ran
    assert train["error"]["error"]["message"].startswith("Image build failed")


async def test_child_runs_start_after_they_are_created(
    backend: AzureMLBackend, workspace: FakeWorkspace, clock: FakeClock, spec_factory: Callable[..., RunSpec]
) -> None:
    name = (await backend.submit(spec_factory("pipeline", run_id="timed"))).backend_job_name
    clock.advance(3 * STEP_SECONDS + workspace.image_build_seconds + 10)

    runs = _children(workspace, name)
    assert [r["displayName"] for r in runs] == ["train-model", "evaluate-model", "register-model"]
    for run in runs:
        assert run["status"] == "Completed"
        assert run["createdUtc"] < run["startTimeUtc"] < run["endTimeUtc"]
        assert run["name"] in ("train_diabetes_model", "evaluate_diabetes_model", "register_diabetes_model")
        assert run["properties"]["azureml.pipelinerunid"] == name


async def test_an_unchanged_deterministic_step_is_reused_with_the_real_markers(
    backend: AzureMLBackend, workspace: FakeWorkspace, clock: FakeClock, spec_factory: Callable[..., RunSpec]
) -> None:
    first = (await backend.submit(spec_factory("pipeline", run_id="original"))).backend_job_name
    clock.advance(4 * STEP_SECONDS)
    original_train = _children(workspace, first)[0]

    assert workspace.resubmit(first, "again").status == 201
    clock.advance(5)
    train, *rest = _children(workspace, "again")

    assert train["status"] == "Completed"
    properties = train["properties"]
    assert properties["azureml.isreused"] == "true"
    assert properties["azureml.reusedrunid"] == original_train["runId"]
    assert properties["azureml.reusednodeid"] == original_train["properties"]["azureml.nodeid"]
    assert properties["azureml.reusedpipelinerunid"] == first
    assert "azureml.reusedpipeline" in properties
    assert train["computeDuration"] == "00:00:00"
    assert train["dataContainerId"] == f"dcid.{original_train['runId']}"
    # evaluate and register read the champion: is_deterministic false, never reused
    assert rest == [] or "azureml.isreused" not in rest[0]["properties"]


async def test_force_rerun_and_changed_run_settings_defeat_reuse(
    backend: AzureMLBackend, workspace: FakeWorkspace, clock: FakeClock, spec_factory: Callable[..., RunSpec]
) -> None:
    first = (await backend.submit(spec_factory("pipeline", run_id="first-run"))).backend_job_name
    clock.advance(4 * STEP_SECONDS)
    forced = json.loads(json.dumps(workspace.job(first).body))
    forced["properties"]["settings"]["force_rerun"] = True
    _arm(workspace, "PUT", "jobs/forced", forced, **{"api-version": "2024-01-01-preview"})
    changed = json.loads(json.dumps(workspace.job(first).body))
    changed["properties"]["jobs"]["train_model"]["environment_variables"]["TRAINCTL_RUN_ID"] = "other"
    _arm(workspace, "PUT", "jobs/changed", changed, **{"api-version": "2024-01-01-preview"})
    clock.advance(5)

    for name in ("forced", "changed"):
        (train,) = _children(workspace, name)
        assert "azureml.isreused" not in train["properties"], name


async def test_cancel_is_a_long_running_operation_without_retry_after(
    backend: AzureMLBackend, workspace: FakeWorkspace, clock: FakeClock, spec_factory: Callable[..., RunSpec]
) -> None:
    name = (await backend.submit(spec_factory("job", run_id="stop-me"))).backend_job_name
    clock.advance(40)

    accepted = _arm(workspace, "POST", f"jobs/{name}/cancel", **{"api-version": "2023-04-01-preview"})

    assert accepted.status_code == 202
    assert accepted.text == "null"
    assert "Retry-After" not in accepted.headers
    assert "Azure-AsyncOperation" not in accepted.headers
    assert accepted.headers["x-ms-async-operation-timeout"] == "PT1H"
    location = accepted.headers["Location"]
    assert f"/mfeOperationResults/jc:{workspace.workspace_id}:{name}" in location
    pending = workspace.transport.session.get(location)
    assert (pending.status_code, pending.json(), pending.headers["Location"]) == (202, {}, location)
    clock.advance(10)
    done = workspace.transport.session.get(location)
    assert (done.status_code, done.content) == (200, b"")


async def test_listing_a_pipelines_steps_makes_the_calls_the_sdk_really_makes(
    backend: AzureMLBackend, workspace: FakeWorkspace, clock: FakeClock, spec_factory: Callable[..., RunSpec]
) -> None:
    """azure-ai-ml 1.35.2 `jobs.list(parent_job_name=...)`: GET the parent (ARM), then once per
    client the workspace and its discovery document, then the run history children, one page."""
    name = (await backend.submit(spec_factory("pipeline", run_id="listed"))).backend_job_name
    clock.advance(STEP_SECONDS)
    with workspace.transport.recording() as calls:
        listed = list(backend._ml.jobs.list(parent_job_name=name))

    assert [(c.method, c.host, c.path.rsplit("/", 2)[-2:], c.query.get("api-version")) for c in calls] == [
        ("GET", "management.azure.com", ["jobs", name], "2024-01-01-preview"),
        ("GET", "management.azure.com", ["workspaces", workspace.name], "2024-10-01-preview"),
        ("GET", workspace.api_host, ["", "discovery"], None),
        ("GET", workspace.api_host, [name, "children"], "v1.0"),
    ]
    assert [job.display_name for job in listed] == ["train-model"]
