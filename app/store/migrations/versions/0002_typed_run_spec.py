"""typed run spec replaces the stored request body

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_runs = sa.table(
    "runs",
    sa.column("id", sa.String),
    sa.column("kind", sa.String),
    sa.column("backend", sa.String),
    sa.column("experiment_name", sa.String),
    sa.column("model_name", sa.String),
    sa.column("data_asset_name", sa.String),
    sa.column("data_asset_version", sa.String),
    sa.column("request", sa.JSON),
    sa.column("spec", sa.JSON),
)
_assets = sa.table(
    "data_assets", sa.column("name", sa.String), sa.column("version", sa.Integer), sa.column("path", sa.Text)
)


def _spec_document(row: Any, asset_path: str | None) -> dict[str, Any]:
    # The spec model fills whatever the old body left out, so defaults stay in one place.
    from app.domain.spec import DataAssetRef, RunSpec

    request = row.request if isinstance(row.request, dict) else json.loads(row.request or "{}")
    options = {key: value for key, value in request.items() if key not in ("data_asset", "callback_url")}
    spec = RunSpec.model_validate(
        {
            **options,
            "run_id": row.id,
            "kind": row.kind,
            "experiment_name": row.experiment_name,
            "model_name": row.model_name,
            "data_asset": DataAssetRef(
                name=row.data_asset_name, version=row.data_asset_version, path=asset_path
            ),
        }
    )
    return spec.stored()


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("spec", sa.JSON(), nullable=True))
    connection = op.get_bind()
    paths = {
        (name, str(version)): path
        for name, version, path in connection.execute(sa.select(_assets.c.name, _assets.c.version, _assets.c.path))
    }
    for row in connection.execute(sa.select(_runs)).fetchall():
        local = row.backend == "local"
        path = paths.get((row.data_asset_name, row.data_asset_version)) if local else None
        connection.execute(
            _runs.update().where(_runs.c.id == row.id).values(spec=_spec_document(row, path))
        )
    with op.batch_alter_table("runs") as batch:
        batch.alter_column("spec", existing_type=sa.JSON(), nullable=False)
        batch.drop_column("request")


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("request", sa.JSON(), nullable=True))
    connection = op.get_bind()
    for row in connection.execute(sa.select(_runs.c.id, _runs.c.spec)).fetchall():
        document = row.spec if isinstance(row.spec, dict) else json.loads(row.spec)
        spec = dict(document["spec"])
        asset = spec.pop("data_asset")
        spec.pop("run_id", None)
        request = {**spec, "data_asset": {"name": asset["name"], "version": asset["version"]}}
        connection.execute(_runs.update().where(_runs.c.id == row.id).values(request=request))
    with op.batch_alter_table("runs") as batch:
        batch.alter_column("request", existing_type=sa.JSON(), nullable=False)
        batch.drop_column("spec")
