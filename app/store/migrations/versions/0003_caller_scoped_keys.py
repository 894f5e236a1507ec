"""idempotency keys scoped to the submitting caller

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# SQLite keeps the old unique constraint unnamed: name it on reflection so it can be dropped.
_NAMES = {"uq": "uq_%(table_name)s_%(column_0_name)s"}


def _old_unique_name() -> str:
    return "runs_idempotency_key_key" if op.get_bind().dialect.name == "postgresql" else "uq_runs_idempotency_key"


def upgrade() -> None:
    with op.batch_alter_table("runs", naming_convention=_NAMES) as batch:
        # Runs from before callers were recorded keep an empty name: no caller has it.
        batch.add_column(sa.Column("submitted_by", sa.String(length=255), nullable=False, server_default=""))
        batch.drop_constraint(_old_unique_name(), type_="unique")
        batch.create_index("uq_runs_caller_key", ["submitted_by", "idempotency_key"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("runs", naming_convention=_NAMES) as batch:
        batch.drop_index("uq_runs_caller_key")
        batch.create_unique_constraint(_old_unique_name(), ["idempotency_key"])
        batch.drop_column("submitted_by")
