"""The one pipeline graph: steps, their components, ports and bindings, written once.

The local engine runs it step by step; the Azure ML builder turns it into ``dsl.pipeline``
nodes (or a command job for a one-step graph). A new step or a fan-out is a change here only.

A sweep is a fan-out of the train step: ``Step.sweep`` holds its trials. The local engine runs
each trial as a step of its own (``train-model.trial-01``...) and then the best one again, in
full, as ``train-model``; Azure ML turns the same node into a sweep node whose outputs are its
best trial's. Either way the steps downstream read ``train-model``'s outputs, unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from app.domain.search import sample
from app.domain.spec import (
    DEFAULT_DATA_ASSET,
    DEFAULT_MODEL_TYPE,
    HYPERPARAMETERS,
    LATEST,
    DataAssetRef,
    Hyperparameters,
    RunSpec,
    SweepOptions,
)
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
#: The train component's input that skips what only the best candidate needs (plots, signature).
LIGHT_INPUT = "light"


@dataclass(frozen=True)
class Trial:
    name: str  # e.g. "train-model.trial-07"
    #: model_type and its family's hyper-parameters: what the trial record shows.
    hyperparameters: Mapping[str, Value]


@dataclass(frozen=True)
class SweepPlan:
    options: SweepOptions
    fixed: Hyperparameters

    @cached_property
    def trials(self) -> tuple[Trial, ...]:
        """The local engine's trials: the whole grid, or the seeded random draw (Azure ML draws
        its own from ``options.search_space``). Drawn when first asked for: most readers of the
        graph only need its steps."""
        options = self.options
        points = sample(
            options.search_space, options.sampling, self.fixed.trial, options.max_trials, options.seed or 0
        )
        return tuple(
            Trial(trial_name(StepName.TRAIN, i, len(points)), point)
            for i, point in enumerate(points, start=1)
        )


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
    #: A fan-out: many trials of this step, the best of which stands for it. ``inputs`` then
    #: holds what every trial shares (the data, the fixed hyper-parameters).
    sweep: SweepPlan | None = None

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

    def candidate(self, name: str, hyperparameters: Mapping[str, Value], *, light: bool) -> Step:
        """One candidate of a sweep as a plain step: a trial (``light``), or the best one again."""
        shared = {k: v for k, v in self.inputs.items() if k not in HYPERPARAMETERS}
        inputs = {**shared, **bindings(hyperparameters)}
        if light:
            inputs[LIGHT_INPUT] = True
        return Step(name=name, component=self.component, inputs=inputs)


def bindings(hyperparameters: Mapping[str, Value]) -> dict[str, Binding]:
    """Hyper-parameters as the train component's inputs. model_type is left to the component's
    default when it is the default family, so a logistic regression binds what it always did
    (and reuses what it always did)."""
    return {
        name: value
        for name, value in hyperparameters.items()
        if not (name == "model_type" and value == DEFAULT_MODEL_TYPE)
    }


def trial_name(step: str, index: int, total: int) -> str:
    return f"{step}.trial-{index:0{max(2, len(str(total)))}d}"


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
    if spec.sweep is None:
        train = Step(StepName.TRAIN, "train", {"training_data": FromDataAsset(), **bindings(hyper.trial())})
    else:
        train = Step(
            StepName.TRAIN,
            "train",
            {"training_data": FromDataAsset(), **bindings(hyper.given())},
            sweep=SweepPlan(spec.sweep, hyper),
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
