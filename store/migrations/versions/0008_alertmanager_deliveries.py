"""Deliveries say their kind: ThreatCast's signed webhook, or Alertmanager's v2 API.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Every delivery before this one was a webhook; a plain ADD COLUMN keeps SQLite's rows.
    op.add_column(
        "alert_deliveries",
        sa.Column("kind", sa.String(16), nullable=False, server_default="webhook"),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("alert_deliveries", "kind", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("alert_deliveries") as batch:
        batch.drop_column("kind")
