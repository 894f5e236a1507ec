"""Submitting a run's job: idempotent by run id, and as few requests as an unchanged job allows.

The job's name is derived from the run id, so one GET tells whether an earlier attempt (before a
crash, or whose answer was lost) already created it; nothing else is read. The job names its
assets by content version without asking (assets.py); when Azure ML answers that a reference is
missing, the assets are checked, registered where missing, and the job is submitted once more.
"""

from __future__ import annotations

import logging
from typing import Any

from app.domain.errors import BackendError
from app.domain.pipeline import graph
from app.domain.spec import RunSpec
from app.domain.state import Submitted

from .assets import WorkspaceAssets
from .client import AzureCalls, is_not_found
from .data import DataVersion, WorkspaceData
from .submit import RUN_ID_TAG, build_command_job, build_pipeline_job, data_ports, job_name_for
from .tracking import raw_status, studio_url

log = logging.getLogger(__name__)


class JobSubmitter:
    def __init__(
        self,
        ml_client: Any,
        calls: AzureCalls,
        assets: WorkspaceAssets,
        data: WorkspaceData,
        client_id: str | None,
    ) -> None:
        self._ml = ml_client
        self._calls = calls
        self._assets = assets
        self._data = data
        self._client_id = client_id

    async def submit(self, spec: RunSpec) -> Submitted:
        """One GET (has this run been submitted already?), the data version, the job PUT."""
        name = job_name_for(spec.run_id)
        existing = await self._find_existing(spec, name)
        if existing is not None:
            log.info("run %s already submitted as Azure job %s", spec.run_id, name)
            return self._submitted(existing)
        # the data first: a missing or unusable asset is refused before anything is created
        data = await self._data.data_asset(spec.data_asset)
        assumed: list[str] = []
        job = await self._build(spec, data, verify=False, assumed=assumed)
        try:
            return await self._put(spec, name, job)
        except BackendError as error:
            if error.transient or not assumed or not is_not_found(error):
                raise
            log.info("job %s refers to something missing (%s); registering %s", name, error, assumed)
        self._assets.forget()
        return await self._put(spec, name, await self._build(spec, data, verify=True))

    async def _put(self, spec: RunSpec, name: str, job: Any) -> Submitted:
        def put() -> Any:
            if spec.kind == "job":
                return self._ml.jobs.create_or_update(job)
            # The SDK's validation reads every compute of a pipeline (one GET each) only to
            # turn names into ids, which it also does without them; the schema check stays.
            job._validate(raise_error=True)
            return self._ml.jobs.create_or_update(job, skip_validation=True)

        try:
            created = await self._calls.run(f"submit job {name}", put)
        except BackendError as error:
            if is_not_found(error):
                raise  # refused for a missing reference: nothing was created
            # The PUT may have reached Azure even though its answer did not reach us.
            existing = await self._find_existing(spec, name)
            if existing is not None:
                return self._submitted(existing)
            raise
        return self._submitted(created)

    async def _find_existing(self, spec: RunSpec, name: str) -> Any | None:
        """The job submitted earlier for this run id, if any.

        The name is derived from the run id, so one GET finds it; the tag confirms it is ours
        (listing jobs by tag would filter by key only and page through every run).
        """
        try:
            job = await self._calls.run(f"look up job {name}", self._ml.jobs.get, name)
        except BackendError as error:
            if is_not_found(error):
                return None
            raise
        owner = (job.tags or {}).get(RUN_ID_TAG)
        if owner != spec.run_id:
            raise BackendError(f"Azure job {name} exists but belongs to run {owner!r}, not {spec.run_id!r}")
        return job

    async def _build(
        self, spec: RunSpec, data: DataVersion, *, verify: bool, assumed: list[str] | None = None
    ) -> Any:
        environment = await self._assets.environment(spec.environment, verify=verify, assumed=assumed)
        spec = spec.with_data_version(data.version)
        client_id = self._client_id
        components = {
            step.component: await self._assets.component(
                step.component,
                environment,
                dict.fromkeys(data_ports(step), data.type),
                verify=verify,
                needs_code=spec.kind == "job",
                assumed=assumed,
            )
            for step in graph(spec)
        }
        if spec.kind == "job":
            return build_command_job(spec, components, environment, client_id, data.type)
        return build_pipeline_job(spec, components, client_id, data.type)

    @staticmethod
    def _submitted(job: Any) -> Submitted:
        return Submitted(
            backend_job_name=str(job.name), studio_url=studio_url(job), raw_status=raw_status(job.status)
        )
