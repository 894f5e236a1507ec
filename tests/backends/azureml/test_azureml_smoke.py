"""`trainctl doctor --smoke` end to end against the fake workspace: a real command job on a
trainctl-owned sample, metrics read back over MLflow, the identity's writes probed and cleaned
up; and each failure as one line with its fix."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from backendkit import COMPONENTS
from fakeaml import FakeClock, FakeCredential, FakeWorkspace
from fakeaml.mlflow_server import CANDIDATE_METRICS, MlflowServer, seed_job_run

from app.backends.azureml.smoke import EXPERIMENT, PROBE, SAMPLE_ASSET, SmokeOptions, smoke
from app.backends.azureml.submit import job_name_for
from app.backends.protocol import ReadyReport
from app.settings import Settings
from tests.cli.conftest import invoke

pytestmark = pytest.mark.anyio

NONCE = "5a0e1234"
JOB = job_name_for(f"smoke-{NONCE}")
CLOSED_PORT = "http://127.0.0.1:9"
Smoke = Callable[..., Any]


@pytest.fixture
def run_smoke(
    settings: Settings, workspace: FakeWorkspace, credential: FakeCredential, clock: FakeClock
) -> Smoke:
    """The smoke test on the fake; the fake's clock moves while it waits."""

    async def advance(seconds: float) -> None:
        clock.advance(seconds)

    async def run(tracking_uri: str = CLOSED_PORT, **options: Any) -> ReadyReport:
        values: dict[str, Any] = {"compute": "cpu-cluster", "timeout_seconds": 1800.0} | options
        return await smoke(
            settings,
            SmokeOptions(**values),
            credential=credential,
            transport=workspace.transport,
            mlflow_tracking_uri=tracking_uri,
            components_dir=COMPONENTS,
            sleep=advance,
            nonce=NONCE,
        )

    return run


def _failing(report: ReadyReport) -> dict[str, str]:
    return {name: value for name, value in report.checks.items() if not value.startswith("ok")}


@pytest.mark.slow
async def test_a_smoke_job_runs_and_its_metrics_come_back(
    run_smoke: Smoke, workspace: FakeWorkspace, mlflow_server: MlflowServer
) -> None:
    seed_job_run(mlflow_server, JOB, EXPERIMENT, CANDIDATE_METRICS)

    report = await run_smoke(mlflow_server.uri)

    assert report.ready, report.checks
    checks = report.checks
    assert list(checks) == [
        "token", "workspace", "compute", "environment", "data asset", "sample data", "write environments",
        "write components", "write code", "write models", "submit", "run", "metrics", "cleanup",
    ]  # fmt: skip
    assert checks["data asset"] == "ok (diabetes-diagnostics:2, uri_file)"
    assert checks["sample data"] == f"ok (uploaded {SAMPLE_ASSET}:1, 300 rows)"
    assert checks["submit"].startswith(f"ok ({JOB} on cpu-cluster; https://ml.azure.com/runs/{JOB}")
    assert checks["run"].startswith("ok (Completed after ")
    assert checks["metrics"] == "ok (roc_auc 0.850, accuracy 0.780)"
    assert checks["cleanup"].startswith(
        f"ok (archived {PROBE}, trainctl_smoke_probe, {PROBE} version {NONCE}"
    )
    # the job trained on the sample, in its own experiment, with trainctl's environment
    body = workspace.job(JOB).body["properties"]
    assert body["experimentName"] == EXPERIMENT
    assert body["inputs"]["training_data"]["uri"].endswith(f"data/{SAMPLE_ASSET}/versions/1")
    assert body["tags"]["trainctl.smoke"] == "true"
    sample = workspace.asset("data", SAMPLE_ASSET, "1")
    assert sample is not None and sample["properties"]["dataType"] == "uri_file"
    for kind, name in (("environments", PROBE), ("components", "trainctl_smoke_probe"), ("models", PROBE)):
        probe = workspace.asset(kind, name, NONCE)
        assert probe is not None and probe["properties"]["isArchived"] is True, (kind, probe)
    assert workspace.unrouted == []


async def test_the_sample_is_uploaded_once(run_smoke: Smoke, workspace: FakeWorkspace) -> None:
    first = await run_smoke()
    again = await run_smoke()

    assert first.checks["sample data"] == f"ok (uploaded {SAMPLE_ASSET}:1, 300 rows)"
    assert again.checks["sample data"] == f"ok ({SAMPLE_ASSET}:1, uploaded earlier)"
    assert len(workspace.transport.requests("PUT", f"/data/{SAMPLE_ASSET}/")) == 1
    # without a reachable MLflow endpoint the job still ran; the metrics line says what failed
    assert first.checks["run"].startswith("ok (Completed")
    assert first.checks["metrics"].startswith(
        "could not read the smoke job's metrics through the workspace's MLflow endpoint"
    )
    assert "AzureML Data Scientist" in first.checks["metrics"]


@pytest.mark.parametrize(
    ("forbidden", "line", "fix"),
    [
        ("environments", "write environments", "AzureML Data Scientist role on the workspace"),
        ("codes", "write code", "AzureML Data Scientist role on the workspace"),
        ("components", "write components", "AzureML Data Scientist role on the workspace"),
        ("models", "write models", "AzureML Data Scientist role on the workspace"),
        ("data", "sample data", "AzureML Data Scientist role on the workspace"),
        ("blobs", "sample data", "Storage Blob Data Contributor on the workspace's storage account"),
        ("jobs", "submit", "AzureML Data Scientist role on the workspace"),
    ],
)
async def test_each_write_the_identity_may_not_make_is_a_line_with_its_fix(
    run_smoke: Smoke, workspace: FakeWorkspace, forbidden: str, line: str, fix: str
) -> None:
    workspace.forbidden_writes = {forbidden}

    report = await run_smoke()

    assert not report.ready
    assert fix in report.checks[line], report.checks[line]
    assert "Fix: " in report.checks[line]
    if forbidden == "codes":
        assert report.checks["write components"] == "not checked: the code upload failed"
    if forbidden in ("data", "blobs", "jobs"):
        assert report.checks["run"] == "not checked: an earlier check failed"


async def test_a_storage_refusal_of_the_component_code_is_named_quickly(
    run_smoke: Smoke, workspace: FakeWorkspace
) -> None:
    """With the sample uploaded earlier, the code snapshot is the first write to storage."""
    await run_smoke()
    workspace.forbidden_writes = {"blobs"}

    report = await run_smoke()

    assert "Storage Blob Data Contributor" in report.checks["write code"], report.checks["write code"]
    assert report.checks["write components"] == "not checked: the code upload failed"
    assert "within" not in report.checks["write code"]  # refused, not waited out


async def test_a_missing_compute_or_data_asset_is_named_with_its_fix(
    run_smoke: Smoke, workspace: FakeWorkspace
) -> None:
    report = await run_smoke(compute="big-gpu", data_asset="no-such-data")

    failing = _failing(report)
    assert failing["compute"] == "compute big-gpu does not exist in workspace ws-trainctl."
    assert failing["data asset"] == (
        "data asset no-such-data does not exist in the workspace. Fix: register it (az ml data create "
        "--name no-such-data --type uri_file --path FILE.csv), or name the asset runs use with "
        "--data_asset_name."
    )
    assert failing["submit"] == "not checked: an earlier check failed"
    assert workspace.jobs == {}


@pytest.mark.parametrize(
    ("setup", "expected", "fix"),
    [
        ("script", "ended Failed: Azure ML job failed at step train-model: Execution failed.", "logs"),
        (
            "image",
            "the image of environment trainctl-diabetes",
            "AcrPull on the workspace's container registry",
        ),
    ],
)
async def test_a_job_that_fails_on_the_compute_says_why_and_what_to_do(
    run_smoke: Smoke, workspace: FakeWorkspace, setup: str, expected: str, fix: str
) -> None:
    if setup == "script":
        workspace.fail_command_jobs = True
    else:
        workspace.failing_environments = {"trainctl-diabetes"}

    report = await run_smoke()

    run = report.checks["run"]
    assert not report.ready
    assert run.startswith(f"the smoke job {JOB} ")
    assert expected in run, run
    assert fix in run.split("Fix: ", 1)[1]
    assert report.checks["metrics"] == "not checked: an earlier check failed"


async def test_a_job_that_does_not_finish_in_time_is_canceled(
    run_smoke: Smoke, workspace: FakeWorkspace
) -> None:
    workspace.image_build_seconds = 3600.0  # the first job on the environment waits for its image

    report = await run_smoke(timeout_seconds=300.0)

    assert report.checks["run"].startswith(
        f"the smoke job {JOB} did not finish within 300s (last status Preparing); it was canceled. "
        "Fix: the first job on a new environment version builds its image"
    )
    assert workspace.transport.requests("POST", f"/jobs/{JOB}/cancel")
    assert report.checks["cleanup"].startswith("ok (archived")


async def test_without_a_token_nothing_else_is_tried(
    settings: Settings, workspace: FakeWorkspace, clock: FakeClock
) -> None:
    failing = FakeCredential()
    failing.fail_with = "no response from the IMDS endpoint"

    report = await smoke(
        settings, SmokeOptions("cpu-cluster"), credential=failing, transport=workspace.transport
    )

    assert not report.ready
    assert "no response from the IMDS endpoint" in report.checks["token"]
    assert set(_failing(report)) - {"token"} == {
        "workspace", "compute", "environment", "data asset", "sample data", "write environments",
        "write code", "write components", "write models", "submit", "run", "metrics",
    }  # fmt: skip
    assert workspace.transport.log == []


def test_the_cli_prints_one_line_per_check(
    workspace: FakeWorkspace, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`trainctl doctor --smoke` as a person runs it: the real credential, which finds no
    identity here (loopback only), so the token line fails at once and says so."""
    monkeypatch.setenv("AZUREML_ARM_SUBSCRIPTION", workspace.subscription)
    monkeypatch.setenv("AZUREML_ARM_RESOURCEGROUP", workspace.resource_group)
    monkeypatch.setenv("AZUREML_ARM_WORKSPACE_NAME", workspace.name)
    monkeypatch.setenv("TRAINCTL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TRAINCTL_PREFLIGHT_TIMEOUT_SECONDS", "2")
    monkeypatch.delenv("MANAGED_IDENTITY_CLIENT_ID", raising=False)

    result = invoke("doctor", "--smoke", "--compute_name", "cpu-cluster", "--timeout", "60")

    assert result.code == 1, result
    lines = result.out.splitlines()
    assert "this process (--smoke)" in lines[0]
    rows = {line.split()[1]: line.split()[0] for line in lines if line.startswith(("ok ", "FAIL ", "note "))}
    assert rows["token"] == "FAIL"
    assert rows["submit"] == rows["metrics"] == "FAIL"  # not checked: an earlier check failed
    assert result.out.rstrip().endswith("ready: no (fix the FAIL lines above)")

    unnamed = json.loads(invoke("doctor", "--smoke", "--json").out)
    assert unnamed["checks"] == {
        "compute": "name the compute cluster the smoke job runs on: --compute_name NAME"
    }


def test_the_cli_on_the_local_backend_says_there_is_nothing_to_smoke_test(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("AZUREML_ARM_SUBSCRIPTION", "AZUREML_ARM_RESOURCEGROUP", "AZUREML_ARM_WORKSPACE_NAME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TRAINCTL_DATA_DIR", str(tmp_path / "data"))

    result = invoke("doctor", "--smoke", "--json")

    report = json.loads(result.out)
    assert result.code == 1
    assert report["backend"] == "local"
    assert report["checks"]["smoke"].startswith("the smoke test runs a job on an Azure ML workspace")
