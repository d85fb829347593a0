"""Events and ingest runs.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ingest_runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("file_name", sa.String(255), nullable=False),
        sa.Column("file_sha256", sa.String(64), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rows_read", sa.Integer, nullable=False),
        sa.Column("added", sa.Integer, nullable=False),
        sa.Column("updated", sa.Integer, nullable=False),
        sa.Column("unchanged", sa.Integer, nullable=False),
        sa.Column("missing_now", sa.Integer, nullable=False),
        sa.Column("skipped", sa.Integer, nullable=False),
        sa.Column("unresolved", sa.Integer, nullable=False),
    )
    op.create_table(
        "events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("source_id", sa.String(64), nullable=False),
        sa.Column("date_start", sa.Date, nullable=False),
        sa.Column("date_end", sa.Date, nullable=False),
        sa.Column("date_precision", sa.SmallInteger, nullable=False),
        sa.Column("country", sa.String(3), nullable=False),
        sa.Column("region", sa.String(10), nullable=True),
        sa.Column("region_method", sa.String(8), nullable=True),
        sa.Column("admin1", sa.String(120), nullable=True),
        sa.Column("admin2", sa.String(120), nullable=True),
        sa.Column("latitude", sa.Float, nullable=True),
        sa.Column("longitude", sa.Float, nullable=True),
        sa.Column("location_precision", sa.SmallInteger, nullable=True),
        sa.Column("violence_type", sa.SmallInteger, nullable=True),
        sa.Column("event_type", sa.String(80), nullable=True),
        sa.Column("actor1", sa.String(200), nullable=True),
        sa.Column("actor2", sa.String(200), nullable=True),
        sa.Column("actor_group", sa.String(16), nullable=False),
        sa.Column("fatalities_best", sa.Integer, nullable=False),
        sa.Column("fatalities_low", sa.Integer, nullable=True),
        sa.Column("fatalities_high", sa.Integer, nullable=True),
        sa.Column("civilian_deaths", sa.Integer, nullable=True),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("ingest_run_id", sa.Integer, sa.ForeignKey("ingest_runs.id"), nullable=False),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("source", "source_id", name="uq_events_source_id"),
    )
    op.create_index("ix_events_region", "events", ["region"])


def downgrade() -> None:
    op.drop_index("ix_events_region", table_name="events")
    op.drop_table("events")
    op.drop_table("ingest_runs")
