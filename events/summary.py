"""Counts and fatalities of the stored events, grouped the ways analysts ask for."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy import Engine, func, select

from events.canonical import ViolenceType
from events.tables import event_rows

SummaryBy = Literal["year", "region", "actor", "type", "source"]
UNRESOLVED_LABEL = "(unresolved)"
NO_TYPE_LABEL = "(not organized violence)"


@dataclass(frozen=True, slots=True)
class SummaryRow:
    key: str
    events: int
    fatalities: int


def _label(by: SummaryBy, value: object) -> str:
    if by == "region" and value is None:
        return UNRESOLVED_LABEL
    if by == "type":
        return ViolenceType(int(value)).name.lower().replace("_", "-") if value else NO_TYPE_LABEL  # type: ignore[call-overload]
    if by == "year":
        return str(int(value))  # type: ignore[call-overload]
    return str(value)


def summarize(engine: Engine, by: SummaryBy) -> list[SummaryRow]:
    """Current (not withdrawn) events grouped by `by`, in key order."""
    column = {
        "year": func.extract("year", event_rows.c.date_start),
        "region": event_rows.c.region,
        "actor": event_rows.c.actor_group,
        "type": event_rows.c.violence_type,
        "source": event_rows.c.source,
    }[by]
    query = (
        select(
            column.label("key"),
            func.count(),
            func.coalesce(func.sum(event_rows.c.fatalities_best), 0),
        )
        .where(event_rows.c.withdrawn_at.is_(None))
        .group_by(column)
    )
    with engine.connect() as conn:
        rows = [SummaryRow(_label(by, key), int(n), int(f)) for key, n, f in conn.execute(query)]
    return sorted(rows, key=lambda row: row.key)
