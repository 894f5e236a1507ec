"""The component YAML, the scripts' argparse and the environment agree with each other."""

from __future__ import annotations

import ast
import re
import shlex
import sys
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

COMPONENTS = Path(__file__).resolve().parents[2] / "components"
STEPS = ("train", "evaluate", "register")
FLAG = re.compile(r"--(\w+)\s+\$\{\{\s*(inputs|outputs)\.(\w+)\s*\}\}")
NAMES = {
    "train": "train_diabetes_model",
    "evaluate": "evaluate_diabetes_model",
    "register": "register_diabetes_model",
}


def spec(step: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((COMPONENTS / step / f"{step}.yml").read_text())
    return loaded


def options(module: ModuleType) -> dict[str, Any]:
    return dict(module.build_parser()._option_string_actions)


@pytest.mark.parametrize("step", STEPS)
def test_yaml_loads_and_validates_offline(step: str) -> None:
    from azure.ai.ml import load_component

    component = load_component(COMPONENTS / step / f"{step}.yml")
    result = component._validate()
    assert result.passed, result.error_messages
    assert component.name == NAMES[step]


@pytest.mark.parametrize("step", STEPS)
def test_yaml_shape(step: str) -> None:
    data = spec(step)
    assert data["$schema"] == "https://azuremlschemas.azureedge.net/latest/commandComponent.schema.json"
    assert data["type"] == "command"
    assert data["code"] == "./src"
    assert data["environment"] == "azureml:trainctl-diabetes@latest"
    assert (COMPONENTS / step / "src" / f"{step}.py").is_file()
    # Local runs leave bytecode behind; uploads must not change because of it.
    assert "__pycache__/" in (COMPONENTS / step / "src" / ".amlignore").read_text().splitlines()
    assert shlex.split(data["command"])[:2] == ["python", f"{step}.py"]


@pytest.mark.parametrize("step", STEPS)
def test_every_flag_exists_and_every_port_is_used(step: str, scripts: dict[str, ModuleType]) -> None:
    data, known = spec(step), options(scripts[step])
    used = FLAG.findall(data["command"])
    flags = [f"--{flag}" for flag, _, _ in used]
    assert len(flags) == len(set(flags)), "a flag is passed twice"
    assert [f for f in flags if f not in known] == []
    # Every flag the script needs is passed, and only through ${{...}} (no literal values).
    required = {opt for opt, action in known.items() if action.required}
    assert required <= set(flags)
    assert len(re.findall(r"--\w+", data["command"])) == len(used)
    ports = {(kind, name) for _, kind, name in used}
    assert ports == {("inputs", n) for n in data["inputs"]} | {("outputs", n) for n in data["outputs"]}
    assert all(flag == name for flag, _, name in used), "flags are named after their ports"


@pytest.mark.parametrize("step", STEPS)
def test_defaults_and_choices_agree(step: str, scripts: dict[str, ModuleType]) -> None:
    known = options(scripts[step])
    for name, port in spec(step)["inputs"].items():
        action = known[f"--{name}"]
        if "default" in port:
            assert not action.required, name
            if port["type"] in ("number", "integer"):
                assert float(action.default) == float(port["default"]), name
            else:
                assert action.default == port["default"], name
        elif port.get("optional"):
            # Left out of the command when unset: the script must manage without it.
            assert not action.required and action.default is None, name
        else:
            assert action.required, f"{name} has no default in the YAML, so the script must require it"
        if "enum" in port:
            assert list(action.choices) == port["enum"], name


@pytest.mark.parametrize("step", STEPS)
def test_resolved_command_parses(step: str, scripts: dict[str, ModuleType], tmp_path: Path) -> None:
    """Substitute values the way an engine would and feed the result to argparse."""
    data = spec(step)
    values = {"outputs": {n: str(tmp_path / n) for n in data["outputs"]}, "inputs": {}}
    for name, port in data["inputs"].items():
        if port.get("optional"):
            continue
        if "default" in port:
            values["inputs"][name] = str(port["default"])
        elif port["type"] == "string":
            values["inputs"][name] = "diabetes-model"
        else:
            values["inputs"][name] = str(tmp_path / name)
    # Optional inputs left unset: their $[[...]] sections drop out, as an engine drops them.
    command = re.sub(r"\$\[\[.*?\]\]", "", data["command"])
    command = re.sub(r"\$\{\{\s*(inputs|outputs)\.(\w+)\s*\}\}", lambda m: values[m[1]][m[2]], command)
    args = scripts[step].build_parser().parse_args(shlex.split(command)[2:])
    for name, port in data["inputs"].items():
        if port["type"] in ("number", "integer") and "default" in port:
            assert getattr(args, name) == port["default"]


def test_optional_inputs_parse_when_set(scripts: dict[str, ModuleType], tmp_path: Path) -> None:
    """Each optional section of the train command, kept with a value, still parses."""
    data = spec("train")
    optional = re.findall(r"\$\[\[(.*?)\]\]", data["command"])
    assert {FLAG.search(part)[3] for part in optional} == {  # type: ignore[index]
        name for name, port in data["inputs"].items() if port.get("optional")
    }
    argv = ["--training_data", "d.csv", "--model_output", "m", "--test_data", "t"]
    for part in optional:
        name = FLAG.search(part)[3]  # type: ignore[index]
        value = "0.5" if data["inputs"][name]["type"] == "number" else "7"
        args = scripts["train"].build_parser().parse_args([*argv, f"--{name}", value])
        assert float(getattr(args, name)) == float(value)


@pytest.mark.parametrize("step", STEPS)
def test_component_code_is_self_contained(step: str) -> None:
    tree = ast.parse((COMPONENTS / step / "src" / f"{step}.py").read_text())
    imported = [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
    imported += [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    assert not [m for m in imported if m == "app" or m.startswith("app.")]
    assert not [m for m in imported if m.split(".")[0] in STEPS], "components must not import each other"


def test_environment_pins_match_the_installed_packages() -> None:
    env = yaml.safe_load((COMPONENTS / "environment" / "conda.yml").read_text())
    assert env["name"] == "trainctl-diabetes"
    assert f"python={sys.version_info.major}.{sys.version_info.minor}" in env["dependencies"]
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    pins = dict(line.split("==") for line in pip)
    assert {"mlflow", "azureml-mlflow", "scikit-learn", "pandas", "matplotlib", "skops"} <= set(pins)
    assert {name: metadata.version(name) for name in pins} == pins
