"""A training backend whose runs finish the moment they are submitted (or are held running),
with real artifact-path checks: for tests of everything above the backend protocol."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from fastapi import FastAPI

from app.backends.local.mlflow_reader import MlflowReader
from app.backends.protocol import BackendInfo, ReadyReport
from app.domain.errors import InvalidInput
from app.domain.outcome import ModelRef, Outcome
from app.domain.spec import DataAssetRef, DataAssetSelector, RunSpec
from app.domain.state import (
    ArtifactInfo,
    ModelSummaryInfo,
    RegisteredModelInfo,
    RunState,
    StepState,
    Submitted,
)
from app.domain.steps import PIPELINE_STEPS, StepName
from app.main import create_app
from app.settings import Settings


class DirReader(MlflowReader):
    """The local backend's reader, with artifact folders in a plain directory instead of MLflow."""

    def __init__(self, root: Path) -> None:
        super().__init__("sqlite:///unused")
        self.root = root

    def _artifact_root(self, run_id: str) -> Path:
        return (self.root / run_id).resolve()


@dataclass
class FakeBackend:
    """Behaves like a backend whose runs finish the moment they are submitted."""

    artifact_root: Path
    hold_all: bool = False  # keep every run running (until canceled)
    canceled: set[str] = field(default_factory=set)
    released: set[str] = field(default_factory=set)
    #: Names the backend says do not exist (POST answers 422 naming the field).
    unknown_data_assets: set[str] = field(default_factory=set)
    unknown_computes: set[str] = field(default_factory=set)
    #: What the registry holds, by model name: tests fill it in.
    registry: dict[str, RegisteredModelInfo] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.reader = DirReader(self.artifact_root)

    kind: Literal["local"] = "local"
    poll_seconds: float = 0.2

    async def start(self) -> None:
        self.artifact_root.mkdir(parents=True, exist_ok=True)

    async def store_ready(self) -> None:
        return None

    async def lead(self) -> None:
        return None

    async def step_down(self) -> None:
        return None

    async def resolve_data_asset(self, selector: DataAssetSelector) -> DataAssetRef:
        if selector.name in self.unknown_data_assets:
            raise InvalidInput(
                f"data asset {selector.name} does not exist",
                invalid=[("body.data_asset", f"data asset {selector.name} does not exist")],
            )
        return DataAssetRef(name=selector.name, version=selector.version)

    async def check_computes(self, compute: str | None, step_compute: Mapping[str, str]) -> None:
        fields = {"body.compute": compute, **{f"body.step_compute.{s}": n for s, n in step_compute.items()}}
        invalid = [
            (f, f"compute {n} does not exist") for f, n in fields.items() if n in self.unknown_computes
        ]
        if invalid:
            raise InvalidInput("unknown computes", invalid=invalid)

    async def wait_for_change(self) -> None:
        await asyncio.sleep(self.poll_seconds)

    def release(self, run_id: str) -> None:
        self.released.add(run_id)

    async def close(self, grace_seconds: float = 0.0) -> None:
        return None

    def describe(self) -> BackendInfo:
        return BackendInfo(kind="local", details={"engine": "fake"})

    async def ready(self) -> ReadyReport:
        return ReadyReport(ready=True, checks={"backend": "ok"})

    def _steps(self, spec: RunSpec) -> tuple[str, ...]:
        return PIPELINE_STEPS if spec.kind == "pipeline" else (StepName.TRAIN,)

    async def submit(self, spec: RunSpec) -> Submitted:
        for step in self._steps(spec):
            folder = self.artifact_root / f"{spec.run_id}-{step}"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "plot.png").write_bytes(b"\x89PNG\r\n\x1a\nfake")
        return Submitted(backend_job_name=f"fake-{spec.run_id}", raw_status="Running")

    async def refresh(self, spec: RunSpec, backend_job_name: str) -> RunState:
        now = datetime.now(UTC)
        raw = "Canceled" if spec.run_id in self.canceled else "Running" if self.hold_all else "Completed"
        steps = [
            StepState(
                name=step,
                raw_status=raw,
                started_at=now - timedelta(seconds=1),
                ended_at=None if raw == "Running" else now,
                mlflow_run_id=f"{spec.run_id}-{step}",
            )
            for step in self._steps(spec)
        ]
        return RunState(raw_status=raw, steps=steps, started_at=now - timedelta(seconds=1), ended_at=now)

    async def cancel(self, spec: RunSpec, backend_job_name: str) -> None:
        self.canceled.add(spec.run_id)

    async def metrics(self, step_mlflow_run_ids: dict[str, str]) -> dict[str, dict[str, float]]:
        return {step: {"accuracy": 0.9} for step in step_mlflow_run_ids}

    async def params(self, step_mlflow_run_ids: dict[str, str]) -> dict[str, dict[str, str]]:
        return {step: {"reg_rate": "0.01", "solver": "lbfgs"} for step in step_mlflow_run_ids}

    async def artifacts(self, step_mlflow_run_ids: dict[str, str]) -> list[ArtifactInfo]:
        return self.reader.artifacts(step_mlflow_run_ids)

    async def artifact(self, step_mlflow_run_ids: dict[str, str], path: str) -> Path:
        return self.reader.artifact_file(step_mlflow_run_ids, path)

    async def logs(self, spec: RunSpec, backend_job_name: str, step: str) -> str:
        raise KeyError(step)

    async def outcome(self, spec: RunSpec, backend_job_name: str) -> Outcome | None:
        if spec.kind != "pipeline":
            return None
        model = ModelRef(name=spec.model_name, version="1", metrics={"roc_auc": 0.9})
        return Outcome(
            deploy=True,
            reason="no champion yet",
            rule={"metric": "roc_auc"},
            candidate_metrics={"roc_auc": 0.9},
            champion_before=None,
            champion_after=model,
            registered_model=model,
        )

    async def model(self, name: str) -> RegisteredModelInfo | None:
        return self.registry.get(name)

    async def models(self, after: str | None, limit: int) -> list[ModelSummaryInfo]:
        names = sorted(n for n in self.registry if after is None or n > after)[:limit]
        found = []
        for name in names:
            info = self.registry[name]
            champion = next((v for v in info.versions if v.is_champion), None)
            found.append(
                ModelSummaryInfo(
                    name=name,
                    champion_version=info.champion_version,
                    champion_metrics=champion.metrics if champion else {},
                    latest_version=info.versions[-1].version if info.versions else None,
                    version_count=len(info.versions),
                    updated_at=info.versions[-1].created_at if info.versions else None,
                )
            )
        return found


@dataclass
class Built:
    app: FastAPI
    backend: FakeBackend
    settings: Settings


AppFactory = Callable[..., Built]


def build(data_dir: Path, **overrides: Any) -> Built:
    values: dict[str, Any] = {"data_dir": data_dir, "backend": "local", "warm_runner": False}
    values.update(overrides)
    settings = Settings(**values)
    backend = FakeBackend(data_dir / "fake-artifacts")
    return Built(create_app(settings, backend=backend), backend, settings)
