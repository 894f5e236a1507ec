"""Fixtures for the component tests: the scripts loaded by path and a throwaway MLflow store."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

# Before anything imports mlflow: its import contacts a telemetry host otherwise.
os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"

ROOT = Path(__file__).resolve().parents[2]
COMPONENTS = ROOT / "components"
STEPS = ("train", "evaluate", "register")
MODEL_NAME = "diabetes-model"
# Variables a developer's shell or the engine may have set; each test starts without them.
STEP_ENV = (
    "MLFLOW_RUN_ID",
    "MLFLOW_EXPERIMENT_ID",
    "MLFLOW_EXPERIMENT_NAME",
    "TRAINCTL_RUN_ID",
    "TRAINCTL_STEP",
    "TRAINCTL_STEP_INFO",
    "TRAINCTL_SKLEARN_AUTOLOG",
    "TRAINCTL_PARENT_RUN_ID",
)


@pytest.fixture(scope="session")
def scripts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ModuleType]:
    """The three component scripts, imported by path as the local engine does."""
    # matplotlib reads MPLCONFIGDIR once, when the scripts first import it.
    os.environ.setdefault("MPLCONFIGDIR", str(tmp_path_factory.mktemp("mplconfig")))
    modules = {}
    for step in STEPS:
        name = f"trainctl_component_{step}"
        if name not in sys.modules:
            spec = importlib.util.spec_from_file_location(name, COMPONENTS / step / "src" / f"{step}.py")
            assert spec is not None
            assert spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            # No __pycache__ in the code folders Azure ML uploads.
            saved, sys.dont_write_bytecode = sys.dont_write_bytecode, True
            try:
                spec.loader.exec_module(module)
            finally:
                sys.dont_write_bytecode = saved
        modules[step] = sys.modules[name]
    return modules


@pytest.fixture(scope="session")
def sample_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from app.sampledata import write_csv

    return write_csv(tmp_path_factory.mktemp("data") / "diabetes.csv", rows=2000, seed=7)


@pytest.fixture(scope="session")
def empty_mlflow_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An MLflow sqlite database with its schema: migrating a new one takes seconds."""
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    folder = tmp_path_factory.mktemp("mlflow-template")
    path = folder / "mlflow.db"
    store = SqlAlchemyStore(f"sqlite:///{path}", (folder / "unused-artifacts").as_uri())
    store.engine.dispose()
    return path


@pytest.fixture
def mlflow_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, scripts: dict[str, ModuleType], empty_mlflow_db: Path
) -> Path:
    """A fresh sqlite MLflow store whose experiment keeps its artifacts under tmp_path."""
    import mlflow
    from mlflow import MlflowClient

    for name in STEP_ENV:
        monkeypatch.delenv(name, raising=False)
    # Anything MLflow would put relative to the working directory stays in the sandbox.
    monkeypatch.chdir(tmp_path)
    shutil.copyfile(empty_mlflow_db, tmp_path / "mlflow.db")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    # A process-wide URI set by an earlier test (the Azure backend sets one) would win over
    # the environment: clear it, as a fresh step process would start.
    monkeypatch.setattr(mlflow.tracking._tracking_service.utils, "_tracking_uri", None)
    monkeypatch.setattr(mlflow.tracking._model_registry.utils, "_registry_uri", None, raising=False)
    MlflowClient(uri).create_experiment("components", artifact_location=(tmp_path / "mlartifacts").as_uri())
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "components")
    return tmp_path


@dataclass
class StepRun:
    rc: int
    out: Path
    info: dict[str, str]

    def json(self, name: str) -> Any:
        return json.loads((self.out / name).read_text())


class Steps:
    """Runs each component's main() in-process with the arguments its YAML would pass."""

    def __init__(self, scripts: dict[str, ModuleType], root: Path, monkeypatch: pytest.MonkeyPatch):
        self.scripts, self.root, self.monkeypatch = scripts, root, monkeypatch

    def _run(self, step: str, folder: Path, argv: list[str], output: str) -> StepRun:
        info_path = folder / f"{step}-step-info.json"
        self.monkeypatch.setenv("TRAINCTL_STEP_INFO", str(info_path))
        rc = self.scripts[step].main(argv)
        info = json.loads(info_path.read_text()) if info_path.exists() else {}
        return StepRun(rc, folder / output, info)

    def train(self, tag: str, data: Path, *extra: str) -> StepRun:
        folder = self.root / tag
        argv = ["--training_data", str(data), "--model_output", str(folder / "model")]
        return self._run("train", folder, [*argv, "--test_data", str(folder / "test"), *extra], "test")

    def evaluate(self, tag: str, *extra: str) -> StepRun:
        folder = self.root / tag
        argv = ["--model_input", str(folder / "model"), "--test_data", str(folder / "test")]
        argv += ["--model_name", MODEL_NAME, "--evaluation_output", str(folder / "evaluation")]
        return self._run("evaluate", folder, [*argv, *extra], "evaluation")

    def register(self, tag: str, data_asset: str = "diabetes-diagnostics:1") -> StepRun:
        folder = self.root / tag
        argv = ["--model_input", str(folder / "model"), "--evaluation_output", str(folder / "evaluation")]
        argv += ["--model_name", MODEL_NAME, "--data_asset", data_asset]
        return self._run(
            "register", folder, [*argv, "--register_output", str(folder / "registered")], "registered"
        )

    def pipeline(self, tag: str, data: Path, reg_rate: float = 0.01) -> tuple[StepRun, StepRun, StepRun]:
        self.monkeypatch.setenv("TRAINCTL_RUN_ID", tag)
        trained = self.train(tag, data, "--reg_rate", str(reg_rate))
        evaluated = self.evaluate(tag)
        return trained, evaluated, self.register(tag)


@pytest.fixture
def steps(scripts: dict[str, ModuleType], mlflow_store: Path, monkeypatch: pytest.MonkeyPatch) -> Steps:
    return Steps(scripts, mlflow_store / "steps", monkeypatch)


@pytest.fixture
def write_csv(tmp_path: Path) -> Callable[[str, str], Path]:
    """Write raw CSV text to a file in tmp_path and return its path."""

    def write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path

    return write
