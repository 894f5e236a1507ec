"""Where the local backend keeps things: one data directory holds all of it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from app.backends.local.mlflow_store import matplotlib_cache


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

    def next_attempt(self, run_id: str, step: str) -> int:
        """A step that runs again (after a restart) gets a fresh folder and log of its own."""
        folder = self.work / run_id
        if not folder.is_dir():
            return 1
        # Exactly "<step>.<n>": a sweep's trials ("<step>.trial-03.<n>") are steps of their own.
        taken = [
            int(p.suffix[1:]) for p in folder.glob(f"{step}.*") if p.stem == step and p.suffix[1:].isdigit()
        ]
        return max(taken, default=0) + 1

    def step_env(self, experiment: str, run_id: str, step: str, info_path: Path) -> dict[str, str]:
        """What a step process finds in its environment, besides the service's own."""
        return {
            "MLFLOW_TRACKING_URI": self.tracking_uri,
            "MLFLOW_EXPERIMENT_NAME": experiment,
            "MLFLOW_DISABLE_TELEMETRY": "true",
            # The service's JSON logging turns MLflow's own log set-up off; steps want it.
            "MLFLOW_CONFIGURE_LOGGING": "true",
            "MPLCONFIGDIR": str(matplotlib_cache()),
            "TRAINCTL_RUN_ID": run_id,
            "TRAINCTL_STEP": step,
            "TRAINCTL_STEP_INFO": str(info_path),
            "PYTHONUNBUFFERED": "1",
        }

    def ensure(self) -> None:
        for path in (self.root, self.assets, self.work, self.logs, self.runtime, self.mlflow_artifacts):
            path.mkdir(parents=True, exist_ok=True)
