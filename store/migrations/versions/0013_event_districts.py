"""Events record the district they were placed in by their coordinates (`events.district`),
for countries whose definition has a district level. Stored events get theirs when their file
is ingested again (the district is part of an event's content).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("events", sa.Column("district", sa.String(40), nullable=True))
    op.create_index("ix_events_district", "events", ["district"])


def downgrade() -> None:
    op.drop_index("ix_events_district", table_name="events")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("district")
