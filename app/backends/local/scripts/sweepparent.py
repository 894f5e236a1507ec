"""Opens the MLflow run a local sweep's trials nest under (their ``mlflow.parentRunId``).

The engine runs this script like a step, forked from the warm step runner (MLflow is already
imported there), so the service itself never imports MLflow. The run stays open: the best trial,
trained again in full as the sweep's own step, logs into it and ends it. Like the components it
imports nothing from ``app``; it writes the run id to ``TRAINCTL_STEP_INFO``.

    python sweepparent.py STEP TAGS_JSON      (STEP: the sweep's step, e.g. train-model)
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path


def experiment_id(name: str) -> str:
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient()
    found = client.get_experiment_by_name(name)
    if found is not None:
        return str(found.experiment_id)
    try:
        return str(client.create_experiment(name))
    except MlflowException:  # another step created it meanwhile
        again = client.get_experiment_by_name(name)
        if again is None:
            raise
        return str(again.experiment_id)


def main(argv: Sequence[str] | None = None) -> int:
    from mlflow import MlflowClient

    step, raw_tags = list(sys.argv[1:] if argv is None else argv)
    tags = {str(k): str(v) for k, v in json.loads(raw_tags).items()}
    tags["trainctl.step"] = step
    if run_id := os.environ.get("TRAINCTL_RUN_ID"):
        tags["trainctl.run_id"] = run_id
    experiment = experiment_id(os.environ.get("MLFLOW_EXPERIMENT_NAME", "Default"))
    run = MlflowClient().create_run(experiment, run_name=step, tags=tags)
    if target := os.environ.get("TRAINCTL_STEP_INFO"):
        Path(target).write_text(json.dumps({"mlflow_run_id": run.info.run_id, "experiment_id": experiment}))
    print(f"sweep run {run.info.run_id} in experiment {experiment}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
