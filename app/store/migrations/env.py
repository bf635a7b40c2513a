"""Alembic environment: migrations run on the connection that `app.store.db.migrate` passes."""

from __future__ import annotations

from alembic import context

from app.store.tables import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through app.store.db.migrate(database)")
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
