"""The service operations the Azure ML backend uses, and which recorded answers show each.

`derive(exchanges)` reduces the recorded answers of every operation to the facts a fake must
reproduce: status codes, the headers that matter, the body's shape. `shapes.json` beside this
file is its committed output (`python -m recorded.operations` from tests/azureml rewrites it).

Where the recordings have no answer for an operation, `like` names the recorded operation whose
shape it shares (the list of computes holds computes; a run read alone is a child run), and
`items` says the comparison applies to the elements of `value[]`.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .recordings import Exchange, load_all, recordings_dir
from .shapes import EMPTY, Shape, merge, pack, shape_of, unpack

SHAPES_FILE = Path(__file__).with_name("shapes.json")
# Headers whose presence (and for the response type, value) a client acts on.
TRACKED_HEADERS = (
    "Location",
    "Azure-AsyncOperation",
    "Retry-After",
    "x-ms-response-type",
    "x-ms-async-operation-timeout",
)

# Objects whose keys are data, not schema.
ASSET_MAPS = ("properties.tags", "properties.properties")
JOB_MAPS = (
    *ASSET_MAPS,
    "properties.inputs",
    "properties.outputs",
    "properties.environmentVariables",
    "properties.parameters",
)
# What the service echoes back as the client sent it.
JOB_OPAQUE = ("properties.jobs", "properties.settings", "properties.identity")
RUN_MAPS = (
    "properties",
    "tags",
    "parameters",
    "settings",
    "services",
    "actionUris",
    "error.error.messageParameters",
)


@dataclass(frozen=True)
class Operation:
    name: str
    kind: str  # Exchange.kind
    method: str
    rest: str  # regex on Exchange.rest (or on the path for discovery/mfe/blob)
    statuses: tuple[int, ...]
    where: Callable[[Exchange], bool] = lambda exchange: True
    maps: tuple[str, ...] = ()
    opaque: tuple[str, ...] = ()
    like: str | None = None  # no recording: compare with this operation's recorded shape
    items: bool = False  # compare each element of the fake's value[] with the shape
    like_items: bool = False  # compare with the elements of the `like` operation's value[]
    api_version: str | None = None  # only recorded answers at the version the SDK uses
    notes: str = ""

    def matches(self, exchange: Exchange) -> bool:
        if exchange.kind != self.kind or exchange.method != self.method:
            return False
        if exchange.status not in self.statuses:
            return False
        target = exchange.rest if self.kind in ("arm", "history") else exchange.path
        if not re.fullmatch(self.rest, target):
            return False
        return self.where(exchange)

    def recorded(self, exchange: Exchange) -> bool:
        if self.api_version and exchange.query.get("api-version") != self.api_version:
            return False
        return self.matches(exchange)


def _job_type(kind: str) -> Callable[[Exchange], bool]:
    def check(exchange: Exchange) -> bool:
        body = exchange.body
        return isinstance(body, dict) and body.get("properties", {}).get("jobType") == kind

    return check


def _has_query(name: str) -> Callable[[Exchange], bool]:
    return lambda exchange: name in exchange.query


ERROR = "arm_error"
OPERATIONS: tuple[Operation, ...] = (
    Operation("workspace_get", "arm", "GET", r"", (200,), maps=("tags",), opaque=("identity",)),
    Operation(
        "compute_get",
        "arm",
        "GET",
        r"computes/[^/]+",
        (200,),
        maps=("tags", "properties.provisioningWarnings"),
    ),
    Operation("compute_list", "arm", "GET", r"computes", (200,), like="compute_get", items=True),
    Operation("environment_put", "arm", "PUT", r"environments/[^/]+/versions/[^/]+", (201,), maps=ASSET_MAPS),
    Operation(
        "environment_get",
        "arm",
        "GET",
        r"environments/[^/]+/versions/[^/]+",
        (200,),
        like="environment_put",
        notes="no GET recorded; the PUT answer is the same resource",
    ),
    Operation(
        "environment_latest",
        "arm",
        "GET",
        r"environments/[^/]+/versions",
        (200,),
        where=_has_query("$top"),
        like="environment_put",
        items=True,
    ),
    Operation("data_version_get", "arm", "GET", r"data/[^/]+/versions/[^/]+", (200,), maps=ASSET_MAPS),
    Operation(
        "data_latest",
        "arm",
        "GET",
        r"data/[^/]+/versions",
        (200,),
        where=_has_query("$top"),
        like="data_version_get",
        items=True,
        notes="the newest version, as the SDK asks for a model's (08: $orderBy=createdtime desc&$top=1)",
    ),
    Operation(
        "component_get",
        "arm",
        "GET",
        r"components/[^/]+/versions/[^/]+",
        (200,),
        maps=ASSET_MAPS,
        opaque=("properties.componentSpec",),
    ),
    Operation(
        "component_put",
        "arm",
        "PUT",
        r"components/[^/]+/versions/[^/]+",
        (201,),
        maps=ASSET_MAPS,
        opaque=("properties.componentSpec",),
    ),
    Operation(
        "code_hash_lookup",
        "arm",
        "GET",
        r"codes/[^/]+/versions",
        (200,),
        where=_has_query("hash"),
        maps=tuple(f"value.[].{m}" for m in ASSET_MAPS),
    ),
    Operation("code_start_upload", "arm", "POST", r"codes/[^/]+/versions/[^/]+/startPendingUpload", (200,)),
    Operation("code_put", "arm", "PUT", r"codes/[^/]+/versions/[^/]+", (201,), maps=ASSET_MAPS),
    Operation("blob_head_missing", "blob", "HEAD", r".*", (404,)),
    Operation("blob_put", "blob", "PUT", r".*", (201,), where=lambda e: "comp" not in e.query),
    Operation(
        "blob_metadata", "blob", "PUT", r".*", (200,), where=lambda e: e.query.get("comp") == "metadata"
    ),
    Operation(
        "job_put_pipeline",
        "arm",
        "PUT",
        r"jobs/[^/]+",
        (201,),
        where=_job_type("Pipeline"),
        maps=JOB_MAPS,
        opaque=JOB_OPAQUE,
        api_version="2024-01-01-preview",
    ),
    Operation(
        "job_put_command",
        "arm",
        "PUT",
        r"jobs/[^/]+",
        (201,),
        where=_job_type("Command"),
        maps=JOB_MAPS,
        opaque=JOB_OPAQUE,
        api_version="2025-01-01-preview",
    ),
    Operation(
        "job_get_pipeline",
        "arm",
        "GET",
        r"jobs/[^/]+",
        (200,),
        where=_job_type("Pipeline"),
        maps=JOB_MAPS,
        opaque=JOB_OPAQUE,
        api_version="2024-01-01-preview",
    ),
    Operation(
        "job_get_command",
        "arm",
        "GET",
        r"jobs/[^/]+",
        (200,),
        where=_job_type("Command"),
        maps=JOB_MAPS,
        opaque=JOB_OPAQUE,
        api_version="2024-01-01-preview",
    ),
    Operation("discovery", "discovery", "GET", r"/discovery", (200,)),
    Operation(
        "run_children",
        "history",
        "GET",
        r"runs/[^/]+/children",
        (200,),
        maps=tuple(f"value.[].{m}" for m in RUN_MAPS),
    ),
    Operation(
        "run_get",
        "history",
        "GET",
        r"runs/[^/]+",
        (200,),
        like="run_children",
        like_items=True,
        notes="no run read alone is recorded; it is the same Run document as a child in the list",
    ),
    Operation("cancel_post", "arm", "POST", r"jobs/[^/]+/cancel", (202,)),
    Operation("cancel_poll_running", "mfe", "GET", r".*", (202,)),
    Operation("cancel_poll_done", "mfe", "GET", r".*", (200,)),
    Operation(ERROR, "arm", "*", r".*", (400, 404, 409), notes="every ARM error body, whatever the route"),
)
BY_NAME = {op.name: op for op in OPERATIONS}


def _error(exchange: Exchange) -> bool:
    return exchange.kind == "arm" and exchange.status >= 400 and isinstance(exchange.body, dict)


@dataclass
class Facts:
    """What the recordings show about one operation."""

    samples: list[str] = field(default_factory=list)
    statuses: set[int] = field(default_factory=set)
    headers: dict[str, set[str | None]] = field(default_factory=dict)
    body: Shape | None = None

    def to_json(self) -> dict[str, Any]:
        headers: dict[str, Any] = {}
        for name, seen in sorted(self.headers.items()):
            if seen == {None}:
                headers[name] = False  # never sent
            elif None not in seen:
                headers[name] = sorted(seen)[0] if name == "x-ms-response-type" and len(seen) == 1 else True
        return {
            "samples": sorted(set(self.samples)),
            "statuses": sorted(self.statuses),
            "headers": headers,
            "body": None if self.body is None else pack(self.body),
        }


JOB_OPERATIONS = ("job_put_pipeline", "job_put_command", "job_get_pipeline", "job_get_command")


def _share_input_ports(facts: dict[str, Facts]) -> None:
    """A job input is a literal (`value`) or a data port (`uri`, `mode`): which one does not
    depend on the job type or the call, so every job operation gets the ports seen in any."""
    ports: Shape | None = None
    holders = []
    for name in JOB_OPERATIONS:
        body = facts[name].body if name in facts else None
        inputs = (body or {}).get("keys", {}).get("properties", {}).get("keys", {}).get("inputs")
        if inputs is not None:
            holders.append(inputs)
            if "values" in inputs:
                ports = merge(ports, inputs["values"])
    if ports is not None:
        for inputs in holders:
            inputs["values"] = ports
            inputs["types"] = sorted(set(inputs["types"]) | {"obj", "null"})


def derive(exchanges: Iterable[Exchange]) -> dict[str, Any]:
    facts: dict[str, Facts] = {}
    for exchange in exchanges:
        for op in OPERATIONS:
            if op.like is not None:
                continue
            picked = _error(exchange) if op.name == ERROR else op.recorded(exchange)
            if not picked:
                continue
            fact = facts.setdefault(op.name, Facts())
            fact.samples.append(exchange.source)
            fact.statuses.add(exchange.status)
            for name in TRACKED_HEADERS:
                value = exchange.header(name)
                seen = fact.headers.setdefault(name, set())
                seen.add(value if name == "x-ms-response-type" or value is None else "present")
            if exchange.body is not EMPTY:
                fact.body = merge(fact.body, shape_of(exchange.body, maps=op.maps, opaque=op.opaque))
            elif fact.body is None:
                fact.body = {"types": ["empty"]}
    _share_input_ports(facts)
    return {name: facts[name].to_json() for name in sorted(facts)}


def unpacked(facts: dict[str, Any]) -> dict[str, Any]:
    """`derive`'s output with the bodies as comparable shapes."""
    return {name: {**fact, "body": unpack(fact["body"])} for name, fact in facts.items()}


def load_shapes() -> dict[str, Any]:
    """The committed facts, bodies unpacked for `shapes.compare`."""
    return unpacked(json.loads(SHAPES_FILE.read_text(encoding="utf-8")))


def main() -> int:
    folder = recordings_dir()
    derived = derive(load_all(folder))
    SHAPES_FILE.write_text(json.dumps(derived, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"{SHAPES_FILE}: {len(derived)} operations from {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
