"""The tables the event data owns: stored events, aggregated counts, the spans each source
covers, and the ingest runs that wrote them."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
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
    # The district a precise location falls in, inside `region` (None: placed no lower).
    Column("district", String(40), nullable=True, index=True),
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

# The spans of time each ingest says its source covers, per country. A period no span covers is
# missing from the source's series, never quiet. `unit` is how the source counts: single
# events ("day"), ACLED's weeks from Saturday ("week") or months ("month").
coverage_spans = Table(
    "coverage_spans",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source", String(16), nullable=False),
    Column("country", String(3), nullable=False),
    Column("unit", String(8), nullable=False),
    Column("first_day", Date, nullable=False),
    Column("last_day", Date, nullable=False),
    Column("ingest_run_id", Integer, ForeignKey("ingest_runs.id"), nullable=False),
    Index("ix_coverage_spans_source_country", "source", "country"),
)

# Aggregated sources store counts as counts: one row per region, native period, event type and
# sub-event type, never invented event rows.
event_counts = Table(
    "event_counts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source", String(16), nullable=False),
    Column("country", String(3), nullable=False),
    Column("unit", String(8), nullable=False),
    Column("period_start", Date, nullable=False),
    Column("region", String(10), nullable=False),
    Column("admin1", String(120), nullable=False),
    Column("event_type", String(80), nullable=False),
    Column("sub_event_type", String(80), nullable=False),
    # Whether the row is organized violence (counted in panels) or stored only.
    Column("violent", Boolean, nullable=False),
    Column("events", Integer, nullable=False),
    Column("fatalities", Integer, nullable=False),
    Column("ingest_run_id", Integer, ForeignKey("ingest_runs.id"), nullable=False),
    UniqueConstraint(
        "source", "country", "unit", "period_start", "admin1", "event_type", "sub_event_type",
        name="uq_event_counts_cell",
    ),
    Index("ix_event_counts_source_country_period", "source", "country", "period_start"),
)  # fmt: skip
