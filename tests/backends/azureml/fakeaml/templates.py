"""The documents the fake answers with, field for field as the recorded service sends them.

Every key below appears in a recorded answer of the real service (`../shared/azure-recordings/`,
reduced to `recorded/shapes.json`); the values are the fake's own. `test_recorded_shapes.py`
keeps the two in step: a field added here that the service never sends, or one it always sends
and this forgets, fails that test.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import yaml

from .arm import PROVIDER

SERVICE_USER = "trainctl-fake"


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def system_data(created: datetime, modified: datetime | None = None, *, full: bool = True) -> dict[str, Any]:
    """`full`: the six keys of most assets; jobs carry only who created them and when."""
    data: dict[str, Any] = {
        "createdAt": iso(created),
        "createdBy": SERVICE_USER,
        "createdByType": "Application",
    }
    if full:
        data |= {
            "lastModifiedAt": iso(modified or created),
            "lastModifiedBy": SERVICE_USER,
            "lastModifiedByType": "Application",
        }
    return data


def workspace(ws: Any) -> dict[str, Any]:
    scope_rg = f"/subscriptions/{ws.subscription}/resourceGroups/{ws.resource_group}/providers"
    return {
        "id": ws.scope,
        "name": ws.name,
        "type": f"{PROVIDER}/workspaces",
        "location": ws.location,
        "tags": {},
        "etag": None,
        "properties": {
            "friendlyName": ws.name,
            "description": "",
            "storageAccount": f"{scope_rg}/Microsoft.Storage/storageAccounts/{ws.storage_account}",
            "keyVault": f"{scope_rg}/Microsoft.Keyvault/vaults/kv-{ws.name}",
            "applicationInsights": f"{scope_rg}/Microsoft.insights/components/ai-{ws.name}",
            "hbiWorkspace": False,
            "tenantId": ws.tenant_id,
            "imageBuildCompute": None,
            "provisioningState": "Succeeded",
            "managedNetwork": {
                "changeableIsolationModes": ["AllowInternetOutbound", "AllowOnlyApprovedOutbound"],
                "isolationMode": "Disabled",
                "enableNetworkMonitor": False,
                "enableFirewallLog": False,
            },
            "allowRoleAssignmentOnRG": True,
            "v1LegacyMode": False,
            "softDeleteEnabled": False,
            "containerRegistry": f"{scope_rg}/Microsoft.ContainerRegistry/registries/cr{ws.workspace_id[:8]}",
            "creationTime": "2025-01-01T00:00:00.0000000Z",
            "notebookInfo": {
                "resourceId": ws.workspace_id.replace("-", ""),
                "fqdn": f"ml-{ws.name}-{ws.location}.notebooks.azure.net",
                "isPrivateLinkEnabled": False,
                "notebookPreparationError": None,
            },
            "storageHnsEnabled": False,
            "workspaceId": ws.workspace_id,
            "linkedModelInventoryArmId": None,
            "privateLinkCount": 0,
            "publicNetworkAccess": "Enabled",
            "ipAllowlist": [],
            "networkAcls": {"defaultAction": "Allow", "bypass": "", "ipRules": [], "resourceAccessRules": []},
            "discoveryUrl": f"https://{ws.api_host}/discovery",
            "mlFlowTrackingUri": ws.mlflow_tracking_uri,
            "serverlessComputeSettings": None,
            "EnableSoftwareBillOfMaterials": False,
            "sdkTelemetryAppInsightsKey": "00000000-0000-0000-0000-00000000a11e",
            "sasGetterUri": "",
            "enableDataIsolation": False,
            "systemDatastoresAuthMode": "accesskey",
            "enableServiceSideCMKEncryption": False,
        },
        "identity": {"type": "SystemAssigned", "principalId": ws.principal_id, "tenantId": ws.tenant_id},
        "kind": "Default",
        "sku": {"name": "Basic", "tier": "Basic"},
        "systemData": system_data(ws.created, full=True)
        | {"createdByType": "User", "lastModifiedByType": "User"},
    }


def discovery(api_host: str) -> dict[str, str]:
    base = f"https://{api_host}"
    return {
        "api": base,
        "catalog": base,
        "experimentation": base,
        "history": base,
        "hyperdrive": base,
        "labeling": base,
        "modelmanagement": base,
        "pipelines": base,
        "studio": "https://ml.azure.com",
    }


def compute(ws: Any, name: str, vm_size: str, *, state: str = "Succeeded") -> dict[str, Any]:
    return {
        "id": f"{ws.scope}/computes/{name}",
        "name": name,
        "type": f"{PROVIDER}/workspaces/computes",
        "location": ws.location,
        "tags": {},
        "properties": {
            "createdOn": "2025-01-01T00:00:00.0000000+00:00",
            "modifiedOn": "2025-01-01T00:00:00.0000000+00:00",
            "disableLocalAuth": False,
            "description": None,
            "resourceId": None,
            "computeType": "AmlCompute",
            "computeLocation": ws.location,
            "provisioningState": state,
            "provisioningErrors": None,
            "provisioningWarnings": {},
            "isAttachedCompute": False,
            "properties": {
                "vmSize": vm_size,
                "vmPriority": "Dedicated",
                "scaleSettings": {
                    "maxNodeCount": 4,
                    "minNodeCount": 0,
                    "nodeIdleTimeBeforeScaleDown": "PT2M",
                },
                "subnet": None,
                "currentNodeCount": 0,
                "targetNodeCount": 0,
                "nodeStateCounts": {
                    "preparingNodeCount": 0,
                    "runningNodeCount": 0,
                    "idleNodeCount": 0,
                    "unusableNodeCount": 0,
                    "leavingNodeCount": 0,
                    "preemptedNodeCount": 0,
                },
                "allocationState": "Steady",
                "allocationStateTransitionTime": "2025-01-01T00:00:00.000+00:00",
                "errors": None,
                "remoteLoginPortPublicAccess": "Enabled",
                "osType": "Linux",
                "virtualMachineImage": None,
                "isolatedNetwork": False,
                "enableBatchPrivateLink": False,
                "propertyBag": {},
            },
        },
    }


# Per asset kind: the fields of `properties` the service answers with, and their defaults.
# (environments: 09; data: 10; components: 01/07; codes: 07.)
_ASSET_FIELDS: dict[str, dict[str, Any]] = {
    "environments": {
        "description": None,
        "tags": {},
        "properties": {},
        "isArchived": False,
        "isAnonymous": False,
        "autoDeleteSetting": None,
        "environmentType": "UserCreated",
        "image": None,
        "condaFile": None,
        "osType": "Linux",
        "autoRebuild": "Disabled",
        "provisioningState": "Succeeded",
        "stage": "Development",
        "intellectualProperty": None,
    },
    "data": {
        "description": None,
        "tags": {},
        "properties": {},
        "isArchived": False,
        "isAnonymous": False,
        "autoDeleteSetting": None,
        "dataUri": None,
        "stage": None,
        "intellectualProperty": None,
        "dataType": "uri_file",
    },
    "components": {
        "description": None,
        "tags": {},
        "properties": {},
        "isArchived": False,
        "isAnonymous": False,
        "componentSpec": {},
        "provisioningState": "Succeeded",
        "stage": "Development",
        "autoDeleteSetting": None,
    },
    "codes": {
        "description": None,
        "tags": {},
        "properties": {},
        "isArchived": False,
        "isAnonymous": False,
        "codeUri": None,
        "provisioningState": "Succeeded",
    },
    "models": {
        "description": None,
        "tags": {},
        "properties": {},
        "isArchived": False,
        "isAnonymous": False,
        "modelUri": None,
        "modelType": "custom_model",
        "flavors": {},
        "jobName": None,
        "stage": "Development",
        "provisioningState": "Succeeded",
    },
}


def conda_as_json(text: str) -> str:
    """The service stores an environment's conda file as JSON text (09), whatever was sent."""
    try:
        parsed = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    return json.dumps(parsed, indent=2)


def asset_version(
    ws: Any,
    kind: str,
    name: str,
    version: str,
    sent: dict[str, Any],
    created: datetime,
    modified: datetime,
) -> dict[str, Any]:
    """A versioned asset as stored: the sent properties the kind has, server fields added."""
    fields = _ASSET_FIELDS[kind]
    properties = {key: sent.get(key, default) for key, default in fields.items()}
    for key in ("tags", "properties"):
        # the service keeps these as strings, whatever JSON type was sent (07: hash_version)
        properties[key] = {
            k: v if isinstance(v, str) else json.dumps(v) for k, v in (properties[key] or {}).items()
        }
    if kind == "environments" and isinstance(properties["condaFile"], str):
        properties["condaFile"] = conda_as_json(properties["condaFile"])
    if kind == "data" and isinstance(properties["dataUri"], str):
        properties["dataUri"] = long_datastore_uri(ws, properties["dataUri"])
    if kind == "components":
        properties["componentSpec"] = dict(properties["componentSpec"] or {})
    body = {
        "id": f"{ws.scope}/{kind}/{name}/versions/{version}",
        "name": version,
        "type": f"{PROVIDER}/workspaces/{kind}/versions",
        "properties": properties,
        "systemData": system_data(created, modified),
    }
    if kind == "data":
        # a data version's systemData stops at lastModifiedAt (10)
        body["systemData"] = {
            k: v for k, v in body["systemData"].items() if k != "lastModifiedBy" and k != "lastModifiedByType"
        }
    return body


def long_datastore_uri(ws: Any, uri: str) -> str:
    """`azureml://datastores/x/paths/p` as the service returns it: with the workspace in front."""
    short = "azureml://datastores/"
    if not uri.startswith(short):
        return uri
    return (
        f"azureml://subscriptions/{ws.subscription}/resourcegroups/{ws.resource_group}/workspaces/{ws.name}"
        f"/datastores/{uri[len(short) :]}"
    )


def asset_container(ws: Any, kind: str, name: str, versions: list[dict[str, Any]]) -> dict[str, Any]:
    """No container answer is recorded; the fields follow the SDK's REST model of a container."""
    latest = versions[0]
    properties: dict[str, Any] = {
        "description": None,
        "tags": {},
        "properties": {},
        "isArchived": False,
        "latestVersion": latest["name"],
        "nextVersion": str(len(versions) + 1),
        "provisioningState": "Succeeded",
    }
    if kind == "data":
        properties["dataType"] = latest["properties"].get("dataType", "uri_file")
    return {
        "id": f"{ws.scope}/{kind}/{name}",
        "name": name,
        "type": f"{PROVIDER}/workspaces/{kind}",
        "properties": properties,
        "systemData": latest["systemData"],
    }


def pending_upload(ws: Any, upload_id: str) -> dict[str, Any]:
    container = f"{ws.workspace_id}-{upload_id[:24]}"
    blob_uri = f"https://{ws.storage_account}.blob.core.windows.net:443/{container}"
    sas = f"https://{ws.storage_account}.blob.core.windows.net/{container}?sv=fake&sr=c&sp=rcwl&sig=fake"
    account = (
        f"/subscriptions/{ws.subscription}/resourceGroups/{ws.resource_group}"
        f"/providers/Microsoft.Storage/storageAccounts/{ws.storage_account}"
    )
    return {
        "blobReferenceForConsumption": {
            "blobUri": blob_uri,
            "storageAccountArmId": account,
            "credential": {"credentialType": "SAS", "sasUri": sas},
        },
        "pendingUploadId": upload_id,
        "pendingUploadType": "None",
    }
