"""Alembic environment: runs on the connection handed in by store.db.migrate.

Migrations are written by hand, so no table metadata is needed here (and store/ stays beneath
the packages that own the tables).
"""

from __future__ import annotations

from alembic import context

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "run migrations through `threatcast db upgrade`, which supplies a connection"
    )

context.configure(connection=connection, render_as_batch=connection.dialect.name == "sqlite")
context.run_migrations()
