"""Alembic environment: runs on the connection handed in by features.store.db.migrate."""

from __future__ import annotations

from alembic import context

from features.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "run migrations through `threatcast db upgrade`, which supplies a connection"
    )

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
context.run_migrations()
