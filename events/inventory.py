"""What the event store holds for one country up to a cutoff: a fingerprint and per-period counts.

Training records the fingerprint in the model manifest; the input checks read the counts.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date

import pandas as pd
from sqlalchemy import Engine, func, select

from events.periods import Frequency, period_of
from events.tables import event_rows


@dataclass(frozen=True)
class Inventory:
    fingerprint: str
    events: int
    newest_event: date | None
    # One row per period that has events: period, events, unresolved (no region).
    by_period: pd.DataFrame


def inventory(engine: Engine, country: str, freq: Frequency, as_of: date | None) -> Inventory:
    """Current (not withdrawn) events of `country` that started by `as_of`."""
    query = (
        select(
            event_rows.c.source,
            event_rows.c.source_id,
            event_rows.c.content_hash,
            event_rows.c.date_start,
            event_rows.c.region,
        )
        .where(event_rows.c.country == country, event_rows.c.withdrawn_at.is_(None))
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
