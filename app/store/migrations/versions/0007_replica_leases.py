"""replicas: the lifecycle lease, cancel requests in the store, changes findable by time

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # One row per lease; "lifecycle" is the one replicas compete for. Times are seconds since
    # the epoch on the database's clock, so replicas on different machines agree on them.
    leases = op.create_table(
        "leases",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("holder", sa.String(length=255), nullable=True),
        sa.Column("token", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("expires_at", sa.Float(), nullable=False, server_default="0"),
        sa.Column("renewed_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("name"),
    )
    op.bulk_insert(leases, [{"name": "lifecycle", "holder": None, "token": 0, "expires_at": 0.0}])
    with op.batch_alter_table("runs") as batch:
        # A cancel is asked by whichever replica got the request and carried out by the leader.
        batch.add_column(sa.Column("cancel_requested_at", sa.DateTime(timezone=True), nullable=True))
        # Workers sharing one SQLite file find each other's changes by time.
        batch.create_index("ix_runs_updated_at", ["updated_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_index("ix_runs_updated_at")
        batch.drop_column("cancel_requested_at")
    op.drop_table("leases")
