"""Data assets as a submission needs them: the concrete version and its type, in one request.

"latest" is resolved when the job is built, so the job records the exact version it trained on
(the register step tags the model with it). azure-ai-ml resolves a label through the asset's
container and then reads the version (two requests); the newest version is instead read with
one list request ordered by creation time, which is the SDK's own definition of "latest" and the
request it makes for models (`$orderBy=createdtime desc&$top=1`, recorded in
../shared/azure-recordings 08). A pinned version never changes: it is read once per process.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.domain.errors import BackendError
from app.domain.spec import DataAssetRef

from .client import AzureCalls, is_not_found

URI_FILE = "uri_file"
LATEST = "latest"


@dataclass(frozen=True)
class DataVersion:
    """A data asset version and its type (uri_file, uri_folder or mltable): a job input that
    names the asset must have the asset's type, or Azure ML refuses the job."""

    name: str
    version: str
    type: str


class WorkspaceData:
    def __init__(self, ml_client: Any, calls: AzureCalls) -> None:
        self._ml = ml_client
        self._calls = calls
        self._pinned: dict[tuple[str, str], DataVersion] = {}

    def known(self, name: str, version: str) -> DataVersion | None:
        """A pinned version this process has already read."""
        return self._pinned.get((name, version))

    async def data_asset(self, asset: DataAssetRef, *, limit_seconds: float | None = None) -> DataVersion:
        """The concrete version and its type; raises a permanent BackendError when the asset
        (or the pinned version) does not exist, before anything is created."""
        if asset.version and asset.version != LATEST:
            key = (asset.name, asset.version)
            if key not in self._pinned:
                what = f"look up data asset {asset.name}:{asset.version}"
                self._pinned[key] = await self._calls.run(
                    what, self._pinned_version, asset.name, asset.version, limit_seconds=limit_seconds
                )
            return self._pinned[key]
        found: DataVersion = await self._calls.run(
            f"look up data asset {asset.name}", self._newest, asset.name, limit_seconds=limit_seconds
        )
        return found

    def _pinned_version(self, name: str, version: str) -> DataVersion:
        try:
            data = self._ml.data.get(name=name, version=version)
        except Exception as error:
            if is_not_found(error) or "does not exist" in str(error):
                raise BackendError(f"data asset {name}:{version} does not exist in the workspace") from error
            raise
        kind = getattr(data, "type", None)
        return DataVersion(name, str(data.version), str(getattr(kind, "value", kind) or URI_FILE))

    def _newest(self, name: str) -> DataVersion:
        operations = self._ml.data
        try:
            pages = operations._operation.list(
                name=name,
                resource_group_name=operations._resource_group_name,
                workspace_name=operations._workspace_name,
                order_by="createdtime desc",
                top=1,
            )
            newest = next(iter(pages), None)
        except Exception as error:
            if is_not_found(error):
                newest = None
            else:
                raise
        if newest is None:
            raise BackendError(f"data asset {name} does not exist in the workspace")
        kind = getattr(newest.properties, "data_type", None)
        return DataVersion(name, str(newest.name), str(getattr(kind, "value", kind) or URI_FILE).lower())
