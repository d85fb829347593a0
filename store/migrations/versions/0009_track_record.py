"""The track record: reference forecasts stored at each issue, the outcomes first seen and
latest for each forecast target, and the issuing model's severe threshold on issued rows.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("issued_forecasts", sa.Column("severe_threshold", sa.Integer, nullable=True))
    op.create_table(
        "reference_forecasts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("version", sa.String(64), sa.ForeignKey("model_versions.version"), nullable=False),
        sa.Column("series", sa.String(40), nullable=False),
        sa.Column("reference", sa.String(32), nullable=False),
        sa.Column("region", sa.String(10), nullable=False),
        sa.Column("origin", sa.String(10), nullable=False),
        sa.Column("horizon", sa.Integer, nullable=False),
        sa.Column("period", sa.String(10), nullable=False),
        *(sa.Column(name, sa.Float, nullable=False)
          for name in ("p_event", "expected_events", "events_p10", "events_p50", "events_p90",
                       "p_severe")),
        sa.Column("count_law", sa.JSON, nullable=True),
        sa.UniqueConstraint("version", "origin", "reference", "region", "horizon",
                            name="uq_reference_forecasts_row"),
    )  # fmt: skip
    op.create_table(
        "observed_outcomes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("series", sa.String(40), nullable=False),
        sa.Column("region", sa.String(10), nullable=False),
        sa.Column("period", sa.String(10), nullable=False),
        sa.Column("first_events", sa.Integer, nullable=False),
        sa.Column("first_fatalities", sa.Integer, nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("events", sa.Integer, nullable=False),
        sa.Column("fatalities", sa.Integer, nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("series", "region", "period", name="uq_observed_outcomes_target"),
    )


def downgrade() -> None:
    op.drop_table("observed_outcomes")
    op.drop_table("reference_forecasts")
    with op.batch_alter_table("issued_forecasts") as batch:
        batch.drop_column("severe_threshold")
