"""The workspace assets a submission needs: environment, components, data asset version and type.

Components are registered under their YAML name with a content-addressed version (YAML
text + code folder + resolved environment), then referenced by id from the jobs. Left to
itself, azure-ai-ml re-hashes the code, looks it up and PUTs an anonymous component on every
pipeline submission; registering once per content keeps an unchanged re-submission down to
the job PUT itself. trainctl's own environment is versioned the same way (environments.py
says which environment a run's `environment` option names).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.domain.errors import BackendError
from app.domain.spec import DataAssetRef

from .client import AzureCalls, is_not_found
from .content import content_version, folder_bytes
from .environments import parse_environment

# A label ("latest") may move when someone registers a new environment version; re-check it
# now and then.
LATEST_TTL_SECONDS = 300.0
URI_FILE = "uri_file"


@dataclass(frozen=True)
class DataVersion:
    """A data asset version and its type (uri_file, uri_folder or mltable): a job input that
    names the asset must have the asset's type, or Azure ML refuses the job."""

    name: str
    version: str
    type: str


@dataclass
class _Latest:
    reference: str
    checked_at: float


class WorkspaceAssets:
    """Resolves and, where missing, creates what jobs refer to. Caches per process."""

    def __init__(self, ml_client: Any, calls: AzureCalls, components_dir: Path) -> None:
        self._ml = ml_client
        self._calls = calls
        self.components_dir = components_dir
        self._components: dict[tuple[str, str], Any] = {}
        self._environments: dict[str, _Latest] = {}
        self._verified: set[str] = set()
        self._data: dict[tuple[str, str], DataVersion] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def _lock(self, key: str) -> asyncio.Lock:
        return self._locks.setdefault(key, asyncio.Lock())

    # -- environment ----------------------------------------------------------------------
    async def environment(self, requested: str) -> str:
        """`azureml:name:version` of the environment a run asks for (see environments.py):
        trainctl's own is created if missing; a pinned or labelled one must exist."""
        ref = parse_environment(requested)
        if ref.version is not None:
            return await self._pinned_environment(ref.name, ref.version)
        if ref.owned:
            return await self._owned_environment(ref.name)
        label = ref.label or "latest"
        cached = self._environments.get(requested)
        if cached and time.monotonic() - cached.checked_at < LATEST_TTL_SECONDS:
            return cached.reference
        async with self._lock(f"env:{requested}"):
            found = await self._calls.run(
                f"look up environment {ref}", self._labelled_environment, ref.name, label
            )
            if found is None:
                raise BackendError(
                    f"environment {ref} does not exist in the workspace: register it, pin an existing "
                    "version (NAME:VERSION), or leave the environment out to use trainctl's own"
                )
            reference = f"azureml:{ref.name}:{found}"
            self._environments[requested] = _Latest(reference, time.monotonic())
            return reference

    async def _owned_environment(self, name: str) -> str:
        """trainctl's environment for this conda file: its content version, created if missing."""
        from .environments import owned_environment

        entity = owned_environment(name, self.components_dir)
        reference = f"azureml:{name}:{entity.version}"
        if reference in self._verified:
            return reference
        async with self._lock(f"env:{reference}"):
            if reference not in self._verified:
                await self._calls.run(f"register environment {name}:{entity.version}", self._ensure, entity)
                self._verified.add(reference)
        return reference

    def _ensure(self, entity: Any) -> None:
        try:
            self._ml.environments.get(entity.name, version=entity.version)
            return
        except Exception as error:
            if not (is_not_found(error) or "does not exist" in str(error)):
                raise
        self._ml.environments.create_or_update(entity)

    async def _pinned_environment(self, name: str, version: str) -> str:
        """A pinned version must exist: Azure ML would only refuse it when the job starts."""
        reference = f"azureml:{name}:{version}"
        if reference in self._verified:
            return reference

        def check() -> None:
            try:
                self._ml.environments.get(name, version=version)
            except Exception as error:
                if is_not_found(error):
                    raise BackendError(
                        f"environment {name}:{version} does not exist in the workspace"
                    ) from error
                raise

        await self._calls.run(f"look up environment {reference}", check)
        self._verified.add(reference)
        return reference

    def _labelled_environment(self, name: str, label: str) -> str | None:
        try:
            return str(self._ml.environments.get(name, label=label).version)
        except Exception as error:
            if is_not_found(error) or "does not exist" in str(error) or "not found" in str(error).lower():
                return None
            raise

    # -- components -------------------------------------------------------------------------
    def component_file(self, kind: str) -> Path:
        """``components/<kind>/<kind>.yml``, the convention the pipeline graph names them by."""
        return self.components_dir / kind / f"{kind}.yml"

    def load(self, kind: str) -> Any:
        from azure.ai.ml import load_component

        path = self.component_file(kind)
        if not path.is_file():
            raise BackendError(f"component definition {path} is missing")
        return load_component(source=str(path))

    def code_folder(self, kind: str, component: Any) -> Path:
        yaml_dir = self.component_file(kind).parent
        code = getattr(component, "code", None)
        return (yaml_dir / str(code)).resolve() if code else yaml_dir

    async def component(
        self, kind: str, environment: str, port_types: Mapping[str, str] | None = None
    ) -> Any:
        """The registered component for `kind`, bound to `environment` (an azureml: id).

        `port_types` retypes data inputs (e.g. the training data as `uri_folder` for a folder
        asset): the YAML declares `uri_file`, what the local engine passes, and Azure ML wants
        a component's port to have the type of the data bound to it. The types are part of the
        content version, so each registered variant is its own version.
        """
        component = self.load(kind)
        yaml_path = self.component_file(kind)
        retyped = {
            port: kind_
            for port, kind_ in sorted((port_types or {}).items())
            if port in (component.inputs or {}) and component.inputs[port].type != kind_
        }
        version = content_version(
            str(component.version) if component.version else None,
            yaml_path.read_bytes(),
            folder_bytes(self.code_folder(kind, component)),
            environment.encode(),
            *(f"{port}={kind_}".encode() for port, kind_ in retyped.items()),
        )
        key = (str(component.name), version)
        if key in self._components:
            return self._components[key]
        async with self._lock(f"component:{key}"):
            if key not in self._components:
                component.environment = environment
                component.version = version
                for port, kind_ in retyped.items():
                    component.inputs[port].type = kind_
                self._components[key] = await self._calls.run(
                    f"register component {component.name}:{version}", self._get_or_create, component
                )
        return self._components[key]

    def _get_or_create(self, component: Any) -> Any:
        try:
            return self._ml.components.get(name=component.name, version=component.version)
        except Exception as error:
            if not is_not_found(error):
                raise
        return self._ml.components.create_or_update(component)

    # -- data ----------------------------------------------------------------------------------
    async def data_asset(self, asset: DataAssetRef) -> DataVersion:
        """The concrete version and its type: "latest" is resolved now, so the job records what
        it used, and a pinned version is checked to exist (Azure ML would refuse the job PUT).

        (azure-ai-ml 1.35 also mis-parses `azureml:name@latest` job inputs: it asks for a data
        asset literally named `azureml:name`.)
        """
        if asset.version and asset.version != "latest":
            key = (asset.name, asset.version)
            if key not in self._data:  # a version never changes: one look-up per process
                what = f"look up data asset {asset.name}:{asset.version}"
                self._data[key] = await self._calls.run(what, self._get_data, asset.name, asset.version)
            return self._data[key]
        found: DataVersion = await self._calls.run(
            f"look up data asset {asset.name}", self._get_data, asset.name, None
        )
        return found

    async def data_version(self, asset: DataAssetRef) -> str:
        return (await self.data_asset(asset)).version

    def _get_data(self, name: str, version: str | None) -> DataVersion:
        try:
            if version is None:
                data = self._ml.data.get(name=name, label="latest")
            else:
                data = self._ml.data.get(name=name, version=version)
        except Exception as error:
            if is_not_found(error) or "does not exist" in str(error):
                what = name if version is None else f"{name}:{version}"
                raise BackendError(f"data asset {what} does not exist in the workspace") from error
            raise
        kind = getattr(data, "type", None)
        return DataVersion(name, str(data.version), str(getattr(kind, "value", kind) or URI_FILE))
