"""Run history reads: a pipeline's steps and a job's own run, as the service sends them.

azure-ai-ml 1.35.2's `jobs.list(parent_job_name=...)` reads a pipeline's steps from run history
(`GET /history/v1.0/{workspace}/runs/{parent}/children`, after GETting the parent again), then
turns each run into a `_BaseJob` that keeps the name, status, properties and creation time
only: the start and end times and a failed step's error are dropped. The read path needs
them, so this module calls the run history client that `jobs.list` itself uses and keeps the
documents (the `Run` JSON: `runId`, `displayName`, `status`, `createdUtc`, `startTimeUtc`,
`endTimeUtc`, `error`, `properties` with the reuse markers). That also saves the parent GET.

The client is a private attribute of the pinned azure-ai-ml; should it move, the public call
is used and the fields it drops are simply absent (the mapping treats them as unknown).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

log = logging.getLogger(__name__)

RunDocument = Mapping[str, Any]


def _client(ml_client: Any) -> Any | None:
    """The run history operations `jobs.list(parent_job_name=...)` uses, if still there."""
    try:
        operations = ml_client.jobs._runs_operations
        _ = operations._operation.get_child, operations._operation.get
    except AttributeError:
        log.warning("azure-ai-ml's run history client moved; step times and errors are unavailable")
        return None
    return operations


def _document(run: Any) -> dict[str, Any]:
    as_dict = getattr(run, "as_dict", None)
    document = as_dict() if callable(as_dict) else dict(run)
    return dict(document)


def child_runs(ml_client: Any, parent: str) -> list[dict[str, Any]]:
    """The pipeline's step runs, one run history page (all steps of a small pipeline)."""
    operations = _client(ml_client)
    if operations is None:
        return [_from_job(job) for job in ml_client.jobs.list(parent_job_name=parent) if job is not None]
    runs = operations._operation.get_child(
        operations._subscription_id,
        operations._resource_group_name,
        operations._workspace_name,
        parent,
        cls=lambda items: items,  # the Run models as sent, not translated into jobs
    )
    return [_document(run) for run in runs]


def job_run(ml_client: Any, name: str) -> dict[str, Any] | None:
    """A job read alone from run history (a command job's start, end and error)."""
    operations = _client(ml_client)
    if operations is None:
        return None
    return _document(operations.get_run(name))


def _from_job(job: Any) -> dict[str, Any]:
    """What the public listing still carries, in run history's field names."""
    context = getattr(job, "creation_context", None)
    created = getattr(context, "created_at", None)
    return {
        "runId": str(job.name),
        "displayName": getattr(job, "display_name", None),
        "status": getattr(job, "status", None),
        "properties": dict(getattr(job, "properties", None) or {}),
        "createdUtc": str(created) if created is not None else None,
    }
