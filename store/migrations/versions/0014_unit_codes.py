"""Forecasts, outcomes and alerts name districts and remainders too (`PK-KP-NORTH_WAZIRISTAN`,
`PK-KP-UNPLACED`): their `region` columns widen from 10 to 40 characters, as events.district.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

TABLES = {
    "issued_forecasts": False,
    "reference_forecasts": False,
    "observed_outcomes": False,
    "alert_rules": True,
    "alerts": False,
}


def _resize(length_from: int, length_to: int) -> None:
    for table, nullable in TABLES.items():
        with op.batch_alter_table(table) as batch:
            batch.alter_column(
                "region",
                existing_type=sa.String(length_from),
                type_=sa.String(length_to),
                existing_nullable=nullable,
            )


def upgrade() -> None:
    _resize(10, 40)


def downgrade() -> None:
    _resize(40, 10)
