"""The jobs routes of the fake workspace: create (PUT), read, list, cancel and its operation result.

What the service refuses, the fake refuses, before anything is stored:
- an experiment name outside Azure's rule (the service's own message, seen in public reports);
- a reference to a compute, component, code, environment or data asset the workspace lacks
  (404 NotFound "key: <id>, Message: Not found ...", as recorded for a component in 06);
- a data input whose type differs from the data asset's type (`uri_file` vs `uri_folder`);
- a PUT that changes anything but the tags, description or display name of an existing job.

A job is answered as `job_documents` renders it for the api-version asked for.
Cancel is a long-running operation: 202 with a `Location` to `mfeOperationResults`, no
`Retry-After` (so ARM polling waits its default 30 s), 202 `{}` at the first poll unless the
job has ended, 200 with no body from then on (05: one 202, then 200 thirty seconds later).
The operation ends whether or not the fake clock moves, as the real one does.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from . import arm
from .job_documents import job_document
from .jobs import FINAL, PIPELINE_START_DELAY, PREPARING_AT, FakeJob, Step
from .runs import Reused
from .transport import Reply

if TYPE_CHECKING:
    from .workspace import FakeWorkspace

VERSIONED_KINDS = ("codes", "components", "environments", "data", "models")
EXPERIMENT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,255}$")
EXPERIMENT_RULE = (
    "Experiment name must be 1-256 characters, start with a letter or a number, and can only "
    "contain letters, numbers, underscores, and dashes."
)
CANCEL_API_VERSION = "2023-04-01-preview"
# What a PUT may change on an existing job (01: a tag update answers 200); the service owns
# status and services.
MUTABLE = {"tags", "description", "displayName", "isArchived", "status", "services"}
DATA_TYPES = ("uri_file", "uri_folder", "mltable")
_UPSTREAM = re.compile(r"\$\{\{parent\.jobs\.([^.]+)\.outputs\.")


def _tail(reference: Any) -> str:
    return str(reference).rstrip("/").rsplit("/", 1)[-1]


class JobsApi:
    def __init__(self, workspace: FakeWorkspace) -> None:
        self.ws = workspace
        self.operation_polls: dict[str, int] = {}

    def handle(self, method: str, parts: list[str], query: dict[str, str], payload: Any) -> Reply:
        version = query.get("api-version", "")
        if not parts and method == "GET":
            found = [job_document(self.ws, j, version) for j in self.ws.jobs.values()]
            if "tag" in query:
                key, _, value = query["tag"].partition("=")
                found = [
                    b
                    for b in found
                    if key in (b["properties"].get("tags") or {})
                    and (not value or b["properties"]["tags"][key] == value)
                ]
            return arm.ok(200, {"value": found, "nextLink": None})
        if len(parts) == 1:
            name = parts[0]
            if method == "GET":
                job = self.ws.jobs.get(name)
                # sweeps: a pipeline's sweep node is a job of its own (fakeaml/sweeps.py)
                if job is None and (sweep := self.ws.sweeps.get(name)) is not None:
                    return arm.ok(200, sweep.arm_body(self.ws.scope, self.ws.clock.now()))
                return (
                    self._missing_job(name)
                    if job is None
                    else arm.ok(200, job_document(self.ws, job, version))
                )
            if method == "PUT":
                return self._put(name, payload or {}, version)
        if len(parts) == 2 and parts[1] == "cancel" and method == "POST":
            return self._cancel(parts[0])
        return self.ws.missing(method, "/jobs/" + "/".join(parts))

    def _missing_job(self, name: str) -> Reply:
        # modelled on the recorded 404 of a model (08): a generic message, the detail names it
        return self.ws.error(
            404,
            "UserError",
            "The specified resource was not found.",
            details=[{"code": "NotFound", "message": f"Job with name {name} not found."}],
        )

    # -- create / update -----------------------------------------------------------------------
    def _put(self, name: str, payload: dict[str, Any], version: str) -> Reply:
        props = payload.get("properties", {}) or {}
        existing = self.ws.jobs.get(name)
        if existing is not None:
            return self._update(existing, props, version)
        refused = self._refusal(props)
        if refused is not None:
            return refused
        kind = props.get("jobType", "Command")
        created = self.ws.clock.now()
        job = FakeJob(
            name=name,
            kind=kind,
            body=copy.deepcopy(payload),
            created=created,
            experiment_name=props.get("experimentName") or "Default",
            command_fails=self.ws.fail_command_jobs,
            number=len(self.ws.jobs) + 1,
            api_version=version,
        )
        if kind == "Pipeline":
            job.steps = self._plan(job, props)
        elif job.solo is not None:
            job.solo.compute = _tail(props.get("computeId") or "cpu-cluster")
            build = self.ws.image_build(props.get("environmentId"), created + timedelta(seconds=PREPARING_AT))
            job.solo.build_seconds, job.solo.build_fails = build
        self.ws.jobs[name] = job
        self.ws.sweeps.created(job)  # sweeps: its trials (fakeaml/sweeps.py)
        location = f"https://{arm.ARM_HOST}{self.ws.scope}/jobs/{name}?api-version={version}"
        return arm.ok(201, job_document(self.ws, job, version), location=location)

    def _update(self, job: FakeJob, props: dict[str, Any], version: str) -> Reply:
        before = job.body.get("properties", {}) or {}
        for field in sorted((set(before) | set(props)) - MUTABLE):
            if json.dumps(before.get(field), sort_keys=True) != json.dumps(props.get(field), sort_keys=True):
                # the service's words for an immutable field of a component (07), said of a job
                return self.ws.error(
                    400,
                    "UserError",
                    f'Failed to update job {job.name} since field "{field}" is immutable.',
                    inner=["BadArgument", "ArgumentInvalid", "UpdateJobFailed"],
                )
        for field in MUTABLE - {"status", "services"}:
            if field in props:
                job.body.setdefault("properties", {})[field] = copy.deepcopy(props[field])
        return arm.ok(200, job_document(self.ws, job, version))

    def _refusal(self, props: dict[str, Any]) -> Reply | None:
        experiment = props.get("experimentName")
        if experiment is not None and not EXPERIMENT_NAME.match(str(experiment)):
            return self.ws.error(400, "UserError", EXPERIMENT_RULE)
        holders = [props, *(props.get("jobs") or {}).values()]
        settings = props.get("settings") or {}
        refs = [settings.get("default_compute")] if isinstance(settings, dict) else []
        for holder in holders:
            for key in ("computeId", "compute", "componentId", "codeId", "environmentId"):
                refs.append((holder or {}).get(key))
        for port in (props.get("inputs") or {}).values():
            if isinstance(port, dict) and port.get("jobInputType") in DATA_TYPES:
                refs.append(port.get("uri"))
        for ref in refs:
            if isinstance(ref, str) and (missing := self.ws.lookup_missing(ref)):
                return self.ws.error(404, "NotFound", f"key: {ref}, Message: Not found {missing}.")
        for port_name, port in (props.get("inputs") or {}).items():
            if not isinstance(port, dict) or port.get("jobInputType") not in DATA_TYPES:
                continue
            asset = self.ws.data_asset_for(str(port.get("uri", "")))
            if asset is not None and asset["properties"]["dataType"] != port["jobInputType"]:
                # not recorded: the fake's words for a mismatch the service refuses
                name, asset_version = asset["id"].split("/data/", 1)[1].split("/versions/")
                return self.ws.error(
                    400,
                    "UserError",
                    f"Input {port_name} is of type {port['jobInputType']}, but data asset "
                    f"{name}:{asset_version} is of type {asset['properties']['dataType']}.",
                )
        return None

    # -- pipeline planning: image builds and reuse, decided when the job is created -------------
    def _plan(self, job: FakeJob, props: dict[str, Any]) -> list[Step]:
        nodes: dict[str, Any] = props.get("jobs") or {}
        settings = props.get("settings") or {}
        force = bool(settings.get("force_rerun")) if isinstance(settings, dict) else False
        default_compute = (
            _tail(settings.get("default_compute") or "cpu-cluster") if isinstance(settings, dict) else ""
        )
        offset = PIPELINE_START_DELAY
        keys: dict[str, str | None] = {}
        reused: dict[str, bool] = {}
        steps: list[Step] = []
        for key, sent in nodes.items():
            node: dict[str, Any] = sent or {}
            display = node.get("display_name") or key
            component_name, spec = self.ws.component_for(str(node.get("componentId", "")))
            upstream = sorted(set(_UPSTREAM.findall(json.dumps(node.get("inputs") or {}))))
            deterministic = spec.get("is_deterministic", True) is not False
            reusable = not force and deterministic and all(reused.get(u) for u in upstream)
            keys[key] = self._reuse_key(node, props, [keys.get(u) for u in upstream]) if reusable else None
            step = Step(
                key=key,
                display_name=display,
                name=self.ws.child_namer(job.name, display),
                start_offset=offset,
                fails=display in self.ws.failing_steps or key in self.ws.failing_steps,
                reuse_key=keys[key],
                component=component_name,
                compute=_tail(node.get("computeId") or default_compute),
            )
            original = self.ws.reusable(keys[key], job.created + timedelta(seconds=offset))
            if original is not None:
                first_job, first = original
                step.reused = first.reused or Reused(
                    run_id=first.name,
                    node_id=first.node_id,
                    pipeline_name=str(first_job.body["properties"].get("displayName") or first_job.name),
                    pipeline_run_id=first_job.name,
                )
            else:
                at = job.created + timedelta(seconds=offset + PREPARING_AT)
                step.build_seconds, step.build_fails = self.ws.image_build(spec.get("environment"), at)
            reused[key] = step.reused is not None
            steps.append(step)
            offset += step.duration
        return steps

    @staticmethod
    def _reuse_key(node: dict[str, Any], props: dict[str, Any], upstream: list[str | None]) -> str:
        """What Azure ML's reuse compares: the component, the node's inputs and run settings
        (environment variables included) and the data they resolve to; not the compute."""
        parts = {
            "component": node.get("componentId"),
            "inputs": node.get("inputs"),
            "environment_variables": node.get("environment_variables"),
            "pipeline_inputs": props.get("inputs"),
            "upstream": upstream,
        }
        return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()

    # -- cancel ----------------------------------------------------------------------------------
    def operation_url(self, job_name: str) -> str:
        return (
            f"https://{arm.ARM_HOST}/subscriptions/{self.ws.subscription}/providers/{arm.PROVIDER}"
            f"/locations/{self.ws.location}/mfeOperationResults/jc:{self.ws.workspace_id}:{job_name}"
            f"?api-version={CANCEL_API_VERSION}"
        )

    def _cancel(self, name: str) -> Reply:
        job = self.ws.jobs.get(name)
        if job is None:
            return self._missing_job(name)
        if job.cancel_requested is None and job.status(self.ws.clock.now()) not in FINAL:
            job.cancel_requested = self.ws.clock.now()
        headers = {
            **arm.STANDARD,
            "Content-Type": "application/json; charset=utf-8",
            "Location": self.operation_url(name),
            "x-ms-async-operation-timeout": "PT1H",
        }
        return Reply(202, b"null", headers)

    def operation_result(self, job_name: str) -> Reply:
        job = self.ws.jobs.get(job_name)
        polls = self.operation_polls[job_name] = self.operation_polls.get(job_name, 0) + 1
        if polls == 1 and job is not None and job.status(self.ws.clock.now()) not in FINAL:
            headers = {**arm.STANDARD, "Location": self.operation_url(job_name)}
            return Reply.json(202, {}, headers)
        return Reply(200, b"", dict(arm.STANDARD))
