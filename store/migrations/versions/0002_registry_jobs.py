"""Model registry, status audit trail, jobs and issued forecasts.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("params", sa.JSON, nullable=False),
        sa.Column("requested_by", sa.String(120), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("worker", sa.String(120), nullable=True),
        sa.Column("version", sa.String(64), nullable=True),
        sa.Column("findings", sa.JSON, nullable=True),
        sa.Column("result", sa.Text, nullable=True),
        sa.Column("log_tail", sa.Text, nullable=True),
    )
    op.create_index("ix_jobs_status", "jobs", ["status"])
    op.create_table(
        "model_versions",
        sa.Column("version", sa.String(64), primary_key=True),
        sa.Column("freq", sa.String(8), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("as_of", sa.String(10), nullable=False),
        sa.Column("artifact_dir", sa.String(255), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("manifest_hmac", sa.String(64), nullable=False),
        sa.Column("metrics", sa.JSON, nullable=False),
        sa.Column("job_id", sa.Integer, sa.ForeignKey("jobs.id"), nullable=True),
    )
    op.create_index(
        "uq_model_versions_champion",
        "model_versions",
        ["freq"],
        unique=True,
        sqlite_where=sa.text("status = 'champion'"),
        postgresql_where=sa.text("status = 'champion'"),
    )
    op.create_table(
        "model_status_changes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "version", sa.String(64), sa.ForeignKey("model_versions.version"), nullable=False
        ),
        sa.Column("from_status", sa.String(16), nullable=True),
        sa.Column("to_status", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(120), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_model_status_changes_version", "model_status_changes", ["version"])
    op.create_table(
        "issued_forecasts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "version", sa.String(64), sa.ForeignKey("model_versions.version"), nullable=False
        ),
        sa.Column("freq", sa.String(8), nullable=False),
        sa.Column("region", sa.String(10), nullable=False),
        sa.Column("origin", sa.String(10), nullable=False),
        sa.Column("horizon", sa.Integer, nullable=False),
        sa.Column("period", sa.String(10), nullable=False),
        sa.Column("p_event", sa.Float, nullable=False),
        sa.Column("expected_events", sa.Float, nullable=False),
        sa.Column("events_p10", sa.Float, nullable=False),
        sa.Column("events_p50", sa.Float, nullable=False),
        sa.Column("events_p90", sa.Float, nullable=False),
        sa.Column("p_severe", sa.Float, nullable=False),
        sa.Column("drivers", sa.Text, nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint(
            "version", "region", "origin", "horizon", name="uq_issued_forecasts_row"
        ),
    )
    op.create_index("ix_issued_forecasts_period", "issued_forecasts", ["period"])


def downgrade() -> None:
    op.drop_table("issued_forecasts")
    op.drop_table("model_status_changes")
    op.drop_table("model_versions")
    op.drop_table("jobs")
