"""Metrics, artifacts, outcome and registry read-back over MLflow, against the workspace.

MLflow reads run on a pool of their own, never the one submit, poll and cancel use: MLflow's
HTTP client retries 7 times with a 120 s timeout per request (azureml-mlflow's artifact client
waits 300 s), so a throttled or hanging tracking endpoint would otherwise hold every Azure ML
worker for many minutes. The reader also bounds that client (`bound_mlflow_http`) through
the environment variables MLflow and azureml-mlflow read on every request; an operator's own
values win.

azureml-mlflow builds its own credential for `azureml://` URIs: `DefaultAzureCredential`
chained with `InteractiveBrowserCredential` and `DeviceCodeCredential`
(`azureml.mlflow._internal.utils.get_service_context_from_tracking_url_default_auth`). In a
service that chain ends in a login prompt that never completes, and its managed-identity
link would not even use our user-assigned client id. `install_credential` puts a service
context holding *our* credential into azureml-mlflow's per-URI cache before any store is
built, so that chain is never constructed.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlparse

from azure.core.credentials import TokenCredential

from app.domain.errors import BackendError
from app.domain.outcome import Outcome, float_values
from app.domain.pipeline import DECISION, REGISTRATION
from app.domain.state import ArtifactInfo, ModelSummaryInfo, ModelVersionInfo, RegisteredModelInfo

from .client import AzureCalls

MAX_ARTIFACTS = 500
MAX_MODELS = 1000
MLFLOW_WORKERS = 4
# A request gives up after 10 s and is tried 3 times in all (MLflow: 120 s, 8 times); an
# artifact transfer after 30 s. Azure ML's tracking service answers in well under a second.
MLFLOW_HTTP_LIMITS = {
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "AZUREML_HTTP_REQUEST_TIMEOUT": "30",
}
CHAMPION = "champion"
STD_LOG = "user_logs/std_log.txt"
GROWING_PREFIXES = ("user_logs/", "system_logs/", "logs/")


def install_credential(tracking_uri: str, credential: TokenCredential) -> bool:
    """Make azureml-mlflow use `credential` for this workspace URI. False for other schemes."""
    parsed = urlparse(tracking_uri)
    if parsed.scheme != "azureml":
        return False
    from azureml.mlflow._common._cloud.cloud import _get_cloud_or_default
    from azureml.mlflow._internal.service_context_loader import (
        _AzureMLServiceContextLoader,
    )
    from azureml.mlflow._internal.utils import (
        ServiceContext,
        tracking_uri_decomp,
    )

    scope = tracking_uri_decomp(parsed.path, False)
    context = ServiceContext(
        host_url=f"https://{parsed.netloc}",
        subscription_id=scope["sub-id"],
        workspace_name=scope["ws-name"],
        resource_group_name=scope["res-grp"],
        auth=credential,
        cloud=_get_cloud_or_default(),
    )
    _AzureMLServiceContextLoader.add_service_context(tracking_uri, context)
    # azureml-mlflow's artifact repository takes its service context from the *default*
    # MLflow client, not from the client that asked; in Azure mode this backend is the
    # process's only MLflow user, so the default is pointed at the workspace too.
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    return True


def bound_mlflow_http() -> None:
    """Short timeouts and few retries for MLflow's HTTP clients, unless configured already.

    Process-wide: in Azure mode this backend is the service's only MLflow HTTP user (the
    local engine's steps run in their own processes against a local store).
    """
    for name, value in MLFLOW_HTTP_LIMITS.items():
        os.environ.setdefault(name, value)


def _is_missing(error: BaseException) -> bool:
    code = getattr(error, "error_code", "")
    return code in ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND") or "does not exist" in str(error).lower()


class MlflowReader:
    def __init__(self, tracking_uri: str, timeout_seconds: float, cache_dir: Path) -> None:
        from mlflow.tracking import MlflowClient

        bound_mlflow_http()
        self.tracking_uri = tracking_uri
        self._client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
        self._calls = AzureCalls(timeout_seconds, max_workers=MLFLOW_WORKERS, name="mlflow")
        self._cache_dir = cache_dir

    def close(self) -> None:
        self._calls.close()

    async def _run(self, what: str, func: Any, *args: Any) -> Any:
        try:
            return await self._calls.run(what, func, *args)
        except BackendError as error:
            cause = error.__cause__
            status = getattr(cause, "get_http_status_code", lambda: None)()
            if status in (429, 500, 502, 503, 504) or _is_requests_error(cause):
                message = f"{what}: MLflow tracking endpoint unavailable ({status})"
                raise BackendError(message, transient=True) from cause
            raise

    # -- metrics ----------------------------------------------------------------------------
    async def metrics(self, step_runs: dict[str, str]) -> dict[str, dict[str, float]]:
        result: dict[str, dict[str, float]] = await self._run("read metrics", self._metrics, step_runs)
        return result

    def _metrics(self, step_runs: dict[str, str]) -> dict[str, dict[str, float]]:
        result: dict[str, dict[str, float]] = {}
        for step, run_id in step_runs.items():
            try:
                run = self._client.get_run(run_id)
            except Exception as error:
                if _is_missing(error):
                    continue  # the step has not logged anything yet
                raise
            result[step] = {key: float(value) for key, value in run.data.metrics.items()}
        return result

    # -- artifacts ------------------------------------------------------------------------------
    async def artifacts(self, step_runs: dict[str, str]) -> list[ArtifactInfo]:
        result: list[ArtifactInfo] = await self._run("list artifacts", self._artifacts, step_runs)
        return result

    def _artifacts(self, step_runs: dict[str, str]) -> list[ArtifactInfo]:
        found: list[ArtifactInfo] = []
        for step, run_id in step_runs.items():
            for path, size in self._walk(run_id):
                found.append(ArtifactInfo(f"{step}/{path}", size))
                if len(found) >= MAX_ARTIFACTS:
                    return found
        return found

    def _walk(self, run_id: str, path: str | None = None, depth: int = 0) -> list[tuple[str, int | None]]:
        try:
            entries = self._client.list_artifacts(run_id, path)
        except Exception as error:
            if _is_missing(error):
                return []
            raise
        files: list[tuple[str, int | None]] = []
        for entry in entries:
            if entry.is_dir:
                if depth < 6:
                    files.extend(self._walk(run_id, entry.path, depth + 1))
            else:
                files.append((entry.path, entry.file_size))
        return files

    async def artifact(self, step_runs: dict[str, str], path: str) -> Path:
        step, _, relative = path.partition("/")
        parts = PurePosixPath(relative).parts
        if step not in step_runs or not relative or ".." in parts or relative.startswith("/"):
            raise KeyError(path)
        local: Path = await self._run("download artifact", self._download, step_runs[step], relative)
        return local

    def _download(self, run_id: str, relative: str) -> Path:
        target = self._cache_dir / run_id / relative
        # Outputs are written once; logs grow while the step runs, so they are fetched again.
        if target.is_file() and not relative.startswith(GROWING_PREFIXES):
            return target
        with tempfile.TemporaryDirectory(dir=self._ensure_cache()) as scratch:
            try:
                local = Path(self._client.download_artifacts(run_id, relative, scratch))
            except Exception as error:
                if _is_missing(error) or isinstance(error, OSError):
                    raise KeyError(relative) from error
                raise
            if not local.is_file():
                raise KeyError(relative)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(local), target)
        return target

    def _ensure_cache(self) -> Path:
        self._cache_dir.mkdir(parents=True, exist_ok=True)
        return self._cache_dir

    def _read_json(self, run_id: str, name: str) -> dict[str, Any] | None:
        """`name` at the root of the run's artifacts, else the first one found below it."""
        try:
            local = self._download(run_id, name)
        except KeyError:
            nested = [p for p, _ in self._walk(run_id) if PurePosixPath(p).name == name]
            if not nested:
                return None
            local = self._download(run_id, nested[0])
        data = json.loads(local.read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else None

    async def text(self, run_id: str, relative: str = STD_LOG) -> str:
        def read() -> str:
            try:
                return self._download(run_id, relative).read_text(encoding="utf-8", errors="replace")
            except KeyError:
                return ""

        result: str = await self._run("read logs", read)
        return result

    # -- outcome ------------------------------------------------------------------------------
    async def outcome(
        self, evaluate_run: str | None, register_run: str | None, model_name: str
    ) -> Outcome | None:
        result: Outcome | None = await self._run(
            "read outcome", self._outcome, evaluate_run, register_run, model_name
        )
        return result

    def _outcome(self, evaluate_run: str | None, register_run: str | None, model_name: str) -> Outcome | None:
        decision = self._read_json(evaluate_run, DECISION.file) if evaluate_run else None
        if decision is None:
            return None
        info = self._read_json(register_run, REGISTRATION.file) if register_run else None
        return Outcome.from_records(decision, info, model_name)

    # -- registry ----------------------------------------------------------------------------------
    async def model(self, name: str) -> RegisteredModelInfo | None:
        result: RegisteredModelInfo | None = await self._run("read model registry", self._model, name)
        return result

    def _model(self, name: str) -> RegisteredModelInfo | None:
        try:
            registered = self._client.get_registered_model(name)
        except Exception as error:
            if _is_missing(error):
                return None
            raise
        versions = self._client.search_model_versions(f"name='{name}'")
        champion = _champion_version(registered, versions)
        infos = []
        for version in sorted(versions, key=lambda v: _version_key(str(v.version)), reverse=True):
            tags = {str(k): str(v) for k, v in (version.tags or {}).items()}
            created = getattr(version, "creation_timestamp", None)
            infos.append(
                ModelVersionInfo(
                    version=str(version.version),
                    created_at=_from_millis(created),
                    metrics=_version_metrics(tags),
                    tags=tags,
                    is_champion=str(version.version) == champion,
                )
            )
        return RegisteredModelInfo(name=name, champion_version=champion, versions=infos)

    async def models(self, after: str | None, limit: int) -> list[ModelSummaryInfo]:
        result: list[ModelSummaryInfo] = await self._run("list registered models", self._models, after, limit)
        return result

    def _models(self, after: str | None, limit: int) -> list[ModelSummaryInfo]:
        # The workspace's registry takes no "name greater than" filter: page by name here, and
        # read versions (for the champion tag) only for the page's models.
        registered = self._client.search_registered_models(max_results=MAX_MODELS)
        later = [m for m in registered if after is None or m.name > after]
        page = sorted(later, key=lambda m: str(m.name))[:limit]
        found = []
        for model in page:
            versions = list(self._client.search_model_versions(f"name='{model.name}'"))
            champion = _champion_version(model, versions)
            chosen = next((v for v in versions if str(v.version) == champion), None)
            tags = {str(k): str(val) for k, val in (chosen.tags or {}).items()} if chosen else {}
            numbers = sorted((str(v.version) for v in versions), key=_version_key)
            found.append(
                ModelSummaryInfo(
                    name=model.name,
                    champion_version=champion,
                    champion_metrics=_version_metrics(tags),
                    latest_version=numbers[-1] if numbers else None,
                    version_count=len(versions),
                    updated_at=_from_millis(getattr(model, "last_updated_timestamp", None)),
                )
            )
        return found


def _champion_version(registered: Any, versions: list[Any]) -> str | None:
    """The alias when the registry has one, else the highest version tagged champion.

    Azure ML's MLflow registry documents tags but not aliases, so the tag is what the
    register step relies on there; the alias is honoured where a registry supports it.
    """
    aliases = getattr(registered, "aliases", None) or {}
    if isinstance(aliases, dict) and aliases.get(CHAMPION) is not None:
        return str(aliases[CHAMPION])
    tagged = [
        str(v.version)
        for v in versions
        if str((v.tags or {}).get(CHAMPION, "")).lower() in ("true", "1", "yes")
    ]
    return max(tagged, key=_version_key) if tagged else None


def _version_metrics(tags: dict[str, str]) -> dict[str, float]:
    metrics: dict[str, float] = {}
    for key, value in tags.items():
        for prefix in ("metric.", "metrics.", "metric_"):
            if key.startswith(prefix):
                with contextlib.suppress(ValueError):
                    metrics[key[len(prefix) :]] = float(value)
    if not metrics and "metrics" in tags:
        with contextlib.suppress(ValueError, AttributeError):
            metrics = float_values(json.loads(tags["metrics"]))
    return metrics


def _version_key(version: str) -> tuple[int, str]:
    return (int(version), "") if version.isdigit() else (-1, version)


def _from_millis(value: Any) -> Any:
    from datetime import UTC, datetime

    if value in (None, 0):
        return None
    return datetime.fromtimestamp(int(value) / 1000, tz=UTC)


def _is_requests_error(error: BaseException | None) -> bool:
    import requests

    return isinstance(error, requests.exceptions.RequestException)
