"""The Alembic migrations build exactly the schema the code declares, on both backends."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect

from features.store.db import migrate, schema_is_current
from features.store.schema import metadata


def test_migrated_schema_matches_the_declared_tables(engine: Engine) -> None:
    with engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), metadata)
    assert differences == []
    assert schema_is_current(engine)
    assert {"events", "ingest_runs", "alembic_version"} <= set(inspect(engine).get_table_names())


def test_migrating_twice_is_harmless(engine: Engine) -> None:
    migrate(engine)
    assert schema_is_current(engine)
