"""Settings and run specs for tests that drive the Azure ML backend against the fake workspace.

Plain functions, importable from fixtures of any scope (conftest's fixtures are per test).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fakeaml import FakeWorkspace

from app.domain.spec import DEFAULT_ENVIRONMENT, DataAssetRef, RunSpec
from app.settings import Settings

# the repository root, wherever this test tree is moved within it
REPO = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").is_file())
COMPONENTS = REPO / "components"
CLIENT_ID = "11111111-2222-3333-4444-555555555555"


def make_settings(workspace: FakeWorkspace, data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "AZUREML_ARM_SUBSCRIPTION": workspace.subscription,
        "AZUREML_ARM_RESOURCEGROUP": workspace.resource_group,
        "AZUREML_ARM_WORKSPACE_NAME": workspace.name,
        "MANAGED_IDENTITY_CLIENT_ID": CLIENT_ID,
        "data_dir": data_dir,
        # generous: the first pipeline build validates schemas, slow on a loaded 2-core box
        "azure_call_timeout_seconds": 30.0,
        "preflight_timeout_seconds": 5.0,
    }
    values.update(overrides)
    return Settings.model_validate(values)


def make_spec(kind: str = "pipeline", run_id: str = "run-0001", **overrides: Any) -> RunSpec:
    values: dict[str, Any] = {
        "run_id": run_id,
        "kind": kind,
        "experiment_name": "diabetes-training",
        "model_name": "diabetes-classifier",
        "data_asset": DataAssetRef(name="diabetes-diagnostics", version="latest"),
        "hyperparameters": {"reg_rate": 0.05, "solver": "liblinear"},
        "compute": "cpu-cluster",
        "environment": DEFAULT_ENVIRONMENT,
        "tags": {"team": "ml"},
    }
    values.update(overrides)
    return RunSpec.model_validate(values)
