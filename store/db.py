"""Engines, migrations and serialized write transactions for SQLite and PostgreSQL."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, Select, create_engine, event, func, select, text
from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
SQLITE_BUSY_TIMEOUT_S = 60
# Any constant works; it only has to be the same in every ThreatCast process.
_PG_WRITE_LOCK_KEY = 0x7EC4CA57


def as_utc(moment: datetime | None) -> datetime | None:
    """A stored timestamp with its zone: SQLite hands them back naive, and they were written in UTC."""
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


def make_engine(database_url: str) -> Engine:
    """An engine for the URL; SQLite gets WAL, foreign keys and explicit transactions."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # Writers take the lock up front so two writers queue instead of deadlocking.
        immediate = conn.get_execution_options().get("write_lock", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """One transaction that holds the store's write lock until it commits or rolls back.

    Writers are serialized across processes: SQLite by BEGIN IMMEDIATE, PostgreSQL by a
    transaction-scoped advisory lock. Readers are never blocked.
    """
    with engine.connect().execution_options(write_lock=True) as conn, conn.begin():
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_WRITE_LOCK_KEY})
        yield conn


def fetch_all(bind: Engine | Connection, query: Select[Any]) -> list[Any]:
    """Every row of `query`, inside the caller's transaction when given a connection."""
    if isinstance(bind, Connection):
        return list(bind.execute(query).all())
    with bind.connect() as conn:
        return list(conn.execute(query).all())


def fetch_page(
    engine: Engine, query: Select[Any], limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    """One page of a query's rows, and how many rows the whole query has."""
    with engine.connect() as conn:
        total = conn.execute(
            select(func.count()).select_from(query.order_by(None).subquery())
        ).scalar_one()
        rows = conn.execute(query.limit(limit).offset(offset)).mappings()
        return [dict(row) for row in rows], int(total)


def _alembic_config(conn: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = conn
    return config


def _revisions(engine: Engine) -> tuple[str | None, str | None]:
    """The database's current migration and the newest one the code has."""
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
        head = ScriptDirectory.from_config(_alembic_config(conn)).get_current_head()
    return current, head


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the schema up to the newest migration, or `revision` (a no-op when it is there)."""
    current, head = _revisions(engine)
    if current == (head if revision == "head" else revision):
        return
    log.info("migrating database schema from %s to %s", current or "empty", revision)
    with write_transaction(engine) as conn:
        command.upgrade(_alembic_config(conn), revision)


SchemaState = Literal["empty", "behind", "current", "ahead"]


def schema_state(engine: Engine) -> SchemaState:
    """Where the database's schema stands against this code's migrations. "ahead" is a revision
    this code does not know: a newer release migrated it (migrations only add), so servers of
    this release keep serving through a rolling upgrade."""
    current, head = _revisions(engine)
    if current is None:
        return "empty"
    if current == head:
        return "current"
    with engine.connect() as conn:
        known = {
            rev.revision
            for rev in ScriptDirectory.from_config(_alembic_config(conn)).walk_revisions()
        }
    return "behind" if current in known else "ahead"


def schema_is_current(engine: Engine) -> bool:
    """Whether the database has every migration applied."""
    return schema_state(engine) == "current"
