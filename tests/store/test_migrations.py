"""Schema migrations on a database an earlier release left behind: no run is lost."""

from __future__ import annotations

import json

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, text

from app.store import Store
from app.store.db import MIGRATIONS, make_engine, migrate, session_factory

OLD_REQUEST = {
    "kind": "pipeline",
    "experiment_name": "exp",
    "model_name": "m",
    "data_asset": {"name": "d", "version": "latest"},
    "hyperparameters": {"reg_rate": 0.5},
    "promotion": {"metric": "f1"},
    "compute": None,
    "step_compute": {},
    "environment": "diabetes-classify@latest",
    "pipeline_name": None,
    "force_rerun": False,
    "callback_url": None,
    "tags": {"team": "ml"},
}


def move_to(engine: Engine, revision: str, *, down: bool = False) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        (command.downgrade if down else command.upgrade)(config, revision)


def insert_old_run(engine: Engine, run_id: str, backend: str) -> None:
    with engine.begin() as db:
        db.execute(
            text(
                "INSERT INTO runs (id, kind, status, raw_status, experiment_name, model_name, backend,"
                " request, data_asset_name, data_asset_version, callback_attempts, created_at, updated_at)"
                " VALUES (:id, 'pipeline', 'running', 'Running', 'exp', 'm', :backend, :request, 'd', '2',"
                " '[]', '2026-11-30 10:00:00', '2026-11-30 10:00:00')"
            ),
            {"id": run_id, "backend": backend, "request": json.dumps(OLD_REQUEST)},
        )


def test_runs_stored_as_request_bodies_become_typed_specs(database_url: str) -> None:
    engine = make_engine(database_url)
    move_to(engine, "0001")
    with engine.begin() as db:
        db.execute(
            text(
                "INSERT INTO data_assets (name, version, path, sha256, rows, positive_rate, source,"
                " created_at) VALUES ('d', 2, '/data/assets/d/abc.csv', 'abc', 10, 0.5, 'upload',"
                " '2026-11-30 10:00:00')"
            )
        )
    insert_old_run(engine, "run-local", "local")
    insert_old_run(engine, "run-azure", "azureml")

    migrate(engine)

    store = Store(session_factory(engine))
    local, azure = store.runs.get("run-local"), store.runs.get("run-azure")
    assert local is not None and azure is not None
    assert local.spec.run_id == "run-local"
    assert local.spec.hyperparameters.reg_rate == 0.5
    assert local.spec.hyperparameters.solver == "lbfgs"  # filled from the domain default
    assert local.spec.promotion.metric == "f1" and local.spec.promotion.min_improvement == 0.0
    assert local.spec.tags == {"team": "ml"}
    assert (local.spec.data_asset.version, str(local.spec.data_asset.path)) == ("2", "/data/assets/d/abc.csv")
    assert azure.spec.data_asset.path is None
    assert store.runs.active() and len(store.runs.active()) == 2

    move_to(engine, "0001", down=True)
    with engine.begin() as db:
        stored = db.execute(text("SELECT request FROM runs WHERE id = 'run-local'")).scalar_one()
    request = stored if isinstance(stored, dict) else json.loads(stored)  # PostgreSQL decodes JSON
    assert request["hyperparameters"] == {"reg_rate": 0.5, "solver": "lbfgs"}
    assert request["data_asset"] == {"name": "d", "version": "2"}
    engine.dispose()
