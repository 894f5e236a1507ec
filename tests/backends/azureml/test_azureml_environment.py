"""Which environment a run gets on Azure ML: trainctl's own by default, versioned by the content
of conda.yml and the base image, never the original sample's `diabetes-classify`; one you name
is used as named and never created; an image that does not build is a clear run error."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from backendkit import COMPONENTS
from fakeaml import STEP_SECONDS, FakeClock, FakeWorkspace

from app.backends.azureml import AzureMLBackend
from app.backends.azureml.environments import BASE_IMAGE, owned_version
from app.domain.errors import BackendError
from app.domain.spec import RunSpec
from app.settings import Settings

pytestmark = pytest.mark.anyio


def _tail(arm_id: str) -> str:
    return arm_id.split("/workspaces/", 1)[1].split("/", 1)[1]


def _put(workspace: FakeWorkspace, job: str) -> dict[str, Any]:
    (put,) = [r for r in workspace.transport.requests("PUT", f"/jobs/{job}") if r.status < 300]
    body: dict[str, Any] = put.json()["properties"]
    return body


def _component_environments(workspace: FakeWorkspace, body: dict[str, Any]) -> set[str]:
    found = set()
    for node in body["jobs"].values():
        name, _, version = _tail(node["componentId"]).split("/")[1:4]
        stored = workspace.asset("components", name, version)
        assert stored is not None
        found.add(_tail(stored["properties"]["componentSpec"]["environment"]))
    return found


async def test_the_default_is_trainctls_own_environment_never_the_samples(
    backend: AzureMLBackend, workspace: FakeWorkspace, spec_factory: Callable[..., RunSpec]
) -> None:
    # the original sample's environment (Python 3.10, without mlflow...), newer than anything
    for version in ("1", "2", "3"):
        workspace.add_environment("diabetes-classify", version)
    workspace.add_environment("trainctl-diabetes", "1")  # some other content under our name
    owned = owned_version(COMPONENTS)

    pipeline = await backend.submit(spec_factory("pipeline", run_id="p"))
    job = await backend.submit(spec_factory("job", run_id="j"))

    expected = f"environments/trainctl-diabetes/versions/{owned}"
    assert _component_environments(workspace, _put(workspace, pipeline.backend_job_name)) == {expected}
    assert _tail(_put(workspace, job.backend_job_name)["environmentId"]) == expected
    created = workspace.asset("environments", "trainctl-diabetes", owned)
    assert created is not None
    assert created["properties"]["image"] == BASE_IMAGE
    assert "scikit-learn==" in created["properties"]["condaFile"]
    assert [r.path for r in workspace.transport.requests("PUT", "/environments/")] == [
        f"{workspace.scope}/environments/trainctl-diabetes/versions/{owned}"
    ]


async def test_a_changed_conda_file_reaches_azure_as_a_new_version(
    backend_factory: Callable[..., AzureMLBackend],
    settings: Settings,
    workspace: FakeWorkspace,
    spec_factory: Callable[..., RunSpec],
    tmp_path: Path,
) -> None:
    components = tmp_path / "components"
    shutil.copytree(COMPONENTS, components, ignore=shutil.ignore_patterns("__pycache__"))
    before = owned_version(components)
    await backend_factory(settings, components_dir=components).submit(spec_factory("pipeline", run_id="a"))
    conda = components / "environment" / "conda.yml"
    conda.write_text(conda.read_text() + "      - tabulate==0.9.0\n")
    after = owned_version(components)

    # a restarted service (nothing cached) picks the change up
    restarted = backend_factory(settings, components_dir=components)
    await restarted.submit(spec_factory("pipeline", run_id="b"))

    assert after != before
    new = workspace.asset("environments", "trainctl-diabetes", after)
    assert new is not None and "tabulate==0.9.0" in new["properties"]["condaFile"]
    assert workspace.asset("environments", "trainctl-diabetes", before) is not None
    # every component is bound to its environment's version: all three are registered anew
    assert _component_environments(workspace, _put(workspace, "trainctl-b")) == {
        f"environments/trainctl-diabetes/versions/{after}"
    }
    assert len(workspace.transport.requests("PUT", "/components/")) == 6


async def test_an_environment_you_maintain_follows_its_label_and_is_never_created(
    backend: AzureMLBackend, workspace: FakeWorkspace, spec_factory: Callable[..., RunSpec]
) -> None:
    with pytest.raises(BackendError, match=r"environment team-env@latest does not exist") as caught:
        await backend.submit(spec_factory("job", run_id="none", environment="team-env@latest"))
    assert not caught.value.transient
    assert workspace.transport.requests("PUT") == []

    workspace.add_environment("team-env", "1")
    workspace.add_environment("team-env", "2")
    submitted = await backend.submit(spec_factory("pipeline", run_id="team", environment="team-env@latest"))

    body = _put(workspace, submitted.backend_job_name)
    assert _component_environments(workspace, body) == {"environments/team-env/versions/2"}
    assert workspace.transport.requests("PUT", "/environments/") == []


@pytest.mark.parametrize("kind", ["job", "pipeline"])
async def test_an_image_that_does_not_build_is_a_clear_run_error(
    backend: AzureMLBackend,
    workspace: FakeWorkspace,
    clock: FakeClock,
    spec_factory: Callable[..., RunSpec],
    kind: str,
) -> None:
    workspace.failing_environments = {"trainctl-diabetes"}
    spec = spec_factory(kind, run_id="bad-image")
    name = (await backend.submit(spec)).backend_job_name
    clock.advance(workspace.image_build_seconds + STEP_SECONDS)

    state = await backend.refresh(spec, name)

    assert state.raw_status == "Failed"
    environment = (
        f"trainctl-diabetes:{owned_version(COMPONENTS)} (built from components/environment/conda.yml)"
    )
    assert state.error is not None
    assert state.error.startswith(
        f"Azure ML job failed at step train-model: the image of environment {environment} could not be "
        "built (Image build failed: the conda environment could not be created."
    )
    assert "components/environment/conda.yml" in state.error
    (train,) = [s for s in state.steps if s.name == "train-model"]
    assert train.error is not None and train.error.startswith(
        "step train-model failed: the image of environment"
    )
    assert train.started_at is None  # it never ran
