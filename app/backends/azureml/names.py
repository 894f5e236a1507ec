"""POST-time checks of the names a request gives: does the data asset (or its pinned version)
exist, do the computes exist? Azure ML would refuse them only when the reconciler submits the
job, after the caller was told 202.

Each name costs one GET the first time, then comes from a short-lived cache: a name found is
trusted for EXISTS_TTL_SECONDS, one missing for MISSING_TTL_SECONDS (so a compute created a
moment ago is soon accepted). The checks are bounded by CHECK_SECONDS: when the workspace is
slow, unreachable or forbids the read, the name is accepted and the run is submitted later by
the reconciler, which retries and reports Azure's own answer; only a definite "not found" is
refused.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from app.domain.errors import BackendError, InvalidInput
from app.domain.spec import LATEST, DataAssetRef, DataAssetSelector

from .client import AzureCalls, is_not_found
from .data import WorkspaceData

log = logging.getLogger(__name__)

EXISTS_TTL_SECONDS = 300.0
MISSING_TTL_SECONDS = 10.0
CHECK_SECONDS = 3.0


class NameChecks:
    def __init__(self, ml_client: Any, calls: AzureCalls, data: WorkspaceData, workspace: str) -> None:
        self._ml = ml_client
        self._calls = calls
        self._data = data
        self._workspace = workspace
        self._seen: dict[str, tuple[bool, float]] = {}

    async def data_asset(self, selector: DataAssetSelector) -> None:
        """Raises InvalidInput (body.data_asset) for an asset or pinned version that does not exist."""
        what = f"data asset {selector.name}" + ("" if selector.version == LATEST else f":{selector.version}")

        async def look() -> None:
            # a pinned version read here is kept: the submission that follows needs no request
            await self._data.data_asset(
                DataAssetRef(name=selector.name, version=selector.version), limit_seconds=CHECK_SECONDS
            )

        if await self._exists(f"data:{selector.name}:{selector.version}", look) is False:
            raise InvalidInput(
                f"{what} does not exist in Azure ML workspace {self._workspace}; register it first",
                invalid=[("body.data_asset", f"{what} does not exist in the workspace")],
            )

    async def computes(self, compute: str | None, step_compute: Mapping[str, str]) -> None:
        """Raises InvalidInput naming body.compute / body.step_compute.<step> for each compute
        the workspace does not have (and body.compute when none is given: Azure ML needs one)."""
        fields = {f"body.step_compute.{step}": name for step, name in step_compute.items()}
        if compute is not None:
            fields["body.compute"] = compute
        names = sorted(set(fields.values()))
        found = await asyncio.gather(*(self._exists(f"compute:{n}", self._compute_reader(n)) for n in names))
        missing = {name for name, exists in zip(names, found, strict=True) if exists is False}
        invalid = [
            (field, f"compute {name} does not exist in workspace {self._workspace}")
            for field, name in sorted(fields.items())
            if name in missing
        ]
        if compute is None:
            invalid.insert(0, ("body.compute", "required on Azure ML: the compute cluster the run uses"))
        if invalid:
            raise InvalidInput("; ".join(f"{field}: {reason}" for field, reason in invalid), invalid=invalid)

    def _compute_reader(self, name: str) -> Callable[[], Awaitable[object]]:
        compute = self._ml.compute
        return lambda: self._calls.run(
            f"look up compute {name}", compute.get, name, limit_seconds=CHECK_SECONDS
        )

    async def _exists(self, key: str, look: Callable[[], Awaitable[object]]) -> bool | None:
        """True or False from the workspace (or the cache); None when it could not tell."""
        now = time.monotonic()
        cached = self._seen.get(key)
        if cached is not None:
            exists, at = cached
            if now - at < (EXISTS_TTL_SECONDS if exists else MISSING_TTL_SECONDS):
                return exists
        try:
            await look()
            exists = True
        except BackendError as error:
            if error.transient or not (is_not_found(error) or "does not exist" in str(error)):
                log.info("could not check %s at submission (accepted): %s", key, error)
                return None
            exists = False
        if len(self._seen) > 10_000:  # names are the callers' input: keep the cache bounded
            self._seen.clear()
        self._seen[key] = (exists, now)
        return exists
