"""Issued forecasts carry fatalities (the expected count, the interval and the fitted law,
`fatality_law`: p_fatal, p_severe, location, scale, threshold) and per-actor-group forecasts
(`actors`); alert rules can watch one actor group (`alert_rules.actor_group`).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

COLUMNS = ("expected_fatalities", "fatalities_p10", "fatalities_p50", "fatalities_p90")


def upgrade() -> None:
    for name in COLUMNS:
        op.add_column("issued_forecasts", sa.Column(name, sa.Float, nullable=True))
    op.add_column("issued_forecasts", sa.Column("fatality_law", sa.JSON, nullable=True))
    op.add_column("issued_forecasts", sa.Column("actors", sa.JSON, nullable=True))
    op.add_column("alert_rules", sa.Column("actor_group", sa.String(16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("issued_forecasts") as batch:
        for name in (*COLUMNS, "fatality_law", "actors"):
            batch.drop_column(name)
    with op.batch_alter_table("alert_rules") as batch:
        batch.drop_column("actor_group")
