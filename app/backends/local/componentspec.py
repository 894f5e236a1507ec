"""Reads Azure ML command-component YAML and turns it into a command line, the way Azure ML's
runtime would: ``${{inputs.x}}`` and ``${{outputs.y}}`` substituted, ``$[[...]]`` optional
sections kept only when every input they name has a value.
"""

from __future__ import annotations

import hashlib
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

_PLACEHOLDER = re.compile(r"\$\{\{\s*(inputs|outputs)\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_OPTIONAL = re.compile(r"\$\[\[(.*?)\]\]", re.DOTALL)


class ComponentError(ValueError):
    """A component definition or a binding that cannot run."""


@dataclass(frozen=True)
class PortSpec:
    name: str
    type: str
    default: Any = None
    optional: bool = False
    enum: tuple[str, ...] | None = None


@dataclass(frozen=True)
class ComponentSpec:
    name: str
    version: str
    display_name: str
    source: Path  # the YAML file
    code_dir: Path
    command: str
    inputs: dict[str, PortSpec]
    outputs: dict[str, PortSpec]
    is_deterministic: bool

    @property
    def script(self) -> Path:
        """The Python file the command runs (``python NAME.py ...``)."""
        for token in shlex.split(_PLACEHOLDER.sub("X", _OPTIONAL.sub("", self.command))):
            if token.endswith(".py"):
                return self.code_dir / token
        raise ComponentError(f"{self.source.name}: command runs no .py script")

    def resolve(self, inputs: dict[str, str], outputs: dict[str, str]) -> list[str]:
        """argv after the script name, with every placeholder replaced."""
        values = {**{k: v.default for k, v in self.inputs.items() if v.default is not None}}
        values.update({k: v for k, v in inputs.items() if v is not None})
        unknown = set(inputs) - set(self.inputs)
        if unknown:
            raise ComponentError(f"{self.name}: no such inputs {sorted(unknown)}")

        def keep_optional(match: re.Match[str]) -> str:
            names = [m.group(2) for m in _PLACEHOLDER.finditer(match.group(1)) if m.group(1) == "inputs"]
            return match.group(1) if all(n in values for n in names) else ""

        def substitute(match: re.Match[str]) -> str:
            kind, name = match.groups()
            table: dict[str, Any] = values if kind == "inputs" else outputs
            if name not in table:
                raise ComponentError(f"{self.name}: {kind[:-1]} {name!r} has no value")
            return shlex.quote(render(table[name]))

        text = _PLACEHOLDER.sub(substitute, _OPTIONAL.sub(keep_optional, self.command))
        tokens = shlex.split(text)
        start = next(i for i, t in enumerate(tokens) if t.endswith(".py"))
        return tokens[start + 1 :]

    def code_digest(self) -> str:
        """Content hash of the code folder: any changed byte in any file changes it."""
        return tree_digest(self.code_dir)


def render(value: Any) -> str:
    """A value as the command line carries it (booleans as Azure ML writes them)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def tree_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def _port(name: str, raw: dict[str, Any]) -> PortSpec:
    enum = raw.get("enum")
    return PortSpec(
        name=name,
        type=str(raw.get("type", "string")),
        default=raw.get("default"),
        optional=bool(raw.get("optional", False)),
        enum=tuple(map(str, enum)) if enum else None,
    )


def load(path: Path) -> ComponentSpec:
    # Read on every use, so an edited YAML takes effect without a restart.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the safe loader, in C when available
    raw = yaml.load(path.read_text(), Loader=loader)  # noqa: S506
    if not isinstance(raw, dict) or raw.get("type", "command") != "command":
        raise ComponentError(f"{path}: not a command component")
    try:
        return ComponentSpec(
            name=str(raw["name"]),
            version=str(raw.get("version", "1")),
            display_name=str(raw.get("display_name", raw["name"])),
            source=path,
            code_dir=(path.parent / str(raw.get("code", "."))).resolve(),
            command=" ".join(str(raw["command"]).split()),
            inputs={k: _port(k, v or {}) for k, v in (raw.get("inputs") or {}).items()},
            outputs={k: _port(k, v or {}) for k, v in (raw.get("outputs") or {}).items()},
            is_deterministic=bool(raw.get("is_deterministic", True)),
        )
    except KeyError as missing:
        raise ComponentError(f"{path}: missing {missing}") from None
