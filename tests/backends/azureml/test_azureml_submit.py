"""Submission through the real azure-ai-ml MLClient against the fake workspace: the bodies
Azure ML receives, idempotency by run id, and what an unchanged re-submission costs."""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from backendkit import COMPONENTS
from fakeaml import FakeWorkspace, Recorded

from app.backends.azureml import AzureMLBackend
from app.backends.azureml.environments import owned_version
from app.backends.azureml.submit import job_name_for
from app.domain.spec import DataAssetRef, RunSpec
from app.settings import Settings

pytestmark = pytest.mark.anyio

CLIENT_ID = "11111111-2222-3333-4444-555555555555"


def _arm_tail(arm_id: str) -> str:
    """`.../workspaces/ws/computes/cpu-cluster` -> `computes/cpu-cluster`."""
    return arm_id.split("/workspaces/", 1)[1].split("/", 1)[1]


def _job_put(workspace: FakeWorkspace, name: str) -> dict[str, Any]:
    # the job as created (a first submission's PUT may be refused once for a missing asset)
    puts = [r for r in workspace.transport.requests("PUT", f"/jobs/{name}") if r.status < 300]
    assert len(puts) == 1, [r.path for r in puts]
    body: dict[str, Any] = puts[0].json()["properties"]
    return body


def _summary(requests: list[Recorded]) -> Counter[str]:
    """Request kinds, e.g. 'PUT components' or 'PUT blob'."""
    kinds: Counter[str] = Counter()
    for r in requests:
        if "blob.core.windows.net" in r.host:
            kinds[f"{r.method} blob"] += 1
            continue
        tail = r.path.split("/workspaces/", 1)[-1].split("/")
        kinds[f"{r.method} {tail[1] if len(tail) > 1 else 'workspace'}"] += 1
    return kinds


async def test_pipeline_body_carries_compute_identity_inputs_tags_and_step_names(
    backend: AzureMLBackend, workspace: FakeWorkspace, spec_factory: Callable[..., RunSpec]
) -> None:
    spec = spec_factory(
        "pipeline",
        step_compute={"train-model": "gpu-cluster"},
        pipeline_name="diabetes-pipeline",
        tags={"team": "ml", "ticket": "ML-7"},
    )

    submitted = await backend.submit(spec)

    assert submitted.backend_job_name == job_name_for(spec.run_id) == "trainctl-run-0001"
    assert submitted.studio_url is not None
    assert "/runs/trainctl-run-0001" in submitted.studio_url
    assert submitted.raw_status == "NotStarted"
    body = _job_put(workspace, submitted.backend_job_name)
    assert body["jobType"] == "Pipeline"
    assert body["experimentName"] == "diabetes-training"
    assert body["displayName"] == "diabetes-pipeline"
    assert body["identity"] == {"clientId": CLIENT_ID, "identityType": "Managed"}
    assert _arm_tail(body["settings"]["default_compute"]) == "computes/cpu-cluster"
    assert body["tags"] == {
        "team": "ml",
        "ticket": "ML-7",
        "trainctl.run_id": "run-0001",
        "trainctl.kind": "pipeline",
    }
    # "latest" is resolved at submission: the job records the version it trained on
    assert _arm_tail(body["inputs"]["training_data"]["uri"]) == "data/diabetes-diagnostics/versions/2"

    nodes = body["jobs"]
    assert {key: node["display_name"] for key, node in nodes.items()} == {
        "train_model": "train-model",
        "evaluate_model": "evaluate-model",
        "register_model": "register-model",
    }
    assert _arm_tail(nodes["train_model"]["computeId"]) == "computes/gpu-cluster"
    assert "computeId" not in nodes["evaluate_model"]  # falls back to the default compute
    # The deterministic train step carries nothing per run (it is part of the reuse key).
    assert nodes["train_model"]["environment_variables"] == {"MANAGED_IDENTITY_CLIENT_ID": CLIENT_ID}
    for key in ("evaluate_model", "register_model"):
        assert nodes[key]["environment_variables"] == {
            "TRAINCTL_RUN_ID": "run-0001",
            "MANAGED_IDENTITY_CLIENT_ID": CLIENT_ID,
        }
    literal = {
        key: {name: port["value"] for name, port in node["inputs"].items()} for key, node in nodes.items()
    }
    assert literal["train_model"] == {
        "training_data": "${{parent.inputs.training_data}}",
        "reg_rate": "0.05",
        "solver": "liblinear",
    }
    assert literal["evaluate_model"] == {
        "model_input": "${{parent.jobs.train_model.outputs.model_output}}",
        "test_data": "${{parent.jobs.train_model.outputs.test_data}}",
        "model_name": "diabetes-classifier",
        "promotion_metric": "roc_auc",
        "min_improvement": "0.0",
    }
    assert literal["register_model"]["evaluation_output"] == (
        "${{parent.jobs.evaluate_model.outputs.evaluation_output}}"
    )
    assert literal["register_model"]["data_asset"] == "diabetes-diagnostics:2"

    # components registered under their own names, bound to trainctl's environment
    owned = owned_version(COMPONENTS)
    for key, component in (
        ("train_model", "train_diabetes_model"),
        ("evaluate_model", "evaluate_diabetes_model"),
        ("register_model", "register_diabetes_model"),
    ):
        tail = _arm_tail(nodes[key]["componentId"])
        assert tail.startswith(f"components/{component}/versions/1-")
        stored = workspace.asset("components", component, tail.rsplit("/", 1)[1])
        assert stored is not None
        spec_body = stored["properties"]["componentSpec"]
        assert spec_body["environment"].endswith(f"environments/trainctl-diabetes/versions/{owned}")
    environment = workspace.asset("environments", "trainctl-diabetes", owned)
    assert environment is not None
    assert "mlflow==3.15.0" in environment["properties"]["condaFile"]
    assert environment["properties"]["image"].startswith("mcr.microsoft.com/azureml/")
    assert workspace.unrouted == []


async def test_job_is_a_command_built_from_the_train_component(
    backend: AzureMLBackend, workspace: FakeWorkspace, spec_factory: Callable[..., RunSpec]
) -> None:
    spec = spec_factory(
        "job",
        run_id="job-1",
        data_asset=DataAssetRef(name="diabetes-diagnostics", version="1"),
        compute="gpu-cluster",
    )

    submitted = await backend.submit(spec)

    body = _job_put(workspace, submitted.backend_job_name)
    assert body["jobType"] == "Command"
    assert body["displayName"] == "train-model"
    assert body["experimentName"] == "diabetes-training"
    assert _arm_tail(body["computeId"]) == "computes/gpu-cluster"
    assert (
        _arm_tail(body["environmentId"])
        == f"environments/trainctl-diabetes/versions/{owned_version(COMPONENTS)}"
    )
    assert body["identity"] == {"clientId": CLIENT_ID, "identityType": "Managed"}
    assert body["environmentVariables"] == {
        "TRAINCTL_RUN_ID": "job-1",
        "MANAGED_IDENTITY_CLIENT_ID": CLIENT_ID,
    }
    assert body["tags"]["trainctl.run_id"] == "job-1"
    assert body["command"].startswith("python train.py --training_data ${{inputs.training_data}}")
    assert _arm_tail(body["inputs"]["training_data"]["uri"]) == "data/diabetes-diagnostics/versions/1"
    assert body["inputs"]["reg_rate"]["value"] == "0.05"
    assert body["inputs"]["solver"]["value"] == "liblinear"
    assert body["inputs"]["test_size"]["value"] == "0.3"  # the component's default travels along
    assert {n: o["jobOutputType"] for n, o in body["outputs"].items()} == {
        "model_output": "mlflow_model",
        "test_data": "uri_folder",
    }
    # the code is the train component's registered snapshot, not a second upload
    train = [c for (kind, name, _), c in workspace.assets.items() if name == "train_diabetes_model"]
    assert len(train) == 1
    assert train[0]["properties"]["componentSpec"]["code"].removeprefix("azureml:") == body["codeId"]


async def test_without_a_client_id_the_job_has_no_explicit_identity(
    backend_factory: Callable[..., AzureMLBackend],
    workspace: FakeWorkspace,
    settings: Settings,
    spec_factory: Callable[..., RunSpec],
) -> None:
    backend = backend_factory(settings.model_copy(update={"managed_identity_client_id": None}))

    submitted = await backend.submit(spec_factory("pipeline"))

    body = _job_put(workspace, submitted.backend_job_name)
    assert "identity" not in body or body["identity"] is None
    assert body["jobs"]["register_model"]["environment_variables"] == {"TRAINCTL_RUN_ID": "run-0001"}
    assert "environment_variables" not in body["jobs"]["train_model"]


async def test_missing_compute_is_a_permanent_error(
    backend: AzureMLBackend, spec_factory: Callable[..., RunSpec]
) -> None:
    from app.domain.errors import BackendError

    with pytest.raises(BackendError) as caught:
        await backend.submit(spec_factory("pipeline", compute=None))
    assert not caught.value.transient
    assert "compute" in str(caught.value)


async def test_missing_data_asset_names_it(
    backend: AzureMLBackend, spec_factory: Callable[..., RunSpec]
) -> None:
    from app.domain.errors import BackendError

    with pytest.raises(BackendError, match="data asset no-such-data does not exist"):
        await backend.submit(
            spec_factory("job", data_asset=DataAssetRef(name="no-such-data", version="latest"))
        )


@pytest.mark.parametrize("kind", ["pipeline", "job"])
async def test_resubmitting_unchanged_costs_three_requests_even_after_a_restart(
    backend_factory: Callable[..., AzureMLBackend],
    backend: AzureMLBackend,
    settings: Settings,
    workspace: FakeWorkspace,
    spec_factory: Callable[..., RunSpec],
    kind: str,
) -> None:
    """Assets are named by content version, so an unchanged submission asks nothing about them:
    is the run already submitted (GET job), which data version is the newest (one GET), the
    job PUT. A restarted service knows the versions from its files, and a command job's code
    snapshot from the facts file in the data directory."""
    with workspace.transport.recording() as first:
        await backend.submit(spec_factory(kind, run_id="first"))
    with workspace.transport.recording() as repeated:
        await backend.submit(spec_factory(kind, run_id="second"))
    restarted = backend_factory(settings)  # a new service process: nothing cached in memory
    with workspace.transport.recording() as after_restart:
        await restarted.submit(spec_factory(kind, run_id="third"))

    counts = {
        name: _summary(reqs)
        for name, reqs in (("first", first), ("repeated", repeated), ("restart", after_restart))
    }
    print(
        f"\nrequests per {kind} submission: first={len(first)} repeated={len(repeated)} "
        f"after-restart={len(after_restart)}\n{counts}"
    )
    components = 3 if kind == "pipeline" else 1
    assert counts["first"]["PUT blob"] >= components  # each code folder uploaded once
    assert counts["first"]["PUT components"] == components
    assert counts["first"]["PUT environments"] == 1
    for name in ("repeated", "restart"):
        assert counts[name] == Counter({"GET jobs": 1, "GET data": 1, "PUT jobs": 1}), counts[name]
    assert len(workspace.jobs) == 3
    assert workspace.unrouted == []


async def test_a_restarted_service_registers_what_was_deleted_and_submits_again(
    backend_factory: Callable[..., AzureMLBackend],
    backend: AzureMLBackend,
    settings: Settings,
    workspace: FakeWorkspace,
    spec_factory: Callable[..., RunSpec],
) -> None:
    """Content versions are assumed registered; when Azure ML answers that one is missing
    (someone deleted it), the assets are checked, registered again, and the job submitted."""
    await backend.submit(spec_factory("pipeline", run_id="before"))
    (train,) = [key for key in workspace.assets if key[:2] == ("components", "train_diabetes_model")]
    del workspace.assets[train]

    restarted = backend_factory(settings)
    with workspace.transport.recording() as requests:
        submitted = await restarted.submit(spec_factory("pipeline", run_id="after"))

    assert submitted.backend_job_name == "trainctl-after"
    assert workspace.asset(*train) is not None
    puts = [r for r in requests if r.method == "PUT" and "/jobs/" in r.path]
    assert [r.status for r in puts] == [404, 201]
    assert len([r for r in requests if r.method == "PUT" and "/components/" in r.path]) == 1


async def test_changed_component_code_registers_a_new_version(
    backend_factory: Callable[..., AzureMLBackend],
    settings: Settings,
    workspace: FakeWorkspace,
    spec_factory: Callable[..., RunSpec],
    components_dir: Path,
    tmp_path: Path,
) -> None:
    copy = tmp_path / "components"
    shutil.copytree(components_dir, copy, ignore=shutil.ignore_patterns("__pycache__"))
    backend = backend_factory(settings, components_dir=copy)
    await backend.submit(spec_factory("pipeline", run_id="before"))
    (copy / "train" / "src" / "train.py").write_text(
        (copy / "train" / "src" / "train.py").read_text() + "\n# changed\n"
    )
    with workspace.transport.recording() as after_change:
        await backend.submit(spec_factory("pipeline", run_id="after"))

    kinds = _summary(after_change)
    assert kinds["PUT components"] == 1  # only train changed
    versions = [v for (k, n, v) in workspace.assets if k == "components" and n == "train_diabetes_model"]
    assert len(versions) == 2


@pytest.mark.parametrize("kind", ["job", "pipeline"])
async def test_a_compute_the_workspace_lacks_is_refused_permanently(
    backend: AzureMLBackend, workspace: FakeWorkspace, spec_factory: Callable[..., RunSpec], kind: str
) -> None:
    from app.domain.errors import BackendError

    with pytest.raises(BackendError) as caught:
        await backend.submit(spec_factory(kind, compute="no-such-cluster"))

    assert not caught.value.transient
    assert "no-such-cluster" in str(caught.value)
    assert workspace.jobs == {}


async def test_a_pinned_environment_must_exist(
    backend: AzureMLBackend, workspace: FakeWorkspace, spec_factory: Callable[..., RunSpec]
) -> None:
    from app.domain.errors import BackendError

    with pytest.raises(BackendError, match=r"environment diabetes-classify:7 does not exist") as caught:
        await backend.submit(spec_factory("job", environment="diabetes-classify:7"))
    assert not caught.value.transient

    workspace.add_environment("diabetes-classify", "7")
    submitted = await backend.submit(spec_factory("job", environment="diabetes-classify:7"))
    body = _job_put(workspace, submitted.backend_job_name)
    assert _arm_tail(body["environmentId"]) == "environments/diabetes-classify/versions/7"


async def test_a_pinned_data_version_must_exist(
    backend: AzureMLBackend, workspace: FakeWorkspace, spec_factory: Callable[..., RunSpec]
) -> None:
    from app.domain.errors import BackendError

    with pytest.raises(BackendError, match=r"data asset diabetes-diagnostics:9 does not exist") as caught:
        await backend.submit(
            spec_factory("job", data_asset=DataAssetRef(name="diabetes-diagnostics", version="9"))
        )

    assert not caught.value.transient
    assert workspace.transport.requests("PUT") == []  # refused before anything was created


@pytest.mark.parametrize("kind", ["job", "pipeline"])
async def test_a_folder_asset_is_submitted_as_a_folder(
    backend: AzureMLBackend, workspace: FakeWorkspace, spec_factory: Callable[..., RunSpec], kind: str
) -> None:
    """The input takes the data asset's type (Azure ML refuses a uri_file input naming a
    uri_folder asset), and the train component registered for it declares a folder port."""
    workspace.add_data_asset("patients", "1", data_type="uri_folder")
    await backend.submit(spec_factory(kind, run_id="file"))  # diabetes-diagnostics: uri_file

    folder = await backend.submit(
        spec_factory(kind, run_id="folder", data_asset=DataAssetRef(name="patients", version="1"))
    )

    body = _job_put(workspace, folder.backend_job_name)
    port = body["inputs"]["training_data"]
    assert port["jobInputType"] == "uri_folder"
    assert _arm_tail(port["uri"]) == "data/patients/versions/1"
    if kind == "pipeline":
        train = _arm_tail(body["jobs"]["train_model"]["componentId"]).rsplit("/", 1)[1]
        stored = workspace.asset("components", "train_diabetes_model", train)
        assert stored is not None
        assert stored["properties"]["componentSpec"]["inputs"]["training_data"]["type"] == "uri_folder"
        file_body = _job_put(workspace, "trainctl-file")
        assert _arm_tail(file_body["jobs"]["train_model"]["componentId"]).rsplit("/", 1)[1] != train
        assert file_body["inputs"]["training_data"]["jobInputType"] == "uri_file"


async def test_a_pinned_data_version_is_looked_up_once(
    backend: AzureMLBackend, workspace: FakeWorkspace, spec_factory: Callable[..., RunSpec]
) -> None:
    pinned = DataAssetRef(name="diabetes-diagnostics", version="1")
    await backend.submit(spec_factory("job", run_id="pinned-1", data_asset=pinned))
    with workspace.transport.recording() as again:
        await backend.submit(spec_factory("job", run_id="pinned-2", data_asset=pinned))

    assert [r for r in again if "/data/" in r.path] == []  # a version never changes
