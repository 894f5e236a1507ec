"""The jobs routes of the fake workspace: create (PUT), read, list, cancel + cancel status."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from .jobs import FakeJob, iso, steps_from_pipeline_body
from .transport import Reply

if TYPE_CHECKING:
    from .workspace import FakeWorkspace

ARM_HOST = "management.azure.com"
PROVIDER = "Microsoft.MachineLearningServices"
VERSIONED_KINDS = ("codes", "components", "environments", "data", "models")


class JobsApi:
    def __init__(self, workspace: FakeWorkspace) -> None:
        self.ws = workspace

    def handle(self, method: str, parts: list[str], query: dict[str, str], payload: Any) -> Reply:
        if not parts and method == "GET":
            found = [self._job_body(j) for j in self.ws.jobs.values()]
            if "tag" in query:
                key, _, value = query["tag"].partition("=")
                found = [
                    b
                    for b in found
                    if key in (b["properties"].get("tags") or {})
                    and (not value or b["properties"]["tags"][key] == value)
                ]
            return Reply.json(200, {"value": found, "nextLink": None})
        if len(parts) == 1:
            name = parts[0]
            if method == "GET":
                job = self.ws.jobs.get(name)
                # sweeps: a pipeline's sweep node is a job of its own (fakeaml/sweeps.py)
                if job is None and (sweep := self.ws.sweeps.get(name)) is not None:
                    return Reply.json(200, sweep.arm_body(self.ws.scope, self.ws.clock.now()))
                if job is None:
                    return Reply.error(404, "UserError", f"Job {name} was not found.")
                return Reply.json(200, self._job_body(job))
            if method == "PUT":
                return self._create_job(name, payload or {})
        if len(parts) == 2 and parts[1] == "cancel" and method == "POST":
            job = self.ws.jobs.get(parts[0])
            if job is None:
                return Reply.error(404, "UserError", f"Job {parts[0]} was not found.")
            if job.cancel_requested is None and job.status(self.ws.clock.now()) not in (
                "Completed",
                "Failed",
                "Canceled",
            ):
                job.cancel_requested = self.ws.clock.now()
            location = f"https://{ARM_HOST}{self.ws.scope}/jobs/{job.name}/cancelstatus?api-version=2023-02-01-preview"
            return Reply(202, b"", {"Location": location, "Retry-After": "0"})
        if len(parts) == 2 and parts[1] == "cancelstatus" and method == "GET":
            return Reply(200, b"{}", {"Content-Type": "application/json"})
        return self.ws._missing(method, "/jobs/" + "/".join(parts))

    def _create_job(self, name: str, payload: dict[str, Any]) -> Reply:
        existing = self.ws.jobs.get(name)
        if existing is not None:
            # ARM PUT of an existing job: same body is a no-op; the service refuses changes
            # to anything but tags/description/display name. Only identical resubmissions matter here.
            return Reply.json(200, self._job_body(existing))
        props = payload.get("properties", {})
        problem = self._invalid_job(props)
        if problem:
            return Reply.error(400, "UserError", problem)
        kind = props.get("jobType", "Command")
        job = FakeJob(
            name=name,
            kind=kind,
            body=payload,
            created=self.ws.clock.now(),
            experiment_name=props.get("experimentName") or "Default",
            command_fails=self.ws.fail_command_jobs,
        )
        if kind == "Pipeline":
            job.steps = steps_from_pipeline_body(
                payload, set(self.ws.failing_steps), lambda display: self.ws.child_namer(name, display)
            )
        self.ws.jobs[name] = job
        self.ws.sweeps.created(job)  # sweeps: its trials (fakeaml/sweeps.py)
        return Reply.json(201, self._job_body(job))

    def _invalid_job(self, props: dict[str, Any]) -> str | None:
        """What the service would refuse: references to things the workspace does not hold."""
        refs: list[str] = []
        for holder in [props, *(props.get("jobs") or {}).values()]:
            for key in ("computeId", "compute", "componentId", "codeId", "environmentId"):
                value = (holder or {}).get(key)
                if isinstance(value, str) and value.startswith("/subscriptions/"):
                    refs.append(value)
        refs.extend(
            port["uri"]
            for port in (props.get("inputs") or {}).values()
            if isinstance(port, dict) and str(port.get("uri", "")).startswith("/subscriptions/")
        )
        for ref in refs:
            if not self._exists(ref):
                return f"Referenced resource {ref} was not found in workspace {self.ws.name}."
        return None

    def _exists(self, arm_id: str) -> bool:
        if not arm_id.lower().startswith(self.ws.scope.lower()):
            return False
        parts = arm_id[len(self.ws.scope) :].strip("/").split("/")
        if parts[0] == "computes" and len(parts) == 2:
            return parts[1] in self.ws.computes
        if parts[0] in VERSIONED_KINDS and len(parts) == 4:
            return (parts[0], parts[1], parts[3]) in self.ws.assets
        return True

    def _job_body(self, job: FakeJob) -> dict[str, Any]:
        now = self.ws.clock.now()
        props = json.loads(json.dumps(job.body.get("properties", {})))
        props["status"] = job.status(now)
        props["services"] = {
            "Studio": {"jobServiceType": "Studio", "endpoint": self.ws.studio_url(job.name)},
            "Tracking": {"jobServiceType": "Tracking", "endpoint": self.ws.mlflow_tracking_uri},
        }
        props.setdefault("experimentName", job.experiment_name)
        started, ended = job.times(now)
        props.setdefault("properties", {})
        if started:
            props["properties"]["StartTimeUtc"] = iso(started)
        if ended:
            props["properties"]["EndTimeUtc"] = iso(ended)
        if (sweep := self.ws.sweeps.get(job.name)) is not None:  # sweeps: best_child_run_id
            props["properties"].update(sweep.properties(now))
        return {
            "id": f"{self.ws.scope}/jobs/{job.name}",
            "name": job.name,
            "type": f"{PROVIDER}/workspaces/jobs",
            "properties": props,
            "systemData": {
                "createdAt": iso(job.created),
                "createdBy": "trainctl",
                "createdByType": "Application",
            },
        }
