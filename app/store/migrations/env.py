"""Alembic environment: runs on the connection the service hands over (see ``db.migrate``)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from app.store.tables import Base

connection = context.config.attributes.get("connection")
if connection is None:  # `alembic` on the command line: use the URL from alembic's config
    engine = create_engine(context.config.get_main_option("sqlalchemy.url") or "sqlite://")
    connection = engine.connect()

context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
