"""Reads metrics, artifacts and the model registry from the local MLflow store.

MLflow is imported lazily (about 2 s) and warmed in a background thread at start-up, so the
service answers its first requests without waiting for it.
"""

from __future__ import annotations

import logging
import math
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

from app.domain.state import ArtifactInfo, ModelSummaryInfo, ModelVersionInfo, RegisteredModelInfo

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

log = logging.getLogger(__name__)

CHAMPION_ALIAS = "champion"


class ArtifactNotFound(KeyError):
    pass


class MlflowReader:
    def __init__(self, tracking_uri: str) -> None:
        self.tracking_uri = tracking_uri
        self._client: MlflowClient | None = None
        self._lock = threading.Lock()
        # Reads wait for prepare(): MLflow's schema migration (alembic) is not thread-safe, so
        # no other thread may open the store while it runs.
        self._prepared = threading.Event()

    def store_prepared(self) -> None:
        """The database exists now: reads may open it."""
        self._prepared.set()

    def ready_client(self, timeout: float = 120) -> MlflowClient:
        """The client, once the store is prepared."""
        self._prepared.wait(timeout)
        return self.client()

    def client(self) -> MlflowClient:
        with self._lock:
            if self._client is None:
                from mlflow.tracking import MlflowClient

                self._client = MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)
            return self._client

    def metrics(self, step_runs: dict[str, str]) -> dict[str, dict[str, float]]:
        found: dict[str, dict[str, float]] = {}
        with self._database() as db:
            for step, run_id in step_runs.items():
                rows = db.execute(
                    "SELECT key, value, is_nan FROM latest_metrics WHERE run_uuid = ?", (run_id,)
                ).fetchall()
                found[step] = {key: math.nan if is_nan else float(value) for key, value, is_nan in rows}
        return found

    def params(self, step_runs: dict[str, str]) -> dict[str, dict[str, str]]:
        with self._database() as db:
            return {
                step: dict(
                    db.execute("SELECT key, value FROM params WHERE run_uuid = ?", (run_id,)).fetchall()
                )
                for step, run_id in step_runs.items()
            }

    def _artifact_root(self, run_id: str) -> Path:
        with self._database() as db:
            row = db.execute("SELECT artifact_uri FROM runs WHERE run_uuid = ?", (run_id,)).fetchone()
        uri = str(row[0]) if row and row[0] else ""
        parsed = urlparse(uri)
        if not uri or parsed.scheme not in ("", "file"):
            raise ArtifactNotFound(f"artifacts of run {run_id} are not on this machine ({uri or 'unknown'})")
        return Path(unquote(parsed.path)).resolve()

    @contextmanager
    def _database(self) -> Iterator[sqlite3.Connection]:
        """Read-only SQL on MLflow's own tables (``latest_metrics``, ``runs``: its schema, pinned
        with mlflow and exercised by the tests). Reading them directly spares the service the
        ~2 s MLflow import; the registry still goes through MlflowClient."""
        self._prepared.wait(120)
        path = self.tracking_uri.removeprefix("sqlite:///")
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)) as db:
            yield db

    def artifacts(self, step_runs: dict[str, str]) -> list[ArtifactInfo]:
        found = []
        for step, run_id in step_runs.items():
            root = self._artifact_root(run_id)
            if not root.is_dir():
                continue
            for path in sorted(p for p in root.rglob("*") if p.is_file()):
                relative = path.relative_to(root).as_posix()
                found.append(ArtifactInfo(f"{step}/{relative}", path.stat().st_size))
        return found

    def artifact_file(self, step_runs: dict[str, str], path: str) -> Path:
        """The file behind ``step/relative/path``; never anything outside that run's folder."""
        step, _, relative = path.partition("/")
        if step not in step_runs or not relative:
            raise ArtifactNotFound(path)
        root = self._artifact_root(step_runs[step])
        try:
            target = (root / relative).resolve()
            found = target.is_relative_to(root) and target.is_file()
        except (OSError, ValueError):  # too long, NUL, not encodable: no such file either way
            found = False
        if not found:
            raise ArtifactNotFound(path)
        return target

    def model(self, name: str) -> RegisteredModelInfo | None:
        from mlflow.exceptions import MlflowException

        client = self.ready_client()
        try:
            registered = client.get_registered_model(name)
        except MlflowException:
            return None
        champion = (registered.aliases or {}).get(CHAMPION_ALIAS)
        versions = []
        for mv in client.search_model_versions(f"name = '{_quote(name)}'"):
            tags = dict(mv.tags or {})
            versions.append(
                ModelVersionInfo(
                    version=str(mv.version),
                    created_at=_from_millis(mv.creation_timestamp),
                    metrics=_metric_tags(tags),
                    tags=tags,
                    is_champion=str(mv.version) == str(champion),
                )
            )
        versions.sort(key=lambda v: int(v.version))
        return RegisteredModelInfo(
            name=name, champion_version=str(champion) if champion else None, versions=versions
        )

    def models(self, after: str | None, limit: int) -> list[ModelSummaryInfo]:
        """One page of the registry, read from MLflow's tables like the metrics (no client:
        a list page must not wait for the MLflow import)."""
        with self._database() as db:
            rows = db.execute(_MODELS_PAGE, (CHAMPION_ALIAS, after or "", limit)).fetchall()
            found = []
            for name, updated, champion, latest, count in rows:
                tags = dict(
                    db.execute(
                        "SELECT key, value FROM model_version_tags WHERE name = ? AND version = ?",
                        (name, champion),
                    ).fetchall()
                    if champion is not None
                    else []
                )
                found.append(
                    ModelSummaryInfo(
                        name=name,
                        champion_version=None if champion is None else str(champion),
                        champion_metrics=_metric_tags(tags),
                        latest_version=None if latest is None else str(latest),
                        version_count=int(count),
                        updated_at=_from_millis(updated),
                    )
                )
        return found


# Versions MLflow deleted stay in its table, with the stage Deleted_Internal.
_MODELS_PAGE = """
SELECT m.name, m.last_updated_time,
  (SELECT a.version FROM registered_model_aliases a WHERE a.name = m.name AND a.alias = ?),
  (SELECT MAX(v.version) FROM model_versions v
    WHERE v.name = m.name AND coalesce(v.current_stage, '') != 'Deleted_Internal'),
  (SELECT COUNT(*) FROM model_versions v
    WHERE v.name = m.name AND coalesce(v.current_stage, '') != 'Deleted_Internal')
FROM registered_models m WHERE m.name > ? ORDER BY m.name LIMIT ?
"""


def _quote(value: str) -> str:
    return value.replace("'", "\\'")


def _from_millis(millis: Any) -> datetime | None:
    return datetime.fromtimestamp(int(millis) / 1000, UTC) if millis else None


def _metric_tags(tags: dict[str, str]) -> dict[str, float]:
    metrics = {}
    for key, value in tags.items():
        if key.startswith("metric."):
            try:
                metrics[key.removeprefix("metric.")] = float(value)
            except ValueError:
                continue
    return metrics
