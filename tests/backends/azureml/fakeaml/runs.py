"""Run history documents (`{region}.api.azureml.ms/history/v1.0/.../runs/...`), as recorded.

azure-ai-ml 1.35.2 lists a pipeline's steps with `jobs.list(parent_job_name=...)`: a GET of the
parent through ARM, then (once per client) the workspace and its discovery document, then
`GET /history/v1.0/{workspace}/runs/{parent}/children?api-version=v1.0`, one page only (the
SDK's pager ignores any continuation). Each element is a run history `Run` (02, 03): the
node's display name, the component's name, created/start/end times, error and warnings of
a failed step, and (when Azure ML reused the step) the reuse properties pointing at the run
that did the work.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .templates import iso

USER = {
    "userObjectId": "00000000-0000-0000-0000-0000000000bb",
    "userPuId": "1003000000000000",
    "userIdp": None,
    "userAltSecId": None,
    "userIss": "https://sts.windows.net/00000000-0000-0000-0000-0000000000aa/",
    "userTenantId": "00000000-0000-0000-0000-0000000000aa",
    "userName": "trainctl-fake",
    "upn": None,
    "clientApplicationId": None,
    "applicationACR": None,
}
# The service's usual words for a script that exited non-zero (the fake's, not recorded).
SCRIPT_FAILED = (
    "Execution failed. User process 'python' exited with status code 1. "
    "Please check log file 'user_logs/std_log.txt' for error details."
)
IMAGE_BUILD_FAILED = (
    "Image build failed: the conda environment could not be created. "
    "For more details, check log file azureml-logs/20_image_build_log.txt."
)


@dataclass(frozen=True)
class Reused:
    """Where a reused step's work was really done (the `azureml.reused*` properties)."""

    run_id: str
    node_id: str
    pipeline_name: str
    pipeline_run_id: str


@dataclass(frozen=True)
class RunFacts:
    run_id: str
    parent: str | None
    experiment_id: str
    display_name: str
    component: str
    status: str
    created: datetime
    started: datetime | None
    ended: datetime | None
    modified: datetime
    node_id: str
    compute: str
    run_uuid: str
    parent_uuid: str | None
    number: int
    error: str | None = None
    reused: Reused | None = None
    step_run: bool = True


def _duration(started: datetime | None, ended: datetime | None, now: datetime) -> str | None:
    if started is None:
        return None
    seconds = max(0.0, ((ended or now) - started).total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{int(hours):02d}:{int(minutes):02d}:{secs:010.7f}"


def _error(message: str) -> dict[str, Any]:
    return {
        "error": {
            "code": "UserError",
            "severity": None,
            "message": message,
            "messageFormat": None,
            "messageParameters": {},
            "referenceCode": None,
            "detailsUri": None,
            "target": None,
            "details": [],
            "innerError": None,
            "debugInfo": None,
            "additionalInfo": None,
        },
        "correlation": None,
        "environment": None,
        "location": None,
        "time": "0001-01-01T00:00:00+00:00",
        "componentName": "CommonRuntime",
    }


def run_document(facts: RunFacts, *, root: str, api_host: str, scope: str, now: datetime) -> dict[str, Any]:
    properties = {
        "azureml.DevPlatv2": "true",
        "azureml.DatasetAccessMode": "Asset",
        "StepType": "PythonScriptStep",
        "ComputeTargetType": "AmlCompute",
        "azureml.moduleid": str(uuid.uuid5(uuid.NAMESPACE_URL, facts.component)),
        "azureml.moduleFamilyId": "0",
        "azureml.moduleName": facts.component,
        "azureml.moduleVersion": "1",
        "azureml.runsource": "azureml.StepRun" if facts.step_run else "azureml.scriptrun",
        "azureml.nodeid": facts.node_id,
        "azureml.pipelinerunid": facts.parent or facts.run_id,
        "azureml.pipeline": facts.parent or facts.run_id,
        "azureml.rootpipelinerunid": root,
        "azureml.pipelineComponent": "masterescloud",
        "_azureml.ComputeTargetType": "amlctrain",
        "_azureml.ClusterName": facts.compute,
        "ProcessInfoFile": "azureml-logs/process_info.json",
        "ProcessStatusFile": "azureml-logs/process_status.json",
    }
    container = facts.run_id
    compute_duration = _duration(facts.started, facts.ended, now)
    if facts.reused is not None:
        # 03 at a08060416d9c (see SOURCES.md): the markers, no compute, the original's container
        properties |= {
            "azureml.isreused": "true",
            "azureml.reusedrunid": facts.reused.run_id,
            "azureml.reusednodeid": facts.reused.node_id,
            "azureml.reusedpipeline": facts.reused.pipeline_name,
            "azureml.reusedpipelinerunid": facts.reused.pipeline_run_id,
        }
        container = facts.reused.run_id
        compute_duration = "00:00:00"
    studio_scope = scope.replace("/providers/Microsoft.MachineLearningServices", "")
    studio = f"https://{api_host}/studioservice/apiv2{studio_scope}"
    cancel_uri = f"{studio}/runs/{facts.run_id}/Cancel"
    failed = facts.status == "Failed"
    return {
        "runNumber": facts.number,
        "rootRunId": root,
        "createdUtc": iso(facts.created),
        "createdBy": USER,
        "userId": USER["userObjectId"],
        "token": None,
        "tokenExpiryTimeUtc": None,
        "error": _error(facts.error or SCRIPT_FAILED) if failed else None,
        "warnings": [{"source": "trainctl-fake", "message": "AzureMLCompute job failed"}] if failed else None,
        "revision": 10,
        "statusRevision": 4,
        "runUuid": facts.run_uuid,
        "parentRunUuid": facts.parent_uuid,
        "rootRunUuid": facts.parent_uuid or facts.run_uuid,
        "lastStartTimeUtc": None,
        "currentComputeTime": None,
        "computeDuration": compute_duration,
        "effectiveStartTimeUtc": None,
        "lastModifiedBy": USER,
        "lastModifiedUtc": iso(facts.modified),
        "duration": _duration(facts.started, facts.ended, now),
        "cancelationReason": None,
        "currentAttemptId": 1,
        "runId": facts.run_id,
        "parentRunId": facts.parent,
        "experimentId": facts.experiment_id,
        "status": facts.status,
        "startTimeUtc": iso(facts.started),
        "endTimeUtc": iso(facts.ended),
        "scheduleId": None,
        "displayName": facts.display_name,
        "name": facts.component,
        "dataContainerId": f"dcid.{container}",
        "description": None,
        "hidden": False,
        "runType": "azureml.StepRun" if facts.step_run else "azureml.scriptrun",
        "runTypeV2": {
            "orchestrator": "Execution",
            "traits": ["azureml.StepRun" if facts.step_run else "scriptRun", "remote", "CommonRuntime"],
            "attribution": "Aether" if facts.step_run else "MFE",
            "computeType": "AmlcTrain",
        },
        "properties": properties,
        "parameters": {},
        "actionUris": {"Cancel": cancel_uri, "Diagnose": ""},
        "scriptName": None,
        "target": facts.compute,
        "uniqueChildRunComputeTargets": [],
        "tags": {"azureml.nodeid": facts.node_id, "azureml.pipeline": facts.parent or facts.run_id},
        "settings": {},
        "services": {},
        "inputDatasets": [],
        "outputDatasets": [],
        "runDefinition": None,
        "jobSpecification": None,
        "primaryMetricName": None,
        "createdFrom": None,
        "cancelUri": cancel_uri,
        "completeUri": None,
        "diagnosticsUri": "",
        "computeRequest": {"nodeCount": 1, "gpuCount": 0},
        "compute": {
            "target": facts.compute,
            "targetType": "amlcompute",
            "vmSize": None,
            "instanceType": None,
            "instanceCount": 1,
            "gpuCount": 0,
            "priority": None,
            "region": None,
            "armId": None,
            "properties": None,
        },
        "retainForLifetimeOfWorkspace": None,
        "queueingInfo": None,
        "inputs": None,
        "outputs": None,
    }
