"""step cache remembers when each step began

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A run resumed after a restart adopts its own finished steps: their real start time must
    # survive, not become the restart time.
    with op.batch_alter_table("step_cache") as batch:
        batch.add_column(sa.Column("started_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("step_cache") as batch:
        batch.drop_column("started_at")
