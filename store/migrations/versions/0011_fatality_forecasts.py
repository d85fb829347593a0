"""Issued forecasts carry fatalities: the expected count, the interval and the fitted law
(`fatality_law`: p_fatal, p_severe, location, scale, threshold).

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


def downgrade() -> None:
    with op.batch_alter_table("issued_forecasts") as batch:
        for name in (*COLUMNS, "fatality_law"):
            batch.drop_column(name)
