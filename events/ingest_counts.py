"""Loads an aggregated count file into the store: all or nothing, replacing the periods it covers.

Counts are stored as counts (events/tables.event_counts). A newer file of the same source
replaces every stored cell of the periods it covers and reports what changed.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Connection, delete, insert, select

from events.coverage import Span
from events.gazetteer import RegionResolver
from events.sources import RowError
from events.sources.aggregated import ParsedCounts
from events.tables import coverage_spans, event_counts

log = logging.getLogger(__name__)
_KEY = ("period_start", "admin1", "event_type", "sub_event_type")


@dataclass(frozen=True)
class CountChanges:
    """How the stored cells of the covered periods compare with the file's."""

    added: int
    changed: int
    unchanged: int
    removed: int
    periods_changed: tuple[str, ...]


def native_span(starts: Sequence[date], unit: str) -> Span:
    """The days a file covers: from its first period's start to its last period's end."""
    first, last_start = min(starts), max(starts)
    if unit == "week":
        return first, last_start + timedelta(days=6)
    next_month = date(last_start.year + last_start.month // 12, last_start.month % 12 + 1, 1)
    return first, next_month - timedelta(days=1)


def resolve_counts(
    parsed: ParsedCounts, resolver: RegionResolver
) -> tuple[dict[str, list[dict[str, Any]]], list[RowError], Counter[str]]:
    """Rows for the event_counts table per country; unknown admin-1 names and repeated cells
    are errors. Countries without a gazetteer are counted in the third value and left out."""
    by_country: dict[str, list[dict[str, Any]]] = {}
    errors: list[RowError] = []
    seen: dict[tuple[Any, ...], int] = {}
    ignored: Counter[str] = Counter()
    for line, row in parsed.rows:
        gazetteer = resolver.gazetteers.get(row.country)
        if gazetteer is None:
            ignored[row.country] += 1
            continue
        region = gazetteer.code_for_name(row.admin1)
        if region is None:
            errors.append(RowError(line, f"unknown admin-1 name {row.admin1!r} in {row.country}"))
            continue
        key = (row.country, row.period_start, row.admin1, row.event_type, row.sub_event_type)
        if key in seen:
            errors.append(RowError(line, f"the same cell is already on line {seen[key]}"))
            continue
        seen[key] = line
        by_country.setdefault(row.country, []).append(
            {
                "source": parsed.source, "country": row.country, "unit": parsed.unit,
                "period_start": row.period_start, "region": region, "admin1": row.admin1,
                "event_type": row.event_type, "sub_event_type": row.sub_event_type,
                "violent": row.violent, "events": row.events, "fatalities": row.fatalities,
            }
        )  # fmt: skip
    return by_country, errors, ignored


def _cell(row: Any) -> tuple[Any, ...]:
    return tuple(row[k] for k in _KEY)


def replace_counts(
    conn: Connection,
    source: str,
    country: str,
    unit: str,
    span: Span,
    rows: list[dict[str, Any]],
    run_id: int | None,
) -> CountChanges:
    """Replace the stored cells of `span` with `rows`, record the span, and say what changed
    (with no `run_id`, a dry run: only say)."""
    in_span = (
        event_counts.c.source == source,
        event_counts.c.country == country,
        event_counts.c.unit == unit,
        event_counts.c.period_start >= span[0],
        event_counts.c.period_start <= span[1],
    )
    stored = {
        _cell(r): (r["events"], r["fatalities"])
        for r in conn.execute(select(event_counts).where(*in_span)).mappings()
    }
    new = {_cell(r): (r["events"], r["fatalities"]) for r in rows}
    added = [k for k in new if k not in stored]
    changed = [k for k in new if k in stored and stored[k] != new[k]]
    removed = [k for k in stored if k not in new]
    periods = sorted({k[0].isoformat() for k in (*added, *changed, *removed)})
    result = CountChanges(
        len(added), len(changed), len(new) - len(added) - len(changed), len(removed), tuple(periods)
    )
    if run_id is None:
        return result
    conn.execute(delete(event_counts).where(*in_span))
    for start in range(0, len(rows), 1000):
        conn.execute(
            insert(event_counts),
            [{**r, "ingest_run_id": run_id} for r in rows[start : start + 1000]],
        )
    conn.execute(
        insert(coverage_spans).values(
            source=source, country=country, unit=unit, first_day=span[0], last_day=span[1],
            ingest_run_id=run_id,
        )
    )  # fmt: skip
    return result
