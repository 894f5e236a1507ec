"""An in-memory Azure ML workspace behind the fake transport.

Answers the ARM routes azure-ai-ml 1.35.2 uses (workspace, computes, datastores, codes,
components, environments, data, models, jobs), the workspace discovery document, the run
history children listing, and the blob requests of a code upload. Anything else is a 404
with code `FakeRouteMissing`, recorded so tests can assert nothing unexpected was asked.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from .blobs import BlobStore
from .clock import FakeClock
from .jobs import FakeJob, child_runs, iso
from .jobs_api import VERSIONED_KINDS, JobsApi
from .sweeps import SweepRegistry
from .transport import FakeTransport, Reply

ARM_HOST = "management.azure.com"
PROVIDER = "Microsoft.MachineLearningServices"


class FakeWorkspace:
    def __init__(
        self,
        clock: FakeClock | None = None,
        *,
        subscription: str = "00000000-1111-2222-3333-444444444444",
        resource_group: str = "rg-trainctl",
        name: str = "ws-trainctl",
        location: str = "westeurope",
        storage_account: str = "fakestorage",
    ) -> None:
        self.clock = clock or FakeClock()
        self.subscription = subscription
        self.resource_group = resource_group
        self.name = name
        self.location = location
        self.storage_account = storage_account
        self.workspace_id = str(uuid.uuid4())
        self.api_host = f"{location}.api.azureml.ms"
        self.mlflow_tracking_uri = f"azureml://{self.api_host}/mlflow/v1.0{self.scope}"
        self.lock = threading.RLock()
        # reachable state
        self.workspace_status: int = 200  # 403 / 404 make the workspace unreadable
        self.assets: dict[tuple[str, str, str], dict[str, Any]] = {}
        self._order: dict[str, int] = {}  # asset id -> creation sequence ("latest" = highest)
        self.computes: dict[str, dict[str, Any]] = {}
        self.jobs: dict[str, FakeJob] = {}
        self.storage = BlobStore(self._missing)
        self.jobs_api = JobsApi(self)
        self.failing_steps: set[str] = set()  # display names that fail in pipelines created next
        # sweeps (fakeaml/sweeps.py): trials that fail, and the best one, in sweeps created next
        self.sweeps = SweepRegistry(self)
        self.failing_trials: set[int] = set()
        self.best_trial: int | None = None
        self.fail_command_jobs = False
        self.child_namer: Callable[[str, str], str] = lambda parent, display: str(uuid.uuid4())
        self.unrouted: list[str] = []
        self.transport = FakeTransport(self.handle)
        self.add_compute("cpu-cluster")
        self.add_datastore_defaults()

    # -- identity of the workspace --------------------------------------------------------
    @property
    def scope(self) -> str:
        return (
            f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}"
            f"/providers/{PROVIDER}/workspaces/{self.name}"
        )

    def studio_url(self, job_name: str) -> str:
        # azure-ai-ml appends &tid= itself, from the token's tenant
        return f"https://ml.azure.com/runs/{job_name}?wsid={self.scope}"

    # -- seeding helpers ------------------------------------------------------------------
    def add_compute(self, name: str, *, vm_size: str = "STANDARD_DS3_V2") -> None:
        self.computes[name] = {
            "id": f"{self.scope}/computes/{name}",
            "name": name,
            "type": f"{PROVIDER}/workspaces/computes",
            "location": self.location,
            "properties": {
                "computeType": "AmlCompute",
                "provisioningState": "Succeeded",
                "computeLocation": self.location,
                "properties": {
                    "vmSize": vm_size,
                    "vmPriority": "Dedicated",
                    "scaleSettings": {"maxNodeCount": 4, "minNodeCount": 0},
                },
            },
        }

    def add_datastore_defaults(self) -> None:
        self.datastore = {
            "id": f"{self.scope}/datastores/workspaceblobstore",
            "name": "workspaceblobstore",
            "type": f"{PROVIDER}/workspaces/datastores",
            "properties": {
                "datastoreType": "AzureBlob",
                "accountName": self.storage_account,
                "containerName": "azureml-blobstore",
                "endpoint": "core.windows.net",
                "protocol": "https",
                "isDefault": True,
                "credentials": {"credentialsType": "None"},
            },
        }

    def add_data_asset(self, name: str, version: str, *, path: str | None = None) -> None:
        uri = path or f"azureml://datastores/workspaceblobstore/paths/data/{name}/{version}/data.csv"
        self._put_asset("data", name, version, {"properties": {"dataType": "uri_file", "dataUri": uri}})

    def add_environment(self, name: str, version: str) -> None:
        self._put_asset(
            "environments",
            name,
            version,
            {"properties": {"image": "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest"}},
        )

    def asset(self, kind: str, name: str, version: str) -> dict[str, Any] | None:
        return self.assets.get((kind, name, version))

    def versions(self, kind: str, name: str) -> list[dict[str, Any]]:
        with self.lock:
            found = [body for (k, n, _), body in self.assets.items() if k == kind and n == name]
        return sorted(found, key=lambda b: self._order[b["id"]], reverse=True)

    # -- job controls for tests -----------------------------------------------------------
    def job(self, name: str) -> FakeJob:
        return self.jobs[name]

    def set_status(self, name: str, status: str | None) -> None:
        self.jobs[name].status_override = status

    # -- request entry point ------------------------------------------------------------------
    def handle(
        self,
        method: str,
        host: str,
        path: str,
        query: dict[str, str],
        body: bytes,
        headers: Mapping[str, str],
    ) -> Reply:
        with self.lock:
            if host == ARM_HOST:
                return self._arm(method, path, query, body)
            if host == self.api_host:
                return self._dataplane(method, path, query)
            if host == f"{self.storage_account}.blob.core.windows.net":
                return self.storage.handle(method, path, query, body, headers)
            return self._missing(method, host + path)

    def _missing(self, method: str, what: str) -> Reply:
        self.unrouted.append(f"{method} {what}")
        return Reply.error(404, "FakeRouteMissing", f"fake workspace has no route for {method} {what}")

    # -- ARM -----------------------------------------------------------------------------------
    def _arm(self, method: str, path: str, query: dict[str, str], body: bytes) -> Reply:
        if not path.lower().startswith(self.scope.lower()):
            match = re.match(
                r"/subscriptions/[^/]+/resourceGroups/[^/]+/providers/[^/]+/workspaces/([^/]+)", path
            )
            if match:
                return Reply.error(
                    404,
                    "ResourceNotFound",
                    f"The Resource '{PROVIDER}/workspaces/{match.group(1)}' under resource group "
                    "was not found.",
                )
            return self._missing(method, ARM_HOST + path)
        if self.workspace_status == 403:
            return Reply.error(
                403,
                "AuthorizationFailed",
                "The client does not have authorization to perform action "
                f"'{PROVIDER}/workspaces/read' over scope '{self.scope}'.",
            )
        if self.workspace_status == 404:
            return Reply.error(
                404, "ResourceNotFound", f"The Resource '{PROVIDER}/workspaces/{self.name}' was not found."
            )
        rest = path[len(self.scope) :].strip("/")
        parts = rest.split("/") if rest else []
        payload = json.loads(body) if body else None
        if not parts:
            return Reply.json(200, self._workspace_body()) if method == "GET" else self._missing(method, path)
        kind = parts[0]
        if kind == "computes" and len(parts) == 1 and method == "GET":
            return Reply.json(200, {"value": list(self.computes.values()), "nextLink": None})
        if kind == "computes" and len(parts) == 2 and method == "GET":
            found = self.computes.get(parts[1])
            if found is None:
                return Reply.error(404, "ResourceNotFound", f"Compute '{parts[1]}' was not found.")
            return Reply.json(200, found)
        if kind == "datastores":
            return self._datastores(method, parts, query)
        if kind in VERSIONED_KINDS:
            return self._versioned(method, kind, parts[1:], query, payload)
        if kind == "jobs":
            return self.jobs_api.handle(method, parts[1:], query, payload)
        return self._missing(method, ARM_HOST + path)

    def _workspace_body(self) -> dict[str, Any]:
        return {
            "id": self.scope,
            "name": self.name,
            "type": f"{PROVIDER}/workspaces",
            "location": self.location,
            "kind": "Default",
            "identity": {"type": "SystemAssigned"},
            "properties": {
                "friendlyName": self.name,
                "workspaceId": self.workspace_id,
                "discoveryUrl": f"https://{self.api_host}/discovery",
                "mlFlowTrackingUri": self.mlflow_tracking_uri,
                "storageAccount": (
                    f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}"
                    f"/providers/Microsoft.Storage/storageAccounts/{self.storage_account}"
                ),
                "provisioningState": "Succeeded",
            },
        }

    def _datastores(self, method: str, parts: list[str], query: dict[str, str]) -> Reply:
        if method == "GET" and len(parts) == 1:
            return Reply.json(200, {"value": [self.datastore]})
        if method == "GET" and len(parts) == 2 and parts[1] == "workspaceblobstore":
            return Reply.json(200, self.datastore)
        if method == "POST" and len(parts) == 3 and parts[2] == "listSecrets":
            return Reply.json(200, {"secretsType": "Sas", "sasToken": "sv=fake&sig=fake"})
        return self._missing(method, "/datastores/" + "/".join(parts))

    # versioned assets: {kind}/{name}[/versions[/{version}[/startPendingUpload]]]
    def _versioned(
        self, method: str, kind: str, parts: list[str], query: dict[str, str], payload: Any
    ) -> Reply:
        if len(parts) == 1 and method == "GET":
            versions = self.versions(kind, parts[0])
            if not versions:
                return Reply.error(404, "UserError", f"Could not find asset with name {parts[0]}")
            return Reply.json(200, self._container_body(kind, parts[0], versions))
        if len(parts) == 2 and parts[1] == "versions" and method == "GET":
            versions = self.versions(kind, parts[0])
            if "hash" in query:
                versions = [
                    v
                    for v in versions
                    if v["properties"].get("properties", {}).get("hash_sha256") == query["hash"]
                ]
            top = int(query.get("$top", "0") or 0)
            if top:
                versions = versions[:top]
            return Reply.json(200, {"value": versions, "nextLink": None})
        if len(parts) == 3 and parts[1] == "versions":
            name, version = parts[0], parts[2]
            if method == "GET":
                found = self.asset(kind, name, version)
                if found is None:
                    return Reply.error(
                        404, "UserError", f"{kind[:-1].capitalize()} {name}:{version} not found."
                    )
                return Reply.json(200, found)
            if method == "PUT":
                existing = self.asset(kind, name, version)
                stored = self._put_asset(kind, name, version, payload or {})
                return Reply.json(200 if existing else 201, stored)
        if len(parts) == 4 and parts[3] == "startPendingUpload" and method == "POST":
            upload_id = uuid.uuid4().hex
            blob_uri = f"https://{self.storage_account}.blob.core.windows.net/azureml-blobstore-{upload_id}"
            return Reply.json(
                200,
                {
                    "blobReferenceForConsumption": {
                        "blobUri": blob_uri,
                        "storageAccountArmId": f"/storageAccounts/{self.storage_account}",
                        "credential": {"credentialType": "SAS", "sasUri": f"{blob_uri}?sv=fake&sig=fake"},
                    },
                    "pendingUploadId": upload_id,
                    "pendingUploadType": "TemporaryBlobReference",
                },
            )
        return self._missing(method, f"/{kind}/" + "/".join(parts))

    def _container_body(self, kind: str, name: str, versions: list[dict[str, Any]]) -> dict[str, Any]:
        latest = versions[0]["name"]
        return {
            "id": f"{self.scope}/{kind}/{name}",
            "name": name,
            "type": f"{PROVIDER}/workspaces/{kind}",
            "properties": {"latestVersion": latest, "nextVersion": str(len(versions) + 1)},
        }

    def _put_asset(self, kind: str, name: str, version: str, payload: dict[str, Any]) -> dict[str, Any]:
        now = iso(self.clock.now())
        existing = self.assets.get((kind, name, version))
        stored = {
            "id": f"{self.scope}/{kind}/{name}/versions/{version}",
            "name": version,
            "type": f"{PROVIDER}/workspaces/{kind}/versions",
            "properties": dict(payload.get("properties", {})),
            "systemData": existing["systemData"] if existing else {"createdAt": now, "lastModifiedAt": now},
        }
        if kind == "components":
            stored["properties"].setdefault("componentSpec", {})
        self.assets[(kind, name, version)] = stored
        self._order.setdefault(stored["id"], len(self._order))
        return stored

    # -- data plane: discovery + run history -------------------------------------------------
    def _dataplane(self, method: str, path: str, query: dict[str, str]) -> Reply:
        base = f"https://{self.api_host}"
        if path == "/discovery" and method == "GET":
            return Reply.json(
                200,
                {
                    "api": base,
                    "catalog": base,
                    "experimentation": base,
                    "history": base,
                    "modelmanagement": base,
                    "pipelines": base,
                    "studio": "https://ml.azure.com",
                },
            )
        children = re.fullmatch(rf"/history/v1\.0{re.escape(self.scope)}/runs/([^/]+)/children", path, re.I)
        if children and method == "GET":
            job = self.jobs.get(children.group(1))
            sweep = self.sweeps.get(children.group(1))  # sweeps: a sweep's children are its trials
            if job is None and sweep is None:
                return Reply.error(404, "UserError", f"Run {children.group(1)} was not found.")
            now = self.clock.now()
            runs = (
                sweep.children(now) if sweep is not None else self.sweeps.decorate(child_runs(job, now), now)
            )
            return Reply.json(200, {"value": runs, "continuationToken": None, "nextLink": None})
        return self._missing(method, self.api_host + path)
