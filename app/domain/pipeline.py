"""The one pipeline graph: steps, their components, ports and bindings, written once.

The local engine runs it step by step; the Azure ML builder turns it into ``dsl.pipeline``
nodes (or a command job for a one-step graph). A new step or a fan-out is a change here only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from app.domain.spec import DEFAULT_DATA_ASSET, LATEST, DataAssetRef, RunSpec
from app.domain.steps import StepName

#: The component definitions (Azure ML command-component YAML + code) the graph names.
COMPONENTS_DIR = Path(__file__).resolve().parents[2] / "components"


@dataclass(frozen=True)
class FromStep:
    """An input bound to an output of an earlier step."""

    step: str
    output: str


@dataclass(frozen=True)
class FromDataAsset:
    """An input bound to the run's training data asset."""


Value = str | int | float | bool
Binding = Value | FromStep | FromDataAsset


@dataclass(frozen=True)
class Step:
    name: str
    #: Folder under components/ holding ``NAME.yml`` and its code.
    component: str
    inputs: Mapping[str, Binding]
    #: The step reads the registry's champion, state that is not among its inputs.
    reads_champion: bool = False
    #: Steps sharing this key never run at the same time (registering two versions of one
    #: model at once could leave the champion marker on neither).
    exclusive: str | None = None
    after: tuple[str, ...] = field(default=())

    @property
    def depends_on(self) -> set[str]:
        upstream = {b.step for b in self.inputs.values() if isinstance(b, FromStep)}
        return upstream | set(self.after)

    @property
    def node_key(self) -> str:
        """The step's key in an Azure ML pipeline body (a Python identifier)."""
        return self.name.replace("-", "_")

    def component_file(self, components_dir: Path) -> Path:
        return components_dir / self.component / f"{self.component}.yml"


@dataclass(frozen=True)
class OutputFile:
    """A file a step writes into one of its outputs."""

    step: str
    output: str
    file: str


#: Where evaluate writes its decision and register its record (schemas in components/).
DECISION = OutputFile(StepName.EVALUATE, "evaluation_output", "decision.json")
REGISTRATION = OutputFile(StepName.REGISTER, "register_output", "model_info.json")


def graph(spec: RunSpec) -> tuple[Step, ...]:
    """The steps of a run, in an order where every step comes after the ones it reads."""
    hyper = spec.hyperparameters
    train = Step(
        name=StepName.TRAIN,
        component="train",
        inputs={"training_data": FromDataAsset(), "reg_rate": float(hyper.reg_rate), "solver": hyper.solver},
    )
    if spec.kind == "job":
        return (train,)
    evaluate = Step(
        name=StepName.EVALUATE,
        component="evaluate",
        inputs={
            "model_input": FromStep(StepName.TRAIN, "model_output"),
            "test_data": FromStep(StepName.TRAIN, "test_data"),
            "model_name": spec.model_name,
            "promotion_metric": spec.promotion.metric,
            "min_improvement": float(spec.promotion.min_improvement),
        },
        reads_champion=True,
    )
    register = Step(
        name=StepName.REGISTER,
        component="register",
        inputs={
            "model_input": FromStep(StepName.TRAIN, "model_output"),
            "evaluation_output": FromStep(StepName.EVALUATE, "evaluation_output"),
            "model_name": spec.model_name,
            "data_asset": f"{spec.data_asset.name}:{spec.data_asset.version}",
        },
        reads_champion=True,
        exclusive=f"register:{spec.model_name}",
    )
    return (train, evaluate, register)


def step_names(spec: RunSpec) -> list[str]:
    return [step.name for step in graph(spec)]


def components() -> tuple[str, ...]:
    """Every component the graph can use (those of a pipeline run), each once."""
    spec = RunSpec(run_id="-", data_asset=DataAssetRef(name=DEFAULT_DATA_ASSET, version=LATEST))
    return tuple(dict.fromkeys(step.component for step in graph(spec)))
