"""What the event store holds for one country up to a cutoff: a fingerprint and per-period counts.

Training records the fingerprint in the model manifest; the input checks read the counts.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date

import pandas as pd
from sqlalchemy import Engine, func, select

from events.periods import period_of
from events.series import Series
from events.tables import event_counts, event_rows


@dataclass(frozen=True)
class Inventory:
    fingerprint: str
    events: int
    newest_event: date | None
    # One row per period that has events: period, events, unresolved (no region).
    by_period: pd.DataFrame


def inventory(engine: Engine, series: Series, as_of: date | None) -> Inventory:
    """Current (not withdrawn) events and aggregated cells of the series' source that started by
    `as_of`."""
    country, freq = series.country, series.freq
    query = (
        select(
            event_rows.c.source,
            event_rows.c.source_id,
            event_rows.c.content_hash,
            event_rows.c.date_start,
            event_rows.c.region,
        )
        .where(
            event_rows.c.country == country,
            event_rows.c.source == series.source,
            event_rows.c.withdrawn_at.is_(None),
        )
        .order_by(event_rows.c.source, event_rows.c.source_id)
    )
    if as_of is not None:
        query = query.where(event_rows.c.date_start <= as_of)
    digest = hashlib.sha256()
    rows = []
    with engine.connect() as conn:
        for source, source_id, content_hash, started, region in conn.execute(query):
            digest.update(f"{source}\t{source_id}\t{content_hash}\n".encode())
            rows.append((period_of(started, freq), started, region is None))
        cells = select(
            event_counts.c.unit, event_counts.c.period_start, event_counts.c.admin1,
            event_counts.c.event_type, event_counts.c.sub_event_type, event_counts.c.events,
            event_counts.c.fatalities,
        ).where(
            event_counts.c.source == series.source, event_counts.c.country == country,
            event_counts.c.violent.is_(True),
        ).order_by(event_counts.c.unit, event_counts.c.period_start, event_counts.c.admin1,
                   event_counts.c.event_type, event_counts.c.sub_event_type)  # fmt: skip
        if as_of is not None:
            cells = cells.where(event_counts.c.period_start <= as_of)
        for cell in conn.execute(cells):
            digest.update("\t".join(map(str, cell)).encode() + b"\n")
            rows.extend(
                [(period_of(cell.period_start, freq), cell.period_start, False)] * cell.events
            )
    frame = pd.DataFrame(rows, columns=["period", "date_start", "unresolved"])
    by_period = (
        frame.groupby("period")
        .agg(events=("unresolved", "size"), unresolved=("unresolved", "sum"))
        .reset_index()
    )
    newest = max(frame["date_start"]) if rows else None
    return Inventory(digest.hexdigest(), len(rows), newest, by_period)


def newest_event_date(engine: Engine) -> date | None:
    """The start date of the newest current event in the store."""
    with engine.connect() as conn:
        newest: date | None = conn.execute(
            select(func.max(event_rows.c.date_start)).where(event_rows.c.withdrawn_at.is_(None))
        ).scalar_one()
    return newest
