"""The workspace assets a job refers to: the environment and the components.

Components are registered under their YAML name with a content-addressed version (YAML text +
code folder + environment + data port types), then referenced by id from the jobs. Left to
itself, azure-ai-ml re-hashes the code, looks it up and PUTs an anonymous component on every
pipeline submission. trainctl's own environment is versioned the same way (environments.py says
which environment a run's `environment` option names).

Because those versions follow from local files, a job can name them without asking whether
they exist: `verify=False` *assumes* the content versions are registered (no request at all for
a pipeline; a command job also needs its component's code snapshot, kept in the facts file).
The caller submits, and only when Azure ML answers that a reference is missing does it call
`forget()` and resolve again with `verify=True`, which reads each asset and creates the
missing ones. An unchanged re-submission, even from a restarted service, so costs no asset
request at all.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.domain.errors import BackendError

from .client import AzureCalls, is_not_found
from .content import content_version, folder_bytes
from .environments import owned_environment, parse_environment
from .facts import FactsFile
from .fixes import STORAGE_ROLE, storage_refused

# A label ("latest") may move when someone registers a new environment version; re-check it
# now and then.
LATEST_TTL_SECONDS = 300.0
PROVIDER = "Microsoft.MachineLearningServices"


@dataclass
class _Latest:
    reference: str
    checked_at: float


class WorkspaceAssets:
    """Resolves and, where missing, creates what jobs refer to. Caches per process; `assumed`
    lists what a resolution referenced without checking (see the module docstring)."""

    def __init__(
        self, ml_client: Any, calls: AzureCalls, components_dir: Path, facts: FactsFile | None = None
    ) -> None:
        self._ml = ml_client
        self._calls = calls
        self.components_dir = components_dir
        self._facts = facts or FactsFile(None)
        self._components: dict[tuple[str, str], Any] = {}  # registered entities, by name and version
        self._environments: dict[str, _Latest] = {}
        self._verified: set[str] = set()
        self._locks: dict[str, asyncio.Lock] = {}

    def _lock(self, key: str) -> asyncio.Lock:
        return self._locks.setdefault(key, asyncio.Lock())

    def arm_id(self, kind: str, name: str, version: str) -> str:
        ml = self._ml
        return (
            f"/subscriptions/{ml.subscription_id}/resourceGroups/{ml.resource_group_name}"
            f"/providers/{PROVIDER}/workspaces/{ml.workspace_name}/{kind}/{name}/versions/{version}"
        )

    def forget(self) -> None:
        """Azure ML says a reference is missing: what this process believed registered may
        have been deleted. Labels and pinned versions stay (they are read, never assumed)."""
        self._components.clear()
        self._verified = {ref for ref in self._verified if not ref.startswith("owned:")}

    # -- environment ----------------------------------------------------------------------
    async def environment(
        self, requested: str, *, verify: bool = True, assumed: list[str] | None = None
    ) -> str:
        """`azureml:name:version` of the environment a run asks for (see environments.py):
        trainctl's own is created if missing; a pinned or labelled one must exist."""
        ref = parse_environment(requested)
        if ref.version is not None:
            return await self._pinned_environment(ref.name, ref.version)
        if ref.owned:
            return await self._owned_environment(ref.name, verify, assumed)
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

    async def _owned_environment(self, name: str, verify: bool, assumed: list[str] | None) -> str:
        """trainctl's environment for this conda file: its content version, created if missing."""
        entity = owned_environment(name, self.components_dir)
        reference = f"azureml:{name}:{entity.version}"
        if f"owned:{reference}" in self._verified:
            return reference
        if not verify:
            if assumed is not None:
                assumed.append(f"environment {name}:{entity.version}")
            return reference
        async with self._lock(f"env:{reference}"):
            if f"owned:{reference}" not in self._verified:
                await self._calls.run(f"register environment {name}:{entity.version}", self._ensure, entity)
                self._verified.add(f"owned:{reference}")
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

    def prepared(self, kind: str, environment: str, port_types: Mapping[str, str] | None = None) -> Any:
        """The component from its YAML, bound to `environment`, with its content version.

        `port_types` retypes data inputs (e.g. the training data as `uri_folder` for a folder
        asset): the YAML declares `uri_file`, what the local engine passes, and Azure ML wants
        a component's port to have the type of the data bound to it. The types are part of the
        content version, so each registered variant is its own version.
        """
        component = self.load(kind)
        retyped = {
            port: kind_
            for port, kind_ in sorted((port_types or {}).items())
            if port in (component.inputs or {}) and component.inputs[port].type != kind_
        }
        version = content_version(
            str(component.version) if component.version else None,
            self.component_file(kind).read_bytes(),
            folder_bytes(self.code_folder(kind, component)),
            environment.encode(),
            *(f"{port}={kind_}".encode() for port, kind_ in retyped.items()),
        )
        component.environment = environment
        component.version = version
        for port, kind_ in retyped.items():
            component.inputs[port].type = kind_
        return component

    async def component(
        self,
        kind: str,
        environment: str,
        port_types: Mapping[str, str] | None = None,
        *,
        verify: bool = True,
        needs_code: bool = False,
        assumed: list[str] | None = None,
    ) -> Any:
        """The registered component for `kind`, bound to `environment` (an azureml: id).

        Unverified, it is the local definition carrying the id its content version has in the
        workspace; `needs_code` (a command job carries the code snapshot itself) also needs the
        snapshot's id, known from the facts file or read once.
        """
        component = self.prepared(kind, environment, port_types)
        key = (str(component.name), str(component.version))
        if key in self._components:
            return self._components[key]
        arm_id = self.arm_id("components", *key)
        code = self._facts.get(f"{arm_id}#code")
        if not verify and (code is not None or not needs_code):
            component._id = arm_id  # azure-ai-ml references a component with an id as is
            if code is not None:
                component.code = code
            if assumed is not None:
                assumed.append(f"component {key[0]}:{key[1]}")
            return component
        async with self._lock(f"component:{key}"):
            if key not in self._components:
                try:
                    registered = await self._calls.run(
                        f"register component {key[0]}:{key[1]}", self._get_or_create, component
                    )
                except BackendError as error:
                    raise _with_upload_hint(error) from error
                if registered.code:
                    self._facts.put(f"{arm_id}#code", str(registered.code))
                self._components[key] = registered
        return self._components[key]

    def _get_or_create(self, component: Any) -> Any:
        try:
            return self._ml.components.get(name=component.name, version=component.version)
        except Exception as error:
            if not is_not_found(error):
                raise
        return self._ml.components.create_or_update(component)


def _with_upload_hint(error: BackendError) -> BackendError:
    """Storage refusing a component's code names the role that lets the identity upload it."""
    if not storage_refused(error):
        return error
    return BackendError(f"{error}. Fix: {STORAGE_ROLE} (trainctl doctor --smoke checks it)")
