"""At POST, names Azure ML would refuse later (data assets, pinned data versions, computes) are a
422 naming the field, from a short-lived cache; a workspace that cannot answer now accepts the
run (the reconciler submits it later and reports Azure's own answer)."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from fakeaml import FakeWorkspace, Fault

from app.backends.azureml import AzureMLBackend, names
from app.domain.errors import InvalidInput
from app.domain.spec import DataAssetSelector, RunSpec
from tests.support.asgi import AppThread

pytestmark = pytest.mark.anyio


def test_unknown_names_are_a_422_naming_each_field(service: AppThread, workspace: FakeWorkspace) -> None:
    refused = service.post(
        "/v1/training-runs",
        json={
            "kind": "pipeline",
            "data_asset": {"name": "diabetes-diagnostics", "version": "9"},
            "compute": "no-such-cluster",
            "step_compute": {"train-model": "no-such-gpu", "register-model": "cpu-cluster"},
        },
    )

    assert refused.status_code == 422, refused.text
    problem = refused.json()
    assert {p["name"]: p["reason"] for p in problem["invalid-params"]} == {
        "body.data_asset": "data asset diabetes-diagnostics:9 does not exist in the workspace",
        "body.compute": "compute no-such-cluster does not exist in workspace ws-trainctl",
        "body.step_compute.train-model": "compute no-such-gpu does not exist in workspace ws-trainctl",
    }
    missing = service.post("/v1/training-runs", json={"kind": "job", "data_asset": {"name": "nope"}})
    assert missing.status_code == 422
    assert {p["name"] for p in missing.json()["invalid-params"]} == {"body.data_asset", "body.compute"}
    assert service.get("/v1/training-runs").json()["items"] == []
    assert workspace.transport.requests("PUT") == []

    accepted = service.post("/v1/training-runs", json={"kind": "job", "compute": "cpu-cluster"})
    assert accepted.status_code == 202, accepted.text


async def test_a_name_is_looked_up_once_then_cached(
    backend: AzureMLBackend, workspace: FakeWorkspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    latest = DataAssetSelector(name="diabetes-diagnostics")
    with workspace.transport.recording() as first:
        await backend.resolve_data_asset(latest)
        await backend.check_computes("cpu-cluster", {"train-model": "gpu-cluster"})
    with workspace.transport.recording() as again:
        await backend.resolve_data_asset(latest)
        await backend.check_computes("gpu-cluster", {"train-model": "cpu-cluster"})

    assert len(first) == 3  # the data asset's newest version, two computes
    assert again == []

    with pytest.raises(InvalidInput):
        await backend.check_computes("new-cluster", {})
    workspace.add_compute("new-cluster")
    with pytest.raises(InvalidInput):  # still within the short memory of a missing name
        await backend.check_computes("new-cluster", {})
    monkeypatch.setattr(names, "MISSING_TTL_SECONDS", 0.0)
    await backend.check_computes("new-cluster", {})  # created a moment ago: accepted


async def test_a_pinned_version_checked_at_post_needs_no_request_at_submission(
    backend: AzureMLBackend, workspace: FakeWorkspace, spec_factory: Callable[..., RunSpec]
) -> None:
    ref = await backend.resolve_data_asset(DataAssetSelector(name="diabetes-diagnostics", version="1"))
    with workspace.transport.recording() as submission:
        await backend.submit(spec_factory("job", data_asset=ref))

    assert [r for r in submission if "/data/" in r.path] == []


@pytest.mark.parametrize(
    "fault", [Fault(None, "/", status=503, times=100), Fault(None, "/", delay_seconds=8, times=100)]
)
async def test_a_workspace_that_cannot_answer_accepts_the_run(
    backend: AzureMLBackend, workspace: FakeWorkspace, fault: Fault
) -> None:
    workspace.transport.inject(fault)

    started = time.monotonic()
    ref = await backend.resolve_data_asset(DataAssetSelector(name="no-such-data"))
    await backend.check_computes("no-such-cluster", {"train-model": "no-such-gpu"})

    assert time.monotonic() - started < 2 * names.CHECK_SECONDS + 1
    assert (ref.name, ref.version) == ("no-such-data", "latest")


async def test_a_compute_is_required_on_azure_ml(backend: AzureMLBackend) -> None:
    with pytest.raises(InvalidInput) as caught:
        await backend.check_computes(None, {})

    assert caught.value.invalid == [
        ("body.compute", "required on Azure ML: the compute cluster the run uses")
    ]
