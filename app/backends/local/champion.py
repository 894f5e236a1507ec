"""Reads which version of a model is the champion, straight from the local MLflow registry.

The reuse check runs on the service's event loop before every champion-reading step; a direct
read of the alias table costs about a millisecond, where importing and opening MLflow costs
seconds. Pinned to mlflow's schema (``registered_model_aliases``, present since MLflow 2.3);
``tests`` check it against a registry written by MLflow itself.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from app.backends.local.stepcache import NO_CHAMPION


def champion_version(mlflow_db: Path, model_name: str, alias: str = "champion") -> str:
    if not mlflow_db.exists():
        return NO_CHAMPION
    with closing(sqlite3.connect(f"file:{mlflow_db}?mode=ro", uri=True, timeout=5)) as conn:
        try:
            row = conn.execute(
                "SELECT version FROM registered_model_aliases WHERE name = ? AND alias = ?",
                (model_name, alias),
            ).fetchone()
        except sqlite3.OperationalError:  # the registry tables do not exist yet
            return NO_CHAMPION
    return str(row[0]) if row else NO_CHAMPION
