"""Forecast series (country x source x frequency), the spans each source covers, and
aggregated counts.

Existing models, issues and alert rules were built from UCDP data, the only source ThreatCast
bundled: they become the `pak-ucdp-<freq>` series. Each stored source's coverage is taken as the
span of its current events, what ingest would have recorded.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_SERIES_OF_FREQ = "'pak-ucdp-' || freq"


def upgrade() -> None:
    op.create_table(
        "coverage_spans",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("country", sa.String(3), nullable=False),
        sa.Column("unit", sa.String(8), nullable=False),
        sa.Column("first_day", sa.Date, nullable=False),
        sa.Column("last_day", sa.Date, nullable=False),
        sa.Column("ingest_run_id", sa.Integer, sa.ForeignKey("ingest_runs.id"), nullable=False),
    )
    op.create_index("ix_coverage_spans_source_country", "coverage_spans", ["source", "country"])
    op.create_table(
        "event_counts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("country", sa.String(3), nullable=False),
        sa.Column("unit", sa.String(8), nullable=False),
        sa.Column("period_start", sa.Date, nullable=False),
        sa.Column("region", sa.String(10), nullable=False),
        sa.Column("admin1", sa.String(120), nullable=False),
        sa.Column("event_type", sa.String(80), nullable=False),
        sa.Column("sub_event_type", sa.String(80), nullable=False),
        sa.Column("violent", sa.Boolean, nullable=False),
        sa.Column("events", sa.Integer, nullable=False),
        sa.Column("fatalities", sa.Integer, nullable=False),
        sa.Column("ingest_run_id", sa.Integer, sa.ForeignKey("ingest_runs.id"), nullable=False),
        sa.UniqueConstraint(
            "source", "country", "unit", "period_start", "admin1", "event_type",
            "sub_event_type", name="uq_event_counts_cell",
        ),
    )  # fmt: skip
    op.create_index(
        "ix_event_counts_source_country_period",
        "event_counts",
        ["source", "country", "period_start"],
    )
    _backfill_coverage()
    # A plain ADD COLUMN with a default: SQLite's batch mode would recreate model_versions, which
    # issued forecasts reference, and the foreign keys would refuse the copy.
    for table in ("model_versions", "issued_forecasts", "alert_rules"):
        op.add_column(
            table,
            sa.Column("series", sa.String(40), nullable=False, server_default="pak-ucdp-month"),
        )
        op.execute(f"UPDATE {table} SET series = {_SERIES_OF_FREQ}")
        if op.get_bind().dialect.name == "postgresql":
            op.alter_column(table, "series", server_default=None)
    op.create_index("ix_alert_rules_series", "alert_rules", ["series"])
    op.drop_index("uq_model_versions_champion", table_name="model_versions")
    op.create_index(
        "uq_model_versions_series_champion",
        "model_versions",
        ["series"],
        unique=True,
        sqlite_where=sa.text("status = 'champion'"),
        postgresql_where=sa.text("status = 'champion'"),
    )


def _backfill_coverage() -> None:
    """Each stored source's span, as ingest records it (annual releases cover whole years)."""
    conn = op.get_bind()
    spans = conn.execute(
        sa.text(
            "SELECT source, country, MIN(date_start), MAX(date_start), MAX(ingest_run_id) "
            "FROM events WHERE withdrawn_at IS NULL GROUP BY source, country"
        )
    ).all()
    for source, country, first, last, run_id in spans:
        first, last = date.fromisoformat(str(first)), date.fromisoformat(str(last))
        if source in {"ucdp", "gtd"} and (last - first).days > 366:
            first, last = date(first.year, 1, 1), date(last.year, 12, 31)
        conn.execute(
            sa.text(
                "INSERT INTO coverage_spans (source, country, unit, first_day, last_day, "
                "ingest_run_id) VALUES (:source, :country, 'day', :first, :last, :run)"
            ),
            {"source": source, "country": country, "first": first, "last": last, "run": run_id},
        )


def downgrade() -> None:
    op.drop_index("uq_model_versions_series_champion", table_name="model_versions")
    op.create_index(
        "uq_model_versions_champion",
        "model_versions",
        ["freq"],
        unique=True,
        sqlite_where=sa.text("status = 'champion'"),
        postgresql_where=sa.text("status = 'champion'"),
    )
    op.drop_index("ix_alert_rules_series", table_name="alert_rules")
    for table in ("model_versions", "issued_forecasts", "alert_rules"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("series")
    op.drop_index("ix_event_counts_source_country_period", table_name="event_counts")
    op.drop_table("event_counts")
    op.drop_index("ix_coverage_spans_source_country", table_name="coverage_spans")
    op.drop_table("coverage_spans")
