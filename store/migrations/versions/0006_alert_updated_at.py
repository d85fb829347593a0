"""Alerts record when they last changed, so a list's ETag is known before the list is built.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE alerts SET updated_at = COALESCE(acknowledged_at, resolved_at, started_at)")
    with op.batch_alter_table("alerts") as batch:
        batch.alter_column("updated_at", existing_type=sa.DateTime(timezone=True), nullable=False)
    op.create_index("ix_alerts_updated_at", "alerts", ["updated_at"])


def downgrade() -> None:
    op.drop_index("ix_alerts_updated_at", table_name="alerts")
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("updated_at")
