"""An in-memory Azure ML workspace behind the fake transport.

Answers the ARM routes azure-ai-ml 1.35.2 uses (workspace, computes, datastores, codes,
components, environments, data, models, jobs, the cancel operation's result), the workspace
discovery document, run history (a pipeline's children, one run), and the blob requests of a
code upload, with the fields, headers and errors the recorded service sends (`arm`,
`templates`, `runs`). ARM requests without a known api-version are refused as ARM refuses them.
Anything else is a 404 with code `FakeRouteMissing`, recorded so tests can assert nothing
unexpected was asked.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from . import arm, templates
from .blobs import BlobStore
from .clock import FakeClock
from .jobs import FakeJob, Step
from .jobs_api import VERSIONED_KINDS, JobsApi
from .sweeps import SweepRegistry
from .transport import FakeTransport, Reply

ARM_HOST = arm.ARM_HOST
PROVIDER = arm.PROVIDER
IMAGE_BUILD_SECONDS = 60.0
_MFE = re.compile(
    rf"/subscriptions/([^/]+)/providers/{PROVIDER}/locations/([^/]+)/mfeOperationResults/jc:([^:]+):(.+)"
)


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
        self.tenant_id = "00000000-0000-0000-0000-0000000000aa"
        self.principal_id = str(uuid.uuid4())
        self.created = self.clock.now()
        self.api_host = f"{location}.api.azureml.ms"
        self.mlflow_tracking_uri = f"azureml://{self.api_host}/mlflow/v1.0{self.scope}"
        self.lock = threading.RLock()
        # reachable state
        self.workspace_status: int = 200  # 403 / 404 make the workspace unreadable
        self.assets: dict[tuple[str, str, str], dict[str, Any]] = {}
        self._order: dict[str, int] = {}  # asset id -> creation sequence ("latest" = highest)
        self.computes: dict[str, dict[str, Any]] = {}
        self.jobs: dict[str, FakeJob] = {}
        self.storage = BlobStore(self.missing)
        self.jobs_api = JobsApi(self)
        self.failing_steps: set[str] = set()  # display names that fail in pipelines created next
        # sweeps (fakeaml/sweeps.py): trials that fail, and the best one, in sweeps created next
        self.sweeps = SweepRegistry(self)
        self.failing_trials: set[int] = set()
        self.best_trial: int | None = None
        self.fail_command_jobs = False
        # what the identity may not write: ARM kinds ("environments", "codes", "components",
        # "models", "data", "jobs") answer 403 AuthorizationFailed to PUT/POST; "blobs" makes the
        # storage refuse uploads (an identity-based datastore without a storage role)
        self.forbidden_writes: set[str] = set()
        # environment image builds: the first job using an environment version builds it
        self.image_build_seconds = IMAGE_BUILD_SECONDS
        self.failing_environments: set[str] = set()  # names (or name:version) whose build fails
        self.image_builds: dict[str, tuple[datetime, bool]] = {}
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
        self.computes[name] = templates.compute(self, name, vm_size)

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

    def add_data_asset(
        self, name: str, version: str, *, path: str | None = None, data_type: str = "uri_file"
    ) -> None:
        suffix = "data.csv" if data_type == "uri_file" else ""
        uri = path or f"azureml://datastores/workspaceblobstore/paths/data/{name}/{version}/{suffix}"
        self._put_asset("data", name, version, {"properties": {"dataType": data_type, "dataUri": uri}})

    def add_environment(self, name: str, version: str, *, built: bool = True) -> None:
        self._put_asset(
            "environments",
            name,
            version,
            {"properties": {"image": "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest"}},
        )
        if built:
            self.image_builds[f"{name}:{version}"] = (self.clock.now(), False)

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

    def resubmit(self, name: str, new_name: str) -> Reply:
        """The same job body under a new name, as the service receives a re-submission of an
        unchanged pipeline (e.g. from Studio): the way to see Azure ML reuse a step."""
        body = json.dumps(self.jobs[name].body).encode()
        path = f"{self.scope}/jobs/{new_name}"
        return self.handle("PUT", ARM_HOST, path, {"api-version": "2024-01-01-preview"}, body, {})

    # -- what the jobs API asks the workspace -------------------------------------------------
    def error(self, status: int, code: str, message: str, **kwargs: Any) -> Reply:
        return arm.error(status, code, message, location=self.location, **kwargs)

    def missing(self, method: str, what: str) -> Reply:
        self.unrouted.append(f"{method} {what}")
        return Reply.error(404, "FakeRouteMissing", f"fake workspace has no route for {method} {what}")

    _missing = missing  # the blob store's name for it

    def _reference(self, ref: str) -> tuple[str, list[str]] | None:
        """(kind, parts) of an ARM id or `azureml:name:version` inside this workspace."""
        text = ref.removeprefix("azureml:")
        if text.lower().startswith(self.scope.lower()):
            parts = text[len(self.scope) :].strip("/").split("/")
            return parts[0], parts[1:]
        if text.startswith("/subscriptions/"):
            return "foreign", [text]
        if ref.startswith("azureml:") and ":" in text and "/" not in text:
            name, version = text.rsplit(":", 1)
            return "environments", [name, "versions", version]
        return None

    def lookup_missing(self, ref: str) -> str | None:
        """What a reference names that the workspace lacks ("compute x"), or None."""
        found = self._reference(ref)
        if found is None:
            return None
        kind, parts = found
        if kind == "foreign":
            return f"resource {parts[0]}"
        if kind == "computes" and parts:
            return None if parts[0] in self.computes else f"compute {parts[0]}"
        if kind in VERSIONED_KINDS and len(parts) == 3:
            if (kind, parts[0], parts[2]) in self.assets:
                return None
            return f"{kind.rstrip('s')} {parts[0]} (version: {parts[2]})"
        return None

    def data_asset_for(self, uri: str) -> dict[str, Any] | None:
        found = self._reference(uri) if uri.startswith(("azureml:", "/subscriptions/")) else None
        if found is None or found[0] != "data" or len(found[1]) != 3:
            return None
        return self.asset("data", found[1][0], found[1][2])

    def component_for(self, component_id: str) -> tuple[str, dict[str, Any]]:
        """(component name, its spec) of a node's componentId."""
        found = self._reference(component_id)
        if found is None or found[0] != "components" or len(found[1]) != 3:
            return "azureml_anonymous", {}
        stored = self.asset("components", found[1][0], found[1][2]) or {}
        spec = stored.get("properties", {}).get("componentSpec", {}) or {}
        return found[1][0], spec

    def image_build(self, environment: Any, at: datetime) -> tuple[float, bool]:
        """(extra Preparing seconds, build fails) for a step reaching Preparing at `at`.

        The first job that uses an environment version builds its image; jobs arriving while
        it builds wait for it; later ones find it built. A failed build is tried again by the
        next job, as the service does.
        """
        if not isinstance(environment, str):
            return 0.0, False
        found = self._reference(environment)
        if found is None or found[0] != "environments" or len(found[1]) != 3:
            return 0.0, False
        name, version = found[1][0], found[1][2]
        key = f"{name}:{version}"
        done = self.image_builds.get(key)
        if done is not None and not done[1]:
            return max(0.0, (done[0] - at).total_seconds()), False
        fails = name in self.failing_environments or key in self.failing_environments
        finished = at + timedelta(seconds=self.image_build_seconds)
        self.image_builds[key] = (finished, fails)
        return self.image_build_seconds, fails

    def reusable(self, key: str | None, at: datetime) -> tuple[FakeJob, Step] | None:
        """A completed step with the same reuse key, if any (the one Azure ML would reuse)."""
        if key is None:
            return None
        for job in list(self.jobs.values()):
            for step in job.steps:
                if step.reuse_key == key and job.step_status(step, at)[0] == "Completed":
                    return job, step
        return None

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
                if method == "PUT" and "blobs" in self.forbidden_writes:
                    return self.storage.forbidden()
                return self.storage.handle(method, path, query, body, headers)
            return self.missing(method, host + path)

    # -- ARM -----------------------------------------------------------------------------------
    def _arm(self, method: str, path: str, query: dict[str, str], body: bytes) -> Reply:
        refused = arm.api_version_problem(query, f"{PROVIDER}/workspaces", self.location)
        if refused is not None:
            return refused
        operation = _MFE.fullmatch(path)
        if operation and method == "GET" and operation.group(3) == self.workspace_id:
            return self.jobs_api.operation_result(operation.group(4))
        if not path.lower().startswith(self.scope.lower()):
            match = re.match(
                r"/subscriptions/[^/]+/resourceGroups/[^/]+/providers/[^/]+/workspaces/([^/]+)", path
            )
            if match:
                return self.error(
                    404,
                    "ResourceNotFound",
                    f"The Resource '{PROVIDER}/workspaces/{match.group(1)}' under resource group "
                    "was not found.",
                )
            return self.missing(method, ARM_HOST + path)
        if self.workspace_status == 403:
            return self.error(
                403,
                "AuthorizationFailed",
                "The client does not have authorization to perform action "
                f"'{PROVIDER}/workspaces/read' over scope '{self.scope}'.",
            )
        if self.workspace_status == 404:
            return self.error(
                404, "ResourceNotFound", f"The Resource '{PROVIDER}/workspaces/{self.name}' was not found."
            )
        rest = path[len(self.scope) :].strip("/")
        parts = rest.split("/") if rest else []
        if method in ("PUT", "POST") and parts and parts[0] in self.forbidden_writes:
            return self._forbidden(parts)
        payload = json.loads(body) if body else None
        if not parts:
            return arm.ok(200, templates.workspace(self)) if method == "GET" else self.missing(method, path)
        kind = parts[0]
        if kind == "computes" and len(parts) == 1 and method == "GET":
            return arm.ok(200, {"value": list(self.computes.values()), "nextLink": None})
        if kind == "computes" and len(parts) == 2 and method == "GET":
            found = self.computes.get(parts[1])
            if found is None:
                return self.error(
                    404,
                    "NotFound",
                    f"key: {self.scope}/computes/{parts[1]}, Message: Not found compute {parts[1]}.",
                )
            return arm.ok(200, found)
        if kind == "datastores":
            return self._datastores(method, parts, query)
        if kind in VERSIONED_KINDS:
            return self._versioned(method, kind, parts[1:], query, payload)
        if kind == "jobs":
            return self.jobs_api.handle(method, parts[1:], query, payload)
        return self.missing(method, ARM_HOST + path)

    def _forbidden(self, parts: list[str]) -> Reply:
        # ARM's documented AuthorizationFailed wording (the recordings hold no 403)
        action = f"{PROVIDER}/workspaces/{parts[0]}/{'versions/' if len(parts) > 2 else ''}write"
        return self.error(
            403,
            "AuthorizationFailed",
            f"The client '{self.principal_id}' with object id '{self.principal_id}' does not have "
            f"authorization to perform action '{action}' over scope '{self.scope}/{'/'.join(parts)}' "
            "or the scope is invalid. If access was recently granted, please refresh your credentials.",
        )

    def _datastores(self, method: str, parts: list[str], query: dict[str, str]) -> Reply:
        if method == "GET" and len(parts) == 1:
            return arm.ok(200, {"value": [self.datastore]})
        if method == "GET" and len(parts) == 2 and parts[1] == "workspaceblobstore":
            return arm.ok(200, self.datastore)
        if method == "POST" and len(parts) == 3 and parts[2] == "listSecrets":
            return arm.ok(200, {"secretsType": "Sas", "sasToken": "sv=fake&sig=fake"})
        return self.missing(method, "/datastores/" + "/".join(parts))

    # versioned assets: {kind}/{name}[/versions[/{version}[/startPendingUpload]]]
    def _versioned(
        self, method: str, kind: str, parts: list[str], query: dict[str, str], payload: Any
    ) -> Reply:
        noun = kind.rstrip("s").capitalize()
        if len(parts) == 1 and method == "GET":
            versions = self.versions(kind, parts[0])
            if not versions:
                return self._no_container(noun, parts[0])
            return arm.ok(200, templates.asset_container(self, kind, parts[0], versions))
        if len(parts) == 2 and parts[1] == "versions" and method == "GET":
            versions = self.versions(kind, parts[0])
            if "hash" in query:
                # a code hash miss is an empty list, never a 404 (07)
                wanted = query["hash"]
                hits = [v for v in versions if v["properties"]["properties"].get("hash_sha256") == wanted]
                return arm.ok(200, {"value": hits})
            if not versions and "$top" in query:
                return self._no_container(noun, parts[0])  # 08: the latest of nothing is a 404
            top = int(query.get("$top", "0") or 0)
            return arm.ok(200, {"value": versions[:top] if top else versions, "nextLink": None})
        if len(parts) == 3 and parts[1] == "versions":
            name, version = parts[0], parts[2]
            if method == "GET":
                found = self.asset(kind, name, version)
                if found is None:
                    return self.error(
                        404,
                        "UserError",
                        "The specified resource was not found.",
                        details=[
                            {"code": f"{noun}NotFound", "message": f"{noun} {name}:{version} not found."}
                        ],
                    )
                return arm.ok(200, found)
            if method == "PUT":
                return self._put_version(kind, name, version, payload or {})
        if len(parts) == 4 and parts[3] == "startPendingUpload" and method == "POST":
            return arm.ok(200, templates.pending_upload(self, uuid.uuid4().hex))
        return self.missing(method, f"/{kind}/" + "/".join(parts))

    def _no_container(self, noun: str, name: str) -> Reply:
        return self.error(
            404,
            "UserError",
            "The specified resource was not found.",
            details=[
                {"code": f"{noun}NotFound", "message": f"{noun} container with name: {name} not found."}
            ],
        )

    def _put_version(self, kind: str, name: str, version: str, payload: dict[str, Any]) -> Reply:
        existing = self.asset(kind, name, version)
        if existing is not None and kind == "components":
            sent_code = (payload.get("properties", {}).get("componentSpec") or {}).get("code")
            stored_code = existing["properties"]["componentSpec"].get("code")
            if sent_code != stored_code:
                # 07, word for word
                return self.error(
                    400,
                    "UserError",
                    f'Failed to update component {name} since field "code" is immutable, '
                    "try specifying a new version.",
                    inner=["BadArgument", "ArgumentInvalid", "UpdateComponentFailed"],
                )
        stored = self._put_asset(kind, name, version, payload)
        if existing is not None:
            return arm.ok(200, stored)
        location = f"https://{ARM_HOST}{stored['id']}?api-version=2024-01-01-preview"
        return arm.ok(201, stored, location=location)

    def _put_asset(self, kind: str, name: str, version: str, payload: dict[str, Any]) -> dict[str, Any]:
        now = self.clock.now()
        existing = self.assets.get((kind, name, version))
        created = _parse(existing["systemData"]["createdAt"]) if existing else now
        stored = templates.asset_version(
            self, kind, name, version, payload.get("properties", {}), created, now
        )
        self.assets[(kind, name, version)] = stored
        self._order.setdefault(stored["id"], len(self._order))
        return stored

    # -- data plane: discovery + run history -------------------------------------------------
    def _dataplane(self, method: str, path: str, query: dict[str, str]) -> Reply:
        if path == "/discovery" and method == "GET":
            return arm.ok(200, templates.discovery(self.api_host))
        runs = re.fullmatch(rf"/history/v1\.0{re.escape(self.scope)}/runs/([^/]+)(/children)?", path, re.I)
        if runs and method == "GET":
            version = query.get("api-version")
            if version not in (None, arm.RUN_HISTORY_API_VERSION):
                return self.error(400, "UserError", f"Unsupported api-version {version}.")
            return self._run_history(runs.group(1), children=bool(runs.group(2)))
        return self.missing(method, self.api_host + path)

    def _run_history(self, run_id: str, *, children: bool) -> Reply:
        now = self.clock.now()
        job = self.jobs.get(run_id)
        if children:
            sweep = self.sweeps.get(run_id)  # sweeps: a sweep's children are its trials
            if sweep is not None:
                return arm.ok(200, {"value": sweep.children(now)})
            if job is None:
                return self.error(404, "UserError", f"Run {run_id} was not found.")
            # one page, no continuation: azure-ai-ml 1.35.2 would not follow one anyway (02, 03)
            runs = job.children(now, api_host=self.api_host, scope=self.scope)
            return arm.ok(200, {"value": self.sweeps.decorate(runs, now)})
        if job is not None:
            return arm.ok(200, job.run(now, api_host=self.api_host, scope=self.scope))
        for parent in self.jobs.values():
            if parent.child(run_id) is not None:
                runs = parent.children(now, api_host=self.api_host, scope=self.scope)
                found = next((r for r in runs if r["runId"] == run_id), None)
                if found is not None:
                    return arm.ok(200, found)
        return self.error(404, "UserError", f"Run {run_id} was not found.")


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
