"""events: the change feed behind GET /v1/events

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("run_id", sa.String(length=40), nullable=True),
        sa.Column("model_name", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        # Ids must never be reused, even after pruning empties the table: clients resume by id.
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("events") as batch:
        batch.create_index("ix_events_run_id", ["run_id"], unique=False)
        batch.create_index("ix_events_model_name", ["model_name"], unique=False)
        batch.create_index("ix_events_created_at", ["created_at"], unique=False)


def downgrade() -> None:
    op.drop_table("events")
