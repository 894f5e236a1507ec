"""The API description as typed clients need it: short stable operationIds, the problem+json
schema (with an example) on every error answer, and a client generated from the live
/openapi.json by openapi-python-client (offline) that submits, waits, reads the outcome and
gets a typed 422."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.fakebackend import build
from tests.support.http import LiveServer

# Decided by design and published: generated clients name their functions after these.
OPERATION_IDS = {
    ("post", "/v1/training-runs"): "submitRun",
    ("get", "/v1/training-runs"): "listRuns",
    ("get", "/v1/training-runs/{run_id}"): "getRun",
    ("get", "/v1/training-runs/{run_id}/wait"): "waitRun",
    ("post", "/v1/training-runs/{run_id}/cancel"): "cancelRun",
    ("get", "/v1/training-runs/{run_id}/metrics"): "getRunMetrics",
    ("get", "/v1/training-runs/{run_id}/outcome"): "getOutcome",
    ("get", "/v1/training-runs/{run_id}/artifacts"): "listArtifacts",
    ("get", "/v1/training-runs/{run_id}/artifacts/{path}"): "getArtifact",
    ("get", "/v1/training-runs/{run_id}/logs"): "getRunLogs",
    ("get", "/v1/training-runs/{run_id}/trials"): "listTrials",
    ("get", "/v1/models"): "listModels",
    ("get", "/v1/models/{name}"): "getModel",
    ("get", "/v1/data-assets"): "listDataAssets",
    ("post", "/v1/data-assets"): "createDataAsset",
    ("get", "/v1/data-assets/{name}"): "getDataAsset",
    ("get", "/v1/events"): "streamEvents",
    ("get", "/healthz"): "getHealth",
    ("get", "/readyz"): "getReadiness",
    ("get", "/v1/backend"): "getBackend",
}
PROBLEM_JSON = "application/problem+json"


@pytest.fixture(scope="module")
def spec_and_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, Any], LiveServer]]:
    with LiveServer(build(tmp_path_factory.mktemp("openapi") / "data").app) as live:
        yield httpx.get(f"{live.url}/openapi.json", timeout=10).json(), live


def operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            yield method, path, operation


def test_every_operation_has_its_short_stable_id(spec_and_server: tuple[dict[str, Any], LiveServer]) -> None:
    spec, _ = spec_and_server
    found = {(method, path): op["operationId"] for method, path, op in operations(spec)}
    assert found == OPERATION_IDS


def test_every_error_answer_declares_the_problem_schema_with_an_example(
    spec_and_server: tuple[dict[str, Any], LiveServer],
) -> None:
    spec, _ = spec_and_server
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    checked = 0
    for method, path, operation in operations(spec):
        for status, response in operation["responses"].items():
            if int(status) < 400 or (path, status) == ("/readyz", "503"):  # readiness has its own body
                continue
            where = f"{method} {path} {status}"
            assert list(response["content"]) == [PROBLEM_JSON], where
            body = response["content"][PROBLEM_JSON]
            assert body["schema"] == {"$ref": "#/components/schemas/Problem"}, where
            assert body["example"]["status"] == int(status), where
            checked += 1
        assert "500" in operation["responses"], f"{method} {path} can fail unexpectedly too"
    assert checked > 80


def test_a_generated_client_submits_waits_reads_the_outcome_and_parses_a_422(
    spec_and_server: tuple[dict[str, Any], LiveServer], tmp_path: Path
) -> None:
    spec, live = spec_and_server
    (tmp_path / "openapi.json").write_text(json.dumps(spec))
    tools = Path(sys.executable).parent  # its post-hooks run ruff from here; no network needed
    generated = subprocess.run(
        [str(tools / "openapi-python-client"), "generate", "--path", "openapi.json", "--meta", "none",
         "--output-path", str(tmp_path / "trainctl_client")],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
        env={"PATH": f"{tools}:/usr/bin:/bin", "HOME": str(tmp_path)},
    )  # fmt: skip
    assert generated.returncode == 0, generated.stdout + generated.stderr

    sys.path.insert(0, str(tmp_path))
    try:
        client_module: Any = importlib.import_module("trainctl_client")
        models: Any = importlib.import_module("trainctl_client.models")
        submit = importlib.import_module("trainctl_client.api.training_runs.submit_run")
        wait = importlib.import_module("trainctl_client.api.training_runs.wait_run")
        outcome = importlib.import_module("trainctl_client.api.training_runs.get_outcome")
        client = client_module.Client(base_url=live.url, timeout=httpx.Timeout(30))

        body = models.TrainingRunCreate.from_dict({"kind": "pipeline", "model_name": "typed-client"})
        created = submit.sync(client=client, body=body, idempotency_key="typed-client-1")
        assert isinstance(created, models.TrainingRunRead), created
        done = wait.sync(created.id, client=client, timeout=30)
        assert isinstance(done, models.TrainingRunRead) and done.status == models.RunStatus.COMPLETED
        decision = outcome.sync(created.id, client=client)
        assert isinstance(decision, models.OutcomeRead) and decision.deploy is True

        bad = models.TrainingRunCreate.from_dict({"kind": "pipeline"})
        bad.hyperparameters = models.Hyperparameters.from_dict({"reg_rate": -1})
        answer = submit.sync_detailed(client=client, body=bad)
        assert answer.status_code == 422
        problem = answer.parsed
        assert isinstance(problem, models.Problem), problem
        assert problem.status == 422
        assert [p.name for p in problem.invalid_params] == ["body.hyperparameters.reg_rate"]
    finally:
        sys.path.remove(str(tmp_path))
        for name in [m for m in sys.modules if m.startswith("trainctl_client")]:
            del sys.modules[name]
