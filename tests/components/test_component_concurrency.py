"""Train steps that start at the same moment in a new MLflow store: both race to create the
experiment, and neither may fail for it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

COMPONENTS = Path(__file__).resolve().parents[2] / "components"

RACER = """
import importlib.util, os, sys, time
spec = importlib.util.spec_from_file_location("train_script", sys.argv[1])
train = importlib.util.module_from_spec(spec)
sys.modules["train_script"] = train
spec.loader.exec_module(train)
barrier, count = sys.argv[2], int(sys.argv[3])
open(os.path.join(barrier, str(os.getpid())), "w").close()
while len(os.listdir(barrier)) < count:  # everyone imported: now all at once
    time.sleep(0.001)
# What train.main does: start the step's run in the experiment the environment names.
chosen = train.experiment_id() if hasattr(train, "experiment_id") else None
with train.mlflow.start_run(experiment_id=chosen) as run:
    print(run.info.experiment_id)
"""


def test_steps_racing_to_create_the_experiment_all_get_it(tmp_path: Path, empty_mlflow_db: Path) -> None:
    db = tmp_path / "mlflow.db"
    shutil.copyfile(empty_mlflow_db, db)
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": f"sqlite:///{db}",
        "MLFLOW_EXPERIMENT_NAME": "created-by-whoever-wins",
        "MLFLOW_DISABLE_TELEMETRY": "true",
    }
    env.pop("MLFLOW_RUN_ID", None)
    barrier = tmp_path / "ready"
    barrier.mkdir()
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, str(COMPONENTS / "train" / "src" / "train.py"), str(barrier), "6"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(6)
    ]
    results = [racer.communicate(timeout=120) for racer in racers]
    assert [r.returncode for r in racers] == [0] * 6, [err[-500:] for _, err in results]
    assert len({out.strip() for out, _ in results}) == 1  # one experiment, the same for all
