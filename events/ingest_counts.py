"""Loads an aggregated count file into the store: all or nothing, replacing the periods it covers.

Counts are stored as counts (events/tables.event_counts). A newer file of the same source
replaces every stored cell of the periods it covers and reports what changed.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Connection, delete, insert, select

from events.coverage import Span
from events.gazetteer import RegionResolver
from events.sources import RowError
from events.sources.aggregated import ParsedCounts
from events.sources.base import excerpt
from events.tables import coverage_spans, event_counts

log = logging.getLogger(__name__)
_KEY = ("period_start", "admin1", "event_type", "sub_event_type")


@dataclass(frozen=True)
class CountScope:
    """What an aggregated file is authoritative for in one country: its periods, the regions
    and the event types it has rows for (an HDX file: the type its kind declares). Stored
    cells outside it are never removed by the file."""

    span: Span
    regions: frozenset[str]
    event_types: frozenset[str]
    covers_violence: bool = True
    # A file cut short ends inside its last period: there it speaks only for the (region,
    # event type) cells it has.
    last_period: date | None = None
    last_period_cells: frozenset[tuple[str, str]] = frozenset()

    @classmethod
    def of(
        cls, rows: Sequence[dict[str, Any]], unit: str, event_types: frozenset[str]
    ) -> CountScope:
        last = max(r["period_start"] for r in rows)
        return cls(
            native_span([r["period_start"] for r in rows], unit),
            frozenset(r["region"] for r in rows),
            event_types,
            # Only a file with organized-violence rows says that a period's violence is known.
            covers_violence=any(r["violent"] for r in rows),
            last_period=last,
            last_period_cells=frozenset(
                (r["region"], r["event_type"]) for r in rows if r["period_start"] == last
            ),
        )

    def holds(self, period_start: date, region: str, event_type: str) -> bool:
        return period_start != self.last_period or (region, event_type) in self.last_period_cells

    def describe(self) -> str:
        return f"{self.span[0]}..{self.span[1]}, {len(self.regions)} regions, " + ", ".join(
            sorted(self.event_types)
        )


@dataclass(frozen=True)
class CountChanges:
    """How the stored cells in a file's scope compare with the file's."""

    added: int
    changed: int
    unchanged: int
    removed: int
    periods_changed: tuple[str, ...]
    in_scope: Counter[str] = field(default_factory=Counter)
    removed_by_region: Counter[str] = field(default_factory=Counter)
    # The stored cells in scope: what applying the file replaces.
    stored_ids: tuple[int, ...] = ()


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
            errors.append(
                RowError(line, f"unknown admin-1 name {excerpt(row.admin1)} in {row.country}")
            )
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


def compare_counts(
    conn: Connection,
    source: str,
    country: str,
    unit: str,
    scope: CountScope,
    rows: list[dict[str, Any]],
) -> CountChanges:
    """How the stored cells in `scope` compare with the file's `rows`."""
    span = scope.span
    in_span = (
        event_counts.c.source == source,
        event_counts.c.country == country,
        event_counts.c.unit == unit,
        event_counts.c.period_start >= span[0],
        event_counts.c.period_start <= span[1],
        event_counts.c.region.in_(sorted(scope.regions)),
        event_counts.c.event_type.in_(sorted(scope.event_types)),
    )
    stored_rows = [
        r
        for r in conn.execute(select(event_counts).where(*in_span)).mappings()
        if scope.holds(r["period_start"], r["region"], r["event_type"])
    ]
    stored = {_cell(r): (r["events"], r["fatalities"]) for r in stored_rows}
    regions = {_cell(r): r["region"] for r in stored_rows}
    new = {_cell(r): (r["events"], r["fatalities"]) for r in rows}
    added = [k for k in new if k not in stored]
    changed = [k for k in new if k in stored and stored[k] != new[k]]
    removed = [k for k in stored if k not in new]
    periods = sorted({k[0].isoformat() for k in (*added, *changed, *removed)})
    return CountChanges(
        len(added), len(changed), len(new) - len(added) - len(changed), len(removed),
        tuple(periods), Counter(regions.values()), Counter(regions[k] for k in removed),
        tuple(r["id"] for r in stored_rows),
    )  # fmt: skip


def replace_counts(
    conn: Connection,
    source: str,
    country: str,
    unit: str,
    scope: CountScope,
    rows: list[dict[str, Any]],
    changes: CountChanges,
    run_id: int,
) -> None:
    """Replace the stored cells `changes` found in `scope` with `rows`, and record the span."""
    span, ids = scope.span, changes.stored_ids
    for start in range(0, len(ids), 1000):
        conn.execute(delete(event_counts).where(event_counts.c.id.in_(ids[start : start + 1000])))
    for start in range(0, len(rows), 1000):
        conn.execute(
            insert(event_counts),
            [{**r, "ingest_run_id": run_id} for r in rows[start : start + 1000]],
        )
    if scope.covers_violence:
        conn.execute(
            insert(coverage_spans).values(
                source=source, country=country, unit=unit, first_day=span[0], last_day=span[1],
                ingest_run_id=run_id,
            )
        )  # fmt: skip
