"""Compact answers of the real service, rewritten from the recorded sessions.

Each document keeps the fields that matter to the read path, in the shape and formats the
recordings show (`../shared/azure-recordings`, named per fixture); names, ids, times and
messages are this project's own. What each one stands for:
- `pipeline_job`: a pipeline's ARM job (02, 03): no times while it runs; when it has ended,
  `azureml.pipelines.stages` holds the Execution stage as JSON text.
- `child_run`: a step's run from run history (02, 03): created when the pipeline reached
  it, started when it ran, 7-digit fractions and `+00:00`; a failed one carries
  `error.error.{code,message}` (the message's `Error Code:`/`Error Message:` lines and
  `| session_id=` tail) and `warnings`; a reused one the `azureml.isreused`/`reused*`
  properties, `computeDuration` "00:00:00" and the original's data container (03 at
  a08060416d9c, described in SOURCES.md).
- `command_job` / `command_run`: a command job's ARM job (04: no times) and its own run.
- `VALIDATION_ERROR`: the 404 a job PUT gets for a component version that does not exist (06).
"""

from __future__ import annotations

import json
from typing import Any

from fakeaml.arm import STANDARD
from fakeaml.transport import Reply

PROVIDER = "Microsoft.MachineLearningServices"
CREATED = "2025-03-04T10:15:00.1234567+00:00"
PIPELINE_START = "2025-03-04T10:15:02.7654321+00:00"
PIPELINE_END = "2025-03-04T10:31:40.5000000+00:00"
NODES = {
    "train_model": ("train-model", "train_diabetes_model"),
    "evaluate_model": ("evaluate-model", "evaluate_diabetes_model"),
    "register_model": ("register-model", "register_diabetes_model"),
}
# The service's error layout (02), in this project's words.
ACCESS_DENIED = (
    "\nError Code: ScriptExecution.StreamAccess.Authentication\n"
    "Native Error: could not read the input stream\n\tPermissionDenied(None)\n"
    "Error Message: Access to the input data was denied; check the compute identity's role on "
    "the datastore.| session_id=11111111-2222-4333-8444-555555555555"
)
SCRIPT_FAILED = "Execution failed. User process 'python' exited with status code 1."


def answer(body: Any, status: int = 200) -> Reply:
    return Reply.json(status, body, dict(STANDARD))


def pipeline_job(
    scope: str, name: str, status: str, *, stages: tuple[str, str, str] | None = None
) -> dict[str, Any]:
    """`stages`: (start, end, stage status) of a pipeline that has ended."""
    properties = {
        "azureml.DevPlatv2": "true",
        "azureml.runsource": "azureml.PipelineRun",
        "azureml.enforceRerun": "False",
        "azureml.defaultComputeName": "cpu-cluster",
    }
    if stages is not None:
        start, end, stage = stages
        execution = {"StartTime": start, "EndTime": end, "Status": stage}
        properties["azureml.pipelines.stages"] = json.dumps({"Initialization": None, "Execution": execution})
    return {
        "id": f"{scope}/jobs/{name}",
        "name": name,
        "type": f"{PROVIDER}/workspaces/jobs",
        "properties": {
            "description": "replayed pipeline",
            "tags": {"trainctl.run_id": name.removeprefix("trainctl-")},
            "properties": properties,
            "displayName": "diabetes-pipeline",
            "status": status,
            "experimentName": "diabetes-training",
            "services": {
                "Studio": {
                    "jobServiceType": "Studio",
                    "endpoint": f"https://ml.azure.com/runs/{name}?wsid={scope}",
                }
            },
            "computeId": f"{scope}/computes/cpu-cluster",
            "isArchived": False,
            "identity": None,
            "jobType": "Pipeline",
            "settings": {"_source": "DSL"},
            "jobs": {
                key: {
                    "name": key,
                    "type": "command",
                    "_source": "REMOTE.WORKSPACE.COMPONENT",
                    "componentId": f"{scope}/components/{component}/versions/1-0123456789abcdef",
                }
                for key, (_, component) in NODES.items()
            },
            "inputs": None,
            "outputs": {},
        },
        "systemData": {"createdAt": CREATED, "createdBy": "replay", "createdByType": "User"},
    }


def child_run(
    parent: str,
    node: str,
    status: str,
    *,
    run_id: str,
    created: str,
    started: str | None = None,
    ended: str | None = None,
    error: str | None = None,
    reused_from: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """`reused_from`: (run id, pipeline run id) of the run that did the work."""
    display, component = NODES[node]
    properties = {
        "azureml.nodeid": run_id[:8],
        "azureml.moduleName": component,
        "azureml.runsource": "azureml.StepRun",
        "azureml.pipelinerunid": parent,
        "azureml.rootpipelinerunid": parent,
    }
    container = run_id
    if reused_from is not None:
        original, original_pipeline = reused_from
        properties |= {
            "azureml.isreused": "true",
            "azureml.reusedrunid": original,
            "azureml.reusednodeid": original[:8],
            "azureml.reusedpipeline": "diabetes-pipeline",
            "azureml.reusedpipelinerunid": original_pipeline,
        }
        container = original
    run: dict[str, Any] = {
        "runId": run_id,
        "parentRunId": parent,
        "rootRunId": parent,
        "displayName": display,
        "name": component,
        "status": status,
        "createdUtc": created,
        "startTimeUtc": started,
        "endTimeUtc": ended,
        "lastModifiedUtc": ended or started or created,
        "runType": "azureml.StepRun",
        "computeDuration": "00:00:00" if reused_from else None,
        "dataContainerId": f"dcid.{container}",
        "properties": properties,
        "tags": {"azureml.nodeid": run_id[:8], "azureml.pipeline": parent},
        "error": None,
        "warnings": None,
    }
    if error is not None:
        run["error"] = {
            "error": {"code": "UserError", "message": error, "details": []},
            "componentName": "CommonRuntime",
        }
        run["warnings"] = [{"source": "replay", "message": "AzureMLCompute job failed"}]
    return run


def children(*runs: dict[str, Any]) -> dict[str, Any]:
    return {"value": list(runs)}


def command_job(scope: str, name: str, status: str) -> dict[str, Any]:
    return {
        "id": f"{scope}/jobs/{name}",
        "name": name,
        "type": f"{PROVIDER}/workspaces/jobs",
        "properties": {
            "description": None,
            "tags": {"trainctl.run_id": name.removeprefix("trainctl-")},
            "properties": {"_azureml.ComputeTargetType": "amlctrain", "_azureml.ClusterName": "cpu-cluster"},
            "displayName": "train-model",
            "status": status,
            "experimentName": "diabetes-training",
            "services": {
                "Studio": {
                    "jobServiceType": "Studio",
                    "endpoint": f"https://ml.azure.com/runs/{name}?wsid={scope}",
                }
            },
            "computeId": f"{scope}/computes/cpu-cluster",
            "isArchived": False,
            "identity": {"identityType": "AMLToken"},
            "jobType": "Command",
            "resources": {"instanceCount": 1, "shmSize": "2g"},
            "codeId": None,
            "command": "python train.py --training_data ${{inputs.training_data}}",
            "environmentId": "azureml:diabetes-classify:1",
            "inputs": {
                "training_data": {
                    "uri": "azureml://datastores/workspaceblobstore/paths/data/diabetes.csv",
                    "mode": "ReadOnlyMount",
                    "jobInputType": "uri_file",
                }
            },
            "outputs": {
                "default": {
                    "uri": f"azureml://datastores/workspaceartifactstore/ExperimentRun/dcid.{name}",
                    "mode": "ReadWriteMount",
                    "jobOutputType": "uri_folder",
                }
            },
            "environmentVariables": {},
            "parameters": {},
            "queueSettings": {"jobTier": "Null"},
        },
        "systemData": {"createdAt": CREATED, "createdBy": "replay", "createdByType": "User"},
    }


def command_run(
    name: str, status: str, *, started: str | None = None, ended: str | None = None, error: str | None = None
) -> dict[str, Any]:
    run: dict[str, Any] = {
        "runId": name,
        "status": status,
        "createdUtc": CREATED,
        "startTimeUtc": started,
        "endTimeUtc": ended,
        "properties": {"_azureml.ClusterName": "cpu-cluster"},
        "error": None,
    }
    if error is not None:
        run["error"] = {"error": {"code": "UserError", "message": error}}
    return run


def validation_error(scope: str, component: str, version: str) -> Reply:
    """06: the job PUT names a component version the workspace does not have."""
    key = f"{scope}/components/{component}/versions/{version}"
    body = {
        "error": {
            "code": "NotFound",
            "message": f"key: {key}, Message: Not found component {component} (version: {version}).",
            "details": [],
            "additionalInfo": [
                {"type": "ComponentName", "info": {"value": "managementfrontend"}},
                {"type": "Location", "info": {"value": "westeurope"}},
            ],
        }
    }
    return Reply.json(404, body, {"x-ms-response-type": "error"})
