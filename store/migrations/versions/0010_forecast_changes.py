"""Issued forecasts say why they moved since the previous issue (`change`) and carry their whole
count law (`count_law`: the mass function and its tail).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("issued_forecasts", sa.Column("change", sa.JSON, nullable=True))
    op.add_column("issued_forecasts", sa.Column("count_law", sa.JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("issued_forecasts") as batch:
        batch.drop_column("change")
        batch.drop_column("count_law")
