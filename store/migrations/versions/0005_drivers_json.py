"""Issued forecasts keep their drivers as JSON ([{feature, label, contribution}]), not text.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

import json
import re

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# The text form the drivers had: "label (+0.41); label (-0.12)".
_DRIVER = re.compile(r"^(?P<label>.*) \((?P<value>[+-]\d+(?:\.\d+)?)\)$")


def _structured(text: str | None) -> str:
    parsed = []
    for part in filter(None, (p.strip() for p in (text or "").split(";"))):
        match = _DRIVER.match(part)
        if match:
            parsed.append(
                {"feature": "", "label": match["label"], "contribution": float(match["value"])}
            )
    return json.dumps(parsed)


def upgrade() -> None:
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT id, drivers FROM issued_forecasts")).all()
    for row_id, text in rows:
        conn.execute(
            sa.text("UPDATE issued_forecasts SET drivers = :drivers WHERE id = :id"),
            {"drivers": _structured(text), "id": row_id},
        )
    with op.batch_alter_table("issued_forecasts") as batch:
        batch.alter_column(
            "drivers",
            existing_type=sa.Text(),
            type_=sa.JSON(),
            existing_nullable=False,
            postgresql_using="drivers::json",
        )


def downgrade() -> None:
    with op.batch_alter_table("issued_forecasts") as batch:
        batch.alter_column(
            "drivers",
            existing_type=sa.JSON(),
            type_=sa.Text(),
            existing_nullable=False,
            postgresql_using="drivers::text",
        )
