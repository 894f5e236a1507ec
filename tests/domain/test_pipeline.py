"""The one pipeline graph against the component YAML both engines run, and each default in one
place: the components' defaults are pinned to the domain's."""

from __future__ import annotations

import keyword
from typing import Any, get_args

import pytest
import yaml

from app.domain.pipeline import (
    COMPONENTS_DIR,
    DECISION,
    REGISTRATION,
    FromDataAsset,
    FromStep,
    components,
    graph,
)
from app.domain.spec import (
    DEFAULT_DATA_ASSET,
    DEFAULT_ENVIRONMENT,
    DataAssetRef,
    Hyperparameters,
    Metric,
    PromotionRule,
    RunSpec,
    Solver,
)
from app.domain.steps import JOB_STEPS, PIPELINE_STEPS


def spec(kind: str = "pipeline", **options: Any) -> RunSpec:
    return RunSpec.model_validate(
        {
            "run_id": "run-graph",
            "kind": kind,
            "data_asset": DataAssetRef(name=DEFAULT_DATA_ASSET, version="3"),
            **options,
        }
    )


def component_yaml(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((COMPONENTS_DIR / name / f"{name}.yml").read_text())
    return loaded


def test_a_job_trains_and_a_pipeline_trains_evaluates_registers() -> None:
    assert [s.name for s in graph(spec("job"))] == list(JOB_STEPS)
    assert [s.name for s in graph(spec("pipeline"))] == list(PIPELINE_STEPS)
    assert components() == ("train", "evaluate", "register")


@pytest.mark.parametrize("kind", ["job", "pipeline"])
def test_every_step_reads_only_earlier_steps_outputs_that_exist(kind: str) -> None:
    seen: set[str] = set()
    for step in graph(spec(kind)):
        assert step.depends_on <= seen, f"{step.name} reads a later or unknown step"
        declared = component_yaml(step.component)
        for name, binding in step.inputs.items():
            assert name in declared["inputs"], f"{step.name} binds {name}, which {step.component} lacks"
            if isinstance(binding, FromStep):
                upstream = next(s for s in graph(spec(kind)) if s.name == binding.step)
                assert binding.output in component_yaml(upstream.component)["outputs"]
        required = {
            n for n, port in declared["inputs"].items() if "default" not in port and not port.get("optional")
        }
        assert required <= set(step.inputs), f"{step.name} leaves required inputs unbound"
        assert step.node_key.isidentifier() and not keyword.iskeyword(step.node_key)
        seen.add(step.name)


def test_the_data_asset_feeds_train_and_register_records_it() -> None:
    train, _, register = graph(spec())
    assert isinstance(train.inputs["training_data"], FromDataAsset)
    assert register.inputs["data_asset"] == f"{DEFAULT_DATA_ASSET}:3"
    assert register.exclusive == "register:diabetes-classifier"


def test_decision_records_are_outputs_of_their_steps() -> None:
    steps = {s.name: s for s in graph(spec())}
    for where in (DECISION, REGISTRATION):
        assert where.output in component_yaml(steps[where.step].component)["outputs"]


def test_component_defaults_are_the_domain_defaults() -> None:
    """A literal the default spec binds equals the component's own default, wherever it has one."""
    pinned = 0
    for step in graph(spec()):
        ports = component_yaml(step.component)["inputs"]
        for name, value in step.inputs.items():
            port = ports[name]
            if "default" not in port or isinstance(value, (FromStep, FromDataAsset)):
                continue
            if port["type"] in ("number", "integer"):
                assert float(value) == float(port["default"]), f"{step.component}.{name}"
            else:
                assert value == port["default"], f"{step.component}.{name}"
            pinned += 1
    assert pinned == 4  # reg_rate, solver, promotion_metric, min_improvement
    assert Hyperparameters().reg_rate == component_yaml("train")["inputs"]["reg_rate"]["default"]
    assert PromotionRule().metric == component_yaml("evaluate")["inputs"]["promotion_metric"]["default"]


def test_component_choices_are_the_domain_choices() -> None:
    assert list(get_args(Solver)) == component_yaml("train")["inputs"]["solver"]["enum"]
    assert list(get_args(Metric)) == component_yaml("evaluate")["inputs"]["promotion_metric"]["enum"]


@pytest.mark.parametrize("name", ["train", "evaluate", "register"])
def test_components_name_the_default_environment(name: str) -> None:
    """The default is trainctl's own environment, a bare name (versioned by content when
    registered); the YAML names it with `@latest`, which keeps the file usable on its own and
    which registration replaces by that content version."""
    assert "@" not in DEFAULT_ENVIRONMENT and ":" not in DEFAULT_ENVIRONMENT
    assert component_yaml(name)["environment"] == f"azureml:{DEFAULT_ENVIRONMENT}@latest"


def test_the_environment_file_names_the_default_environment() -> None:
    conda = yaml.safe_load((COMPONENTS_DIR / "environment" / "conda.yml").read_text())
    assert conda["name"] == DEFAULT_ENVIRONMENT


def test_non_default_choices_reach_the_bindings() -> None:
    train, evaluate, _ = graph(
        spec(
            hyperparameters={"reg_rate": 2.5, "solver": "saga"},
            promotion={"metric": "f1", "min_improvement": 0.1},
        )
    )
    assert (train.inputs["reg_rate"], train.inputs["solver"]) == (2.5, "saga")
    assert (evaluate.inputs["promotion_metric"], evaluate.inputs["min_improvement"]) == ("f1", 0.1)


def test_the_stored_spec_round_trips_and_refuses_unknown_versions() -> None:
    original = spec(tags={"team": "ml"}, step_compute={"train-model": "gpu"})
    assert RunSpec.from_stored(original.stored()) == original
    assert original.compute_for("train-model") == "gpu" and original.compute_for("evaluate-model") is None
    with pytest.raises(ValueError, match="version"):
        RunSpec.from_stored({"version": 99, "spec": {}})
