"""The tables the event data owns: stored events and the ingest runs that wrote them."""

from __future__ import annotations

from sqlalchemy import (
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    SmallInteger,
    String,
    Table,
    UniqueConstraint,
)

from store.metadata import metadata

ingest_runs = Table(
    "ingest_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source", String(16), nullable=False),
    Column("file_name", String(255), nullable=False),
    Column("file_sha256", String(64), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=False),
    Column("rows_read", Integer, nullable=False),
    Column("added", Integer, nullable=False),
    Column("updated", Integer, nullable=False),
    Column("unchanged", Integer, nullable=False),
    Column("missing_now", Integer, nullable=False),
    Column("skipped", Integer, nullable=False),
    Column("unresolved", Integer, nullable=False),
)

event_rows = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source", String(16), nullable=False),
    Column("source_id", String(64), nullable=False),
    Column("date_start", Date, nullable=False),
    Column("date_end", Date, nullable=False),
    Column("date_precision", SmallInteger, nullable=False),
    Column("country", String(3), nullable=False),
    Column("region", String(10), nullable=True, index=True),
    Column("region_method", String(8), nullable=True),
    Column("admin1", String(120), nullable=True),
    Column("admin2", String(120), nullable=True),
    Column("latitude", Float, nullable=True),
    Column("longitude", Float, nullable=True),
    Column("location_precision", SmallInteger, nullable=True),
    Column("violence_type", SmallInteger, nullable=True),
    Column("event_type", String(80), nullable=True),
    Column("actor1", String(200), nullable=True),
    Column("actor2", String(200), nullable=True),
    Column("actor_group", String(16), nullable=False),
    Column("fatalities_best", Integer, nullable=False),
    Column("fatalities_low", Integer, nullable=True),
    Column("fatalities_high", Integer, nullable=True),
    Column("civilian_deaths", Integer, nullable=True),
    Column("content_hash", String(64), nullable=False),
    Column("ingest_run_id", Integer, ForeignKey("ingest_runs.id"), nullable=False),
    Column("withdrawn_at", DateTime(timezone=True), nullable=True),
    UniqueConstraint("source", "source_id", name="uq_events_source_id"),
)
