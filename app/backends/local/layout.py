"""Where the local backend keeps things: one data directory holds all of it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class DataLayout:
    root: Path

    @property
    def mlflow_db(self) -> Path:
        return self.root / "mlflow.db"

    @property
    def tracking_uri(self) -> str:
        return f"sqlite:///{self.mlflow_db}"

    @property
    def mlflow_artifacts(self) -> Path:
        return self.root / "mlruns"

    @property
    def assets(self) -> Path:
        return self.root / "assets"

    @property
    def work(self) -> Path:
        return self.root / "work"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def runtime(self) -> Path:
        """Scratch space of the engine itself (warm-up data, matplotlib cache)."""
        return self.root / "runtime"

    def step_dir(self, run_id: str, step: str, attempt: int) -> Path:
        return self.work / run_id / f"{step}.{attempt}"

    def step_log(self, run_id: str, step: str, attempt: int) -> Path:
        return self.logs / run_id / f"{step}.{attempt}.log"

    def ensure(self) -> None:
        for path in (self.root, self.assets, self.work, self.logs, self.runtime, self.mlflow_artifacts):
            path.mkdir(parents=True, exist_ok=True)
