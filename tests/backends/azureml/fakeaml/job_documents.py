"""The job document: the fields the recorded service answers with, at the api-version asked.

A command job's PUT at 2025-01-01-preview (04) differs from its GET at 2024-01-01-preview (04):
`parentJobName` and `dockerArgsList` at the one, `secretsConfiguration`, `autologgerSettings`,
`pathOnCompute` at the other. A pipeline's first answer has empty `properties`; once it runs
they carry the `azureml.*` run properties, and once it ends the `azureml.pipelines.stages`
JSON with the Execution stage's start and end (02, 03). Inputs come back as literal ports
(`value`) or data ports (`uri`, `mode`); a command job gains the `default` output.
"""

from __future__ import annotations

import copy
import json
from typing import TYPE_CHECKING, Any

from .arm import PROVIDER
from .jobs import FINAL, FakeJob
from .templates import iso, system_data

if TYPE_CHECKING:
    from .workspace import FakeWorkspace

_PIPELINE_FIELDS = (
    "description", "tags", "properties", "displayName", "status", "experimentName", "services",
    "computeId", "isArchived", "identity", "componentId", "notificationSetting",
    "secretsConfiguration", "jobType", "settings", "jobs", "inputs", "outputs", "sourceJobId",
)  # fmt: skip
_COMMAND_FIELDS = {
    "2025-01-01-preview": (
        "description", "tags", "properties", "parentJobName", "displayName", "status",
        "experimentName", "services", "computeId", "isArchived", "identity", "componentId",
        "notificationSetting", "jobType", "resources", "codeId", "command", "environmentId",
        "inputs", "outputs", "distribution", "limits", "environmentVariables", "parameters",
        "queueSettings",
    ),
    "": (
        "description", "tags", "properties", "displayName", "status", "experimentName",
        "services", "computeId", "isArchived", "identity", "componentId", "notificationSetting",
        "secretsConfiguration", "jobType", "resources", "codeId", "command", "environmentId",
        "inputs", "outputs", "distribution", "autologgerSettings", "limits",
        "environmentVariables", "parameters", "queueSettings",
    ),
}  # fmt: skip
_RESOURCES = {
    "2025-01-01-preview": {"instanceCount": 1, "instanceType": None, "properties": None, "shmSize": "2g",
                           "dockerArgs": None, "dockerArgsList": None},
    "": {"instanceCount": 1, "maxInstanceCount": None, "instanceType": None, "locations": None,
         "properties": None, "shmSize": "2g", "dockerArgs": None},
}  # fmt: skip
_QUEUE = {"2025-01-01-preview": {"jobTier": "Null"}, "": {"jobTier": "Null", "priority": None}}
_PIPELINE_RUN_PROPERTIES = {
    "azureml.DevPlatv2": "true",
    "azureml.DatasetAccessMode": "Asset",
    "azureml.runsource": "azureml.PipelineRun",
    "runSource": "MFE",
    "runType": "HTTP",
    "azureml.parameters": "{}",
    "azureml.continue_on_step_failure": "True",
    "azureml.continue_on_failed_optional_input": "True",
    "azureml.enforceRerun": "False",
    "azureml.defaultDataStoreName": "workspaceblobstore",
    "azureml.pipelineComponent": "pipelinerun",
}


def _tail(reference: Any) -> str:
    return str(reference).rstrip("/").rsplit("/", 1)[-1]


def _versioned(version: str) -> str:
    return version if version in _COMMAND_FIELDS else ""


def job_document(ws: FakeWorkspace, job: FakeJob, version: str) -> dict[str, Any]:
    """The job resource the service answers with at `version`."""
    now = ws.clock.now()
    sent = copy.deepcopy(job.body.get("properties", {}) or {})
    pipeline = job.kind == "Pipeline"
    sweep_job = job.kind == "Sweep"  # sweeps: answered as sent (fakeaml/sweeps.py shapes them)
    fields = (
        _PIPELINE_FIELDS if pipeline else tuple(sent) if sweep_job else _COMMAND_FIELDS[_versioned(version)]
    )
    props: dict[str, Any] = {name: sent.get(name) for name in fields}
    status = job.status(now)
    first_answer = status == "NotStarted" and now == job.created
    props |= {
        "status": status,
        "tags": dict(sent.get("tags") or {}),
        "experimentName": job.experiment_name,
        "displayName": sent.get("displayName") or job.name,
        "isArchived": bool(sent.get("isArchived", False)),
        "jobType": job.kind,
        "services": _services(ws, job.name),
        "properties": dict(sent.get("properties") or {}),
        "inputs": _inputs(sent.get("inputs"), version),
        "outputs": _outputs(job, sent.get("outputs"), version),
    }
    if pipeline:
        props["jobs"] = sent.get("jobs") or {}
        props["settings"] = sent.get("settings") or {}
        if not first_answer:
            compute = _tail((sent.get("settings") or {}).get("default_compute") or "")
            props["properties"] |= _PIPELINE_RUN_PROPERTIES | {"azureml.defaultComputeName": compute}
        if status in FINAL:
            started, ended = job.times(now)
            stage = {"StartTime": iso(started), "EndTime": iso(ended), "Status": _stage_status(status)}
            props["properties"]["azureml.pipelines.stages"] = json.dumps(
                {"Initialization": None, "Execution": stage}
            )
    elif not sweep_job:
        props["environmentVariables"] = dict(sent.get("environmentVariables") or {})
        props["parameters"] = dict(sent.get("parameters") or {})
        key = _versioned(version)
        props["resources"] = {
            **_RESOURCES[key],
            **{k: v for k, v in (sent.get("resources") or {}).items() if k in _RESOURCES[key]},
        }
        props["queueSettings"] = dict(_QUEUE[key])
        compute = _tail(sent.get("computeId") or "")
        props["properties"] |= {
            "_azureml.ComputeTargetType": "amlctrain",
            "_azureml.ClusterName": compute,
        }
    if (sweep := ws.sweeps.get(job.name)) is not None:  # sweeps: a sweep job names its best trial
        props["properties"] = {**(props.get("properties") or {}), **sweep.properties(ws.clock.now())}
    return {
        "id": f"{ws.scope}/jobs/{job.name}",
        "name": job.name,
        "type": f"{PROVIDER}/workspaces/jobs",
        "properties": props,
        "systemData": system_data(job.created, full=False),
    }


def _services(ws: FakeWorkspace, job_name: str) -> dict[str, Any]:
    def service(kind: str, endpoint: str) -> dict[str, Any]:
        return {
            "jobServiceType": kind,
            "port": None,
            "endpoint": endpoint,
            "status": None,
            "errorMessage": None,
            "properties": None,
            "nodes": None,
        }

    return {
        "Tracking": service("Tracking", f"{ws.mlflow_tracking_uri}?"),
        "Studio": service("Studio", ws.studio_url(job_name)),
    }


@staticmethod
def _inputs(sent: Any, version: str) -> dict[str, Any] | None:
    if not sent:
        return None
    ports: dict[str, Any] = {}
    for name, port in sent.items():
        kind = port.get("jobInputType", "literal")
        if kind == "literal":
            ports[name] = {"description": None, "value": port.get("value"), "jobInputType": kind}
            continue
        ports[name] = {
            "description": None,
            "uri": port.get("uri"),
            "mode": port.get("mode") or "ReadOnlyMount",
        }
        if _versioned(version) == "":
            ports[name]["pathOnCompute"] = None
        ports[name]["jobInputType"] = kind
    return ports


def _outputs(job: FakeJob, sent: Any, version: str) -> dict[str, Any]:
    outputs = dict(sent or {})
    if job.kind != "Pipeline":
        outputs.setdefault("default", {"jobOutputType": "uri_folder", "mode": "ReadWriteMount"})
    ports: dict[str, Any] = {}
    for name, port in outputs.items():
        uri = port.get("uri")
        if job.kind != "Pipeline" and uri is None:
            uri = f"azureml://datastores/workspaceartifactstore/ExperimentRun/dcid.{job.name}"
            if name != "default":
                uri += f"/outputs/{name}"
        answer: dict[str, Any] = {"description": None, "uri": uri, "assetName": None}
        if _versioned(version) == "":
            answer |= {
                "assetVersion": None,
                "mode": port.get("mode") or "ReadWriteMount",
                "pathOnCompute": None,
                "autoDeleteSetting": None,
            }
        else:
            answer["mode"] = port.get("mode") or "ReadWriteMount"
        answer["jobOutputType"] = port.get("jobOutputType", "uri_folder")
        ports[name] = answer
    return ports


def _stage_status(status: str) -> str:
    return {"Completed": "Finished"}.get(status, status)
