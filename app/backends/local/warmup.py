"""The throwaway run the zygote executes once, so its children start with everything warm.

Runs the real pipeline components on a few hundred generated rows against a scratch MLflow
store: model saving, plotting and registry code paths all get imported and exercised.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from app.backends.local import componentspec
from app.backends.local.mlflow_store import matplotlib_cache
from app.domain.pipeline import FromDataAsset, FromStep, graph
from app.domain.spec import DataAssetRef, RunSpec


def warm_plan(scratch: Path, components_dir: Path, template_db: Path | None = None) -> list[dict[str, Any]]:
    """Argv and environment of each throwaway step. With ``template_db`` (an empty, migrated
    MLflow database) the scratch store is a copy of it instead of a new database to migrate."""
    from app.sampledata import write_csv  # pandas: only needed here, off the import path

    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    if template_db is not None and template_db.is_file():
        shutil.copyfile(template_db, scratch / "mlflow.db")
    data = write_csv(scratch / "data.csv", rows=300, seed=7)
    spec = RunSpec(
        run_id="warmup",
        kind="pipeline",
        experiment_name="trainctl-warmup",
        model_name="trainctl-warmup",
        data_asset=DataAssetRef(name="warmup", version="1", path=Path(data)),
    )
    env = {
        "MLFLOW_TRACKING_URI": f"sqlite:///{scratch / 'mlflow.db'}",
        "MLFLOW_EXPERIMENT_NAME": spec.experiment_name,
        "MPLCONFIGDIR": str(matplotlib_cache()),
    }
    outputs: dict[str, dict[str, Path]] = {}
    steps = []
    for step in graph(spec):
        component = componentspec.load(step.component_file(components_dir))
        outputs[step.name] = {name: scratch / step.name / name for name in component.outputs}
        for path in outputs[step.name].values():
            path.mkdir(parents=True)
        inputs = {
            name: str(outputs[b.step][b.output])
            if isinstance(b, FromStep)
            else str(data)
            if isinstance(b, FromDataAsset)
            else componentspec.render(b)
            for name, b in step.inputs.items()
        }
        argv = component.resolve(inputs, {k: str(v) for k, v in outputs[step.name].items()})
        steps.append({"script": str(component.script), "argv": argv, "env": env, "cwd": str(scratch)})
    return steps
