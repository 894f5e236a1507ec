"""The job and pipeline graphs the local engine runs, built from the component YAML files.

Mirrors what the Azure ML backend builds with ``dsl.pipeline``: the same components, the same
input names, the same step display names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from app.backends.base import EVALUATE_STEP, REGISTER_STEP, TRAIN_STEP, RunSpec

COMPONENTS_DIR = Path(__file__).resolve().parents[3] / "components"


@dataclass(frozen=True)
class FromStep:
    """An input bound to an output of an earlier step."""

    step: str
    output: str


@dataclass(frozen=True)
class FromFile:
    """An input bound to a file or folder outside the graph (a data asset)."""

    path: Path


Binding = str | FromStep | FromFile


@dataclass(frozen=True)
class StepPlan:
    name: str
    component: Path
    inputs: dict[str, Binding]
    #: The step reads the registry's champion, state that is not among its inputs, so reusing
    #: its earlier result is only right while the champion is still the one it saw or left.
    reads_champion: bool = False
    #: Steps sharing this key never run at the same time (registering two versions of one
    #: model at once could leave the champion tag on neither).
    exclusive: str | None = None
    after: tuple[str, ...] = field(default=())

    @property
    def depends_on(self) -> set[str]:
        upstream = {b.step for b in self.inputs.values() if isinstance(b, FromStep)}
        return upstream | set(self.after)


def component_path(name: str, components_dir: Path = COMPONENTS_DIR) -> Path:
    return components_dir / name / f"{name}.yml"


def build_plan(spec: RunSpec, components_dir: Path = COMPONENTS_DIR) -> list[StepPlan]:
    if spec.data_asset.path is None:
        raise ValueError("the local engine needs the data asset's file")
    train = StepPlan(
        name=TRAIN_STEP,
        component=component_path("train", components_dir),
        inputs={
            "training_data": FromFile(spec.data_asset.path),
            "reg_rate": repr(float(spec.reg_rate)),
            "solver": spec.solver,
        },
    )
    if spec.kind == "job":
        return [train]
    evaluate = StepPlan(
        name=EVALUATE_STEP,
        component=component_path("evaluate", components_dir),
        inputs={
            "model_input": FromStep(TRAIN_STEP, "model_output"),
            "test_data": FromStep(TRAIN_STEP, "test_data"),
            "model_name": spec.model_name,
            "promotion_metric": spec.promotion.metric,
            "min_improvement": repr(float(spec.promotion.min_improvement)),
        },
        reads_champion=True,
    )
    register = StepPlan(
        name=REGISTER_STEP,
        component=component_path("register", components_dir),
        inputs={
            "model_input": FromStep(TRAIN_STEP, "model_output"),
            "evaluation_output": FromStep(EVALUATE_STEP, "evaluation_output"),
            "model_name": spec.model_name,
            "data_asset": f"{spec.data_asset.name}:{spec.data_asset.version}",
        },
        reads_champion=True,
        exclusive=f"register:{spec.model_name}",
    )
    return [train, evaluate, register]
