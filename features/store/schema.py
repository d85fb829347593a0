"""Tables of the ThreatCast database (SQLAlchemy Core); Alembic migrations create them."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

metadata = MetaData()

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

events = Table(
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

# Model versions and their audit trail; the artifact directory holds the model itself.
model_versions = Table(
    "model_versions",
    metadata,
    Column("version", String(64), primary_key=True),
    Column("freq", String(8), nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("as_of", String(10), nullable=False),
    Column("artifact_dir", String(255), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("manifest_hmac", String(64), nullable=False),
    Column("metrics", JSON, nullable=False),
    Column("job_id", Integer, ForeignKey("jobs.id"), nullable=True),
    # At most one champion per frequency, enforced by the database itself.
    Index(
        "uq_model_versions_champion",
        "freq",
        unique=True,
        sqlite_where=text("status = 'champion'"),
        postgresql_where=text("status = 'champion'"),
    ),
)

model_status_changes = Table(
    "model_status_changes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("version", String(64), ForeignKey("model_versions.version"), nullable=False, index=True),
    Column("from_status", String(16), nullable=True),
    Column("to_status", String(16), nullable=False),
    Column("actor", String(120), nullable=False),
    Column("reason", Text, nullable=False),
    Column("changed_at", DateTime(timezone=True), nullable=False),
)

jobs = Table(
    "jobs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),
    Column("status", String(16), nullable=False, index=True),
    Column("params", JSON, nullable=False),
    Column("requested_by", String(120), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=True),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    Column("heartbeat_at", DateTime(timezone=True), nullable=True),
    Column("worker", String(120), nullable=True),
    Column("version", String(64), nullable=True),
    Column("findings", JSON, nullable=True),
    Column("result", Text, nullable=True),
    Column("log_tail", Text, nullable=True),
)

issued_forecasts = Table(
    "issued_forecasts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("version", String(64), ForeignKey("model_versions.version"), nullable=False),
    Column("freq", String(8), nullable=False),
    Column("region", String(10), nullable=False),
    Column("origin", String(10), nullable=False),
    Column("horizon", Integer, nullable=False),
    Column("period", String(10), nullable=False, index=True),
    Column("p_event", Float, nullable=False),
    Column("expected_events", Float, nullable=False),
    Column("events_p10", Float, nullable=False),
    Column("events_p50", Float, nullable=False),
    Column("events_p90", Float, nullable=False),
    Column("p_severe", Float, nullable=False),
    Column("drivers", Text, nullable=False),
    Column("issued_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("version", "region", "origin", "horizon", name="uq_issued_forecasts_row"),
)

# API keys are stored as sha256 digests of high-entropy random tokens; the token is shown once.
api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(120), nullable=False, unique=True),
    Column("role", String(16), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("prefix", String(16), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_used_at", DateTime(timezone=True), nullable=True),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
)
