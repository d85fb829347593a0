"""Alert changes reach the receivers the serving processes name: deleted rules are kept
(`alert_rules.deleted_at`) so their alerts end with a resolved notice, and each alert records
its last Alertmanager push (`alerts.pushed_at`), so re-sends read only the firing alerts.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("alert_rules", sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("alerts", sa.Column("pushed_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("pushed_at")
    with op.batch_alter_table("alert_rules") as batch:
        batch.drop_column("deleted_at")
