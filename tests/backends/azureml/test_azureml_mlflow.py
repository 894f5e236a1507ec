"""Read-back over MLflow: metrics, artifacts, logs, outcome and the registry, against a real
`mlflow server` standing in for the workspace tracking endpoint; and how azureml-mlflow is
given our credential for the real `azureml://` endpoint."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from fakeaml import STEP_SECONDS, FakeClock, FakeCredential, FakeWorkspace
from fakeaml.mlflow_server import CANDIDATE_METRICS, PNG_BYTES, MlflowServer, Registry, SeededPipeline

from app.backends.azureml import AzureMLBackend
from app.domain.spec import RunSpec

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


@pytest.fixture
def tracking_uri(mlflow_server: MlflowServer) -> str:
    return mlflow_server.uri


def _name_children_after(workspace: FakeWorkspace, seeded: SeededPipeline) -> None:
    """Azure ML names a step's MLflow run after the step job: make the fake do the same."""
    runs = seeded.by_display_name()
    workspace.child_namer = lambda parent, display: runs[display]


async def _finished_pipeline(
    backend: AzureMLBackend,
    workspace: FakeWorkspace,
    clock: FakeClock,
    spec: RunSpec,
    seeded: SeededPipeline,
) -> str:
    _name_children_after(workspace, seeded)
    submitted = await backend.submit(spec)
    clock.advance(4 * STEP_SECONDS)
    return submitted.backend_job_name


async def test_full_flow_status_metrics_artifacts_logs_outcome(
    backend: AzureMLBackend,
    workspace: FakeWorkspace,
    clock: FakeClock,
    registry: Registry,
    spec_factory: Callable[..., RunSpec],
) -> None:
    seeded, model_name = registry.promoted, registry.model_name
    spec = spec_factory("pipeline", run_id="flow", model_name=model_name)
    job = await _finished_pipeline(backend, workspace, clock, spec, seeded)

    state = await backend.refresh(spec, job)
    assert state.raw_status == "Completed"
    runs = {s.name: s.mlflow_run_id for s in state.steps if s.mlflow_run_id}
    assert runs == seeded.by_display_name()

    metrics = await backend.metrics(runs)
    assert metrics["train-model"] == {**CANDIDATE_METRICS, "training_accuracy_score": 0.8}
    assert metrics["evaluate-model"]["deploy"] == 1.0

    listed = {a.path: a for a in await backend.artifacts(runs)}
    assert listed["train-model/roc_curve.png"].size == len(PNG_BYTES)
    assert "evaluate-model/decision.json" in listed
    assert "register-model/model_info.json" in listed
    assert "train-model/user_logs/std_log.txt" in listed

    local = await backend.artifact(runs, "train-model/roc_curve.png")
    assert local.read_bytes() == PNG_BYTES
    again = await backend.artifact(runs, "train-model/roc_curve.png")
    assert again == local  # finished runs do not change: served from the local copy
    with pytest.raises(KeyError):
        await backend.artifact(runs, "train-model/no-such.png")
    with pytest.raises(KeyError):
        await backend.artifact(runs, "train-model/../../etc/passwd")
    with pytest.raises(KeyError):
        await backend.artifact(runs, "no-such-step/roc_curve.png")

    assert "train done" in await backend.logs(spec, job, "train-model")
    assert await backend.logs(spec, job, "no-such-step") == ""

    outcome = await backend.outcome(spec, job)
    assert outcome is not None
    assert outcome.deploy is True
    assert outcome.reason.startswith("no champion yet")
    assert outcome.rule == {"metric": "roc_auc", "min_improvement": 0.0}
    assert outcome.candidate_metrics == CANDIDATE_METRICS
    assert outcome.champion_before is None
    assert outcome.registered_model is not None
    assert outcome.registered_model.version == seeded.registered_version
    assert outcome.champion_after == outcome.registered_model

    model = await backend.model(model_name)
    assert model is not None
    assert model.champion_version == seeded.registered_version
    (version,) = model.versions
    assert version.is_champion
    assert version.metrics == CANDIDATE_METRICS
    assert version.tags["data_asset"] == "d:1"


async def test_a_reused_step_reads_metrics_artifacts_and_logs_from_the_original_run(
    backend: AzureMLBackend,
    workspace: FakeWorkspace,
    clock: FakeClock,
    registry: Registry,
    spec_factory: Callable[..., RunSpec],
) -> None:
    """Azure ML reuses an unchanged step: its child run did no work and logged nothing; the
    metrics, plots and logs are the original run's (azureml.reusedrunid)."""
    seeded = registry.promoted
    first = spec_factory("pipeline", run_id="reuse-original", model_name=registry.model_name)
    job = await _finished_pipeline(backend, workspace, clock, first, seeded)
    workspace.child_namer = lambda parent, display: f"{parent}-{display}"  # new runs, no MLflow data
    workspace.resubmit(job, "reuse-again")
    clock.advance(4 * STEP_SECONDS)
    again = spec_factory("pipeline", run_id="reuse-again", model_name=registry.model_name)

    state = await backend.refresh(again, "reuse-again")
    runs = {s.name: s.mlflow_run_id for s in state.steps if s.mlflow_run_id}

    assert state.steps[0].reused
    assert runs["train-model"] == seeded.train
    metrics = await backend.metrics(runs)
    assert metrics["train-model"]["roc_auc"] == CANDIDATE_METRICS["roc_auc"]
    assert "train-model/roc_curve.png" in {a.path for a in await backend.artifacts(runs)}
    assert "train done" in await backend.logs(again, "reuse-again", "train-model")


async def test_outcome_when_the_champion_stays(
    backend: AzureMLBackend,
    workspace: FakeWorkspace,
    clock: FakeClock,
    registry: Registry,
    spec_factory: Callable[..., RunSpec],
) -> None:
    spec = spec_factory("pipeline", run_id="kept", model_name=registry.model_name)
    job = await _finished_pipeline(backend, workspace, clock, spec, registry.kept)

    outcome = await backend.outcome(spec, job)

    assert outcome is not None
    assert outcome.deploy is False
    assert outcome.registered_model is None
    assert outcome.champion_before is not None
    assert outcome.champion_before.version == registry.promoted.registered_version
    assert outcome.champion_after == outcome.champion_before


async def test_outcome_before_evaluation_and_for_jobs(
    backend: AzureMLBackend, spec_factory: Callable[..., RunSpec]
) -> None:
    pipeline = spec_factory("pipeline", run_id="early")
    submitted = await backend.submit(pipeline)
    assert await backend.outcome(pipeline, submitted.backend_job_name) is None
    job = spec_factory("job", run_id="a-job")
    submitted = await backend.submit(job)
    assert await backend.outcome(job, submitted.backend_job_name) is None


async def test_metrics_of_steps_not_logged_yet_are_absent(backend: AzureMLBackend) -> None:
    assert await backend.metrics({"train-model": uuid.uuid4().hex}) == {}
    assert await backend.artifacts({"train-model": uuid.uuid4().hex}) == []


async def test_models_list_the_registry_by_name_with_the_champion(
    backend: AzureMLBackend, registry: Registry
) -> None:
    everything = await backend.models(None, 1000)
    names = [m.name for m in everything]
    assert names == sorted(names)
    (mine,) = [m for m in everything if m.name == registry.model_name]
    assert mine.champion_version == registry.promoted.registered_version
    assert mine.champion_metrics == CANDIDATE_METRICS
    assert mine.version_count >= 1 and mine.latest_version is not None
    before = names.index(registry.model_name)
    after = await backend.models(names[before - 1] if before else None, 1)
    assert [m.name for m in after] == [registry.model_name]


async def test_unknown_model_is_none(backend: AzureMLBackend) -> None:
    assert await backend.model(f"never-registered-{uuid.uuid4().hex[:6]}") is None


async def test_mlflow_tracking_uri_defaults_to_the_workspace(
    backend_factory: Callable[..., AzureMLBackend],
    settings: Any,
    workspace: FakeWorkspace,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import mlflow

    monkeypatch.setattr(mlflow, "set_tracking_uri", lambda uri: None)  # keep the process default
    backend = backend_factory(settings, mlflow_tracking_uri=None)
    reader = await backend._mlflow()
    # azure-ai-ml rewrites the workspace's v1.0 URI to azureml-mlflow's v2.0 form
    assert reader.tracking_uri.startswith(f"azureml://{workspace.api_host}/mlflow/")
    assert reader.tracking_uri.endswith(workspace.scope)


def test_azureml_mlflow_uses_our_credential_and_never_the_interactive_chain(
    monkeypatch: pytest.MonkeyPatch, workspace: FakeWorkspace
) -> None:
    """azureml-mlflow's default for an azureml:// URI chains DefaultAzureCredential with
    InteractiveBrowserCredential and DeviceCodeCredential. After install_credential it must
    build neither, and the bearer token on its requests must come from our credential."""
    import jwt
    import mlflow
    from azureml.mlflow._internal import utils as mlflow_utils
    from azureml.mlflow._store.artifact import utils as artifact_utils

    from app.backends.azureml.mlflow_reader import install_credential

    def forbidden(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("azureml-mlflow fell back to its own credential chain")

    for module in (mlflow_utils, artifact_utils):
        for name in ("InteractiveBrowserCredential", "DeviceCodeCredential", "DefaultAzureCredential"):
            monkeypatch.setattr(module, name, forbidden)
    monkeypatch.setattr(mlflow_utils, "get_service_context_from_tracking_url_default_auth", forbidden)
    previous = mlflow.get_tracking_uri()
    credential = FakeCredential()
    uri = workspace.mlflow_tracking_uri.replace(workspace.name, f"ws-{uuid.uuid4().hex[:6]}")
    try:
        assert install_credential(uri, credential)
        client = mlflow.tracking.MlflowClient(tracking_uri=uri)
        store = client._tracking_client.store
        creds = store.get_host_creds()
        assert creds.host.startswith(f"https://{workspace.api_host}/mlflow/v2.0/subscriptions/")
        claims = jwt.decode(creds.token, options={"verify_signature": False})
        assert claims["aud"] == "https://management.azure.com"
        assert claims["appid"] == credential.client_id
        # artifact downloads take their service context from the default client
        from azureml.mlflow._store.artifact.artifact_repo import AzureMLflowArtifactRepository

        artifact_uri = uri.replace("/mlflow/v1.0/", "/mlflow/v2.0/") + "/experiments/e1/runs/r1/artifacts"
        repository = AzureMLflowArtifactRepository(artifact_uri)
        assert repository.artifacts._service_context.auth is credential
    finally:
        mlflow.set_tracking_uri(previous)
    assert install_credential("http://127.0.0.1:5000", credential) is False


async def test_logs_of_a_running_step_are_fetched_again(
    backend: AzureMLBackend, mlflow_server: MlflowServer, spec_factory: Callable[..., RunSpec], tmp_path: Any
) -> None:
    client = mlflow_server.client()
    experiment = client.get_experiment_by_name("diabetes-training")
    run_id = client.create_run(experiment.experiment_id if experiment else "0").info.run_id
    log = tmp_path / "user_logs" / "std_log.txt"
    log.parent.mkdir()
    log.write_text("epoch 1\n")
    client.log_artifact(run_id, str(log), "user_logs")
    spec = spec_factory("job", run_id="growing")  # a job's only step reads its own run

    assert await backend.logs(spec, run_id, "train-model") == "epoch 1\n"
    log.write_text("epoch 1\nepoch 2\n")
    client.log_artifact(run_id, str(log), "user_logs")
    assert await backend.logs(spec, run_id, "train-model") == "epoch 1\nepoch 2\n"
