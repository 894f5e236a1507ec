"""The shape of a JSON answer: its keys and JSON types, never its values.

A shape is a small JSON document:
`{"types": [...], "keys": {name: shape}, "optional": [...], "items": shape, "values": shape}`.
`keys` lists an object's fields (those missing from some samples are `optional`); `items` is
the merged shape of an array's elements; `values` replaces `keys` for objects whose keys are
data rather than schema (tags, properties, the nodes of a pipeline), given as *map paths*.
An *opaque* path is compared by type only: it echoes what the client sent.

Comparison rules (`compare`):
- a field the sample has and the shape does not is reported (the fake invents it);
- a field the shape requires and the sample lacks is reported (the fake forgot it);
- a JSON type outside the recorded ones is reported; `null` on either side is accepted,
  because a recording cannot tell whether a field is nullable or what type a null one has.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

Shape = dict[str, Any]


class _Empty:
    """No body at all (HEAD, a 200 with Content-Length 0): not JSON `null`, not `""`."""

    def __repr__(self) -> str:
        return "EMPTY"


EMPTY = _Empty()


def type_of(value: Any) -> str:
    if value is EMPTY:
        return "empty"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "num"
    if isinstance(value, str):
        return "str"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "obj"
    raise TypeError(f"not a JSON value: {type(value).__name__}")


def _child(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _matches(path: str, patterns: Iterable[str]) -> bool:
    """`*` in a pattern stands for one map key: `properties.inputs.*`."""
    parts = path.split(".")
    for pattern in patterns:
        wanted = pattern.split(".")
        if len(wanted) == len(parts) and all(w in ("*", p) for w, p in zip(wanted, parts, strict=True)):
            return True
    return False


def shape_of(value: Any, *, maps: Iterable[str] = (), opaque: Iterable[str] = (), path: str = "") -> Shape:
    maps, opaque = tuple(maps), tuple(opaque)
    kind = type_of(value)
    shape: Shape = {"types": [kind]}
    if _matches(path, opaque):
        shape["opaque"] = True
        return shape
    if kind == "obj":
        if _matches(path, maps):
            merged: Shape | None = None
            for item in value.values():
                merged = merge(merged, shape_of(item, maps=maps, opaque=opaque, path=_child(path, "*")))
            if merged is not None:
                shape["values"] = merged
            else:
                shape["map"] = True
        else:
            shape["keys"] = {
                key: shape_of(item, maps=maps, opaque=opaque, path=_child(path, key))
                for key, item in value.items()
            }
    elif kind == "array":
        merged = None
        for item in value:
            merged = merge(merged, shape_of(item, maps=maps, opaque=opaque, path=_child(path, "[]")))
        if merged is not None:
            shape["items"] = merged
    return shape


def merge(left: Shape | None, right: Shape | None) -> Shape:
    if left is None:
        assert right is not None
        return right
    if right is None:
        return left
    merged: Shape = {"types": sorted(set(left["types"]) | set(right["types"]))}
    if left.get("opaque") or right.get("opaque"):
        merged["opaque"] = True
    if "keys" in left or "keys" in right:
        lkeys: dict[str, Shape] = left.get("keys", {})
        rkeys: dict[str, Shape] = right.get("keys", {})
        # an object seen only as null on one side says nothing about which keys are optional
        lseen, rseen = "keys" in left, "keys" in right
        keys = {name: merge(lkeys.get(name), rkeys.get(name)) for name in sorted(set(lkeys) | set(rkeys))}
        optional = set(left.get("optional", ())) | set(right.get("optional", ()))
        if lseen and rseen:
            optional |= set(lkeys) ^ set(rkeys)
        merged["keys"] = keys
        if optional:
            merged["optional"] = sorted(optional)
    for part in ("items", "values"):
        if part in left or part in right:
            merged[part] = merge(left.get(part), right.get(part))
    if left.get("map") or right.get("map"):
        merged["map"] = True
    return merged


def compare(value: Any, shape: Shape, path: str = "$") -> list[str]:
    """Every way `value` departs from `shape`, one sentence each (empty: it fits)."""
    kind = type_of(value)
    recorded = set(shape["types"])
    if kind == "null" or recorded == {"null"}:
        return []
    if kind not in recorded:
        return [f"{path}: {kind}, the service sends {'/'.join(sorted(recorded))}"]
    if shape.get("opaque"):
        return []
    problems: list[str] = []
    if kind == "obj":
        if "values" in shape:
            for key, item in value.items():
                problems += compare(item, shape["values"], f"{path}.{key}")
        elif "keys" in shape:
            keys: dict[str, Shape] = shape["keys"]
            optional = set(shape.get("optional", ()))
            for key in sorted(set(keys) - set(value) - optional):
                problems.append(f"{path}.{key}: missing (the service always sends it)")
            for key in sorted(set(value) - set(keys)):
                problems.append(f"{path}.{key}: a field the service never sends")
            for key in sorted(set(value) & set(keys)):
                problems += compare(value[key], keys[key], f"{path}.{key}")
    elif kind == "array" and "items" in shape:
        for index, item in enumerate(value):
            problems += compare(item, shape["items"], f"{path}[{index}]")
    return problems


def pack(shape: Shape) -> Any:
    """The stored form: a shape with nothing but types becomes `"str"` or `"obj|null"`."""
    if set(shape) == {"types"}:
        return "|".join(shape["types"])
    packed: dict[str, Any] = {}
    for key, value in shape.items():
        if key == "keys":
            packed[key] = {name: pack(item) for name, item in value.items()}
        elif key in ("items", "values"):
            packed[key] = pack(value)
        else:
            packed[key] = value
    return packed


def unpack(stored: Any) -> Shape:
    if isinstance(stored, str):
        return {"types": stored.split("|")}
    shape: Shape = {}
    for key, value in stored.items():
        if key == "keys":
            shape[key] = {name: unpack(item) for name, item in value.items()}
        elif key in ("items", "values"):
            shape[key] = unpack(value)
        else:
            shape[key] = value
    return shape
