"""Creates the local MLflow database before any step opens it.

MLflow builds an empty database by running its ~60 schema migrations: about 2 s, and not safe
to do from two processes at once. The empty schema depends only on the MLflow version, so it is
built once per machine (under ``$XDG_CACHE_HOME/trainctl``, or ``TRAINCTL_CACHE_DIR``) and every
new data directory starts from a copy: no MLflow import, no migrations, on the start-up path.
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import tempfile
from contextlib import closing
from importlib.metadata import version
from pathlib import Path

log = logging.getLogger(__name__)


def cache_dir() -> Path:
    explicit = os.environ.get("TRAINCTL_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "trainctl"


def matplotlib_cache() -> Path:
    """A writable matplotlib config folder that outlives the data directory: its font cache
    takes about a second to build."""
    return cache_dir() / "matplotlib"


def empty_schema() -> Path:
    """A migrated, empty MLflow database for the installed MLflow version (built on first use)."""
    cached = cache_dir() / f"mlflow-{version('mlflow')}-empty.db"
    if cached.is_file():
        return cached
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(dir=cached.parent))
    except OSError:  # no writable cache: build it in a private temporary folder instead
        cached = Path(tempfile.mkdtemp()) / cached.name
        scratch = cached.parent
    built = scratch / "empty.db"
    _migrate(built, scratch / "mlruns")
    os.replace(built, cached)  # atomic: a concurrent builder simply wins or loses the race
    shutil.rmtree(scratch, ignore_errors=True)
    return cached


def _migrate(db: Path, artifacts: Path) -> None:
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    store = SqlAlchemyStore(f"sqlite:///{db}", artifacts.as_uri())  # type: ignore[no-untyped-call]
    store.engine.dispose()


def prepare_store(mlflow_db: Path, template: Path, artifacts: Path) -> None:
    """Make sure ``mlflow_db`` exists with the current schema, its Default experiment's artifacts
    under ``artifacts``; keep ``template`` as a pristine empty copy for the warm-up's scratch
    store."""
    if not mlflow_db.exists() or not template.exists():
        schema = empty_schema()
        if not template.exists():
            _copy(schema, template)
        if not mlflow_db.exists():
            partial = mlflow_db.with_name(mlflow_db.name + ".partial")
            _copy(schema, partial)
            with closing(sqlite3.connect(partial)) as conn, conn:
                conn.execute(
                    "UPDATE experiments SET artifact_location = ? WHERE experiment_id = 0",
                    (f"{artifacts.as_uri()}/0",),
                )
            os.replace(partial, mlflow_db)
            return
    # An existing database may come from an older MLflow: migrate unless its schema revision
    # is the one this MLflow version creates.
    if _revision(mlflow_db) != _revision(empty_schema()):
        _migrate(mlflow_db, artifacts)


def _revision(db: Path) -> str | None:
    try:
        with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.Error:
        return None
    return str(row[0]) if row else None


def _copy(source: Path, target: Path) -> None:
    partial = target.with_name(target.name + ".copying")
    with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(partial)) as dst:
        src.backup(dst)
    os.replace(partial, target)
