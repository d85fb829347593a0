"""Which periods of a series its source covers. A period no ingest covered is missing: panels
carry it as missing, never as a quiet period.

How a span covers a period depends on how the source counts (`unit`):
- single events ("day"): the span covers more than half of the period's days (a file's first and
  last events rarely fall on its edges; give `--covers` to say the span exactly);
- ACLED's weeks, Saturday to Friday ("week"): a month is covered when every week that starts in it
  is, an ISO week when the ACLED week that holds five of its days is;
- months ("month"): a month is covered when the month is; months say nothing of weeks.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import Connection, Engine, select

from events.periods import (
    Frequency,
    next_period_start,
    period_end,
    period_of,
    period_range,
    period_start,
)
from events.series import Series
from events.tables import coverage_spans
from store.db import fetch_all

UNITS = ("day", "week", "month")
Span = tuple[date, date]


def merge_spans(spans: Iterable[Span]) -> list[Span]:
    """Sorted, non-overlapping spans; touching spans are joined."""
    merged: list[Span] = []
    for first, last in sorted(spans):
        if merged and first <= merged[-1][1] + timedelta(days=1):
            merged[-1] = (merged[-1][0], max(merged[-1][1], last))
        else:
            merged.append((first, last))
    return merged


def _covered_days(spans: Sequence[Span], first: date, last: date) -> int:
    return sum(
        max(0, (min(last, b) - max(first, a)).days + 1)
        for a, b in spans
        if a <= last and b >= first
    )


def _holds(spans: Sequence[Span], first: date, last: date) -> bool:
    """Whether one (merged) span holds every day from first to last."""
    return any(a <= first and last <= b for a, b in spans)


def _saturdays(first: date, last: date) -> list[date]:
    day = first + timedelta(days=(5 - first.weekday()) % 7)
    days = []
    while day <= last:
        days.append(day)
        day += timedelta(days=7)
    return days


def period_covered(unit: str, spans: Sequence[Span], label: str, freq: Frequency) -> bool:
    """Whether spans of one unit cover the period `label`."""
    first, last = period_start(label, freq), period_end(label, freq)
    if unit == "day":
        return _covered_days(spans, first, last) * 2 > (last - first).days + 1
    if unit == "week":
        week = timedelta(days=6)
        if freq == Frequency.WEEK:
            return _holds(spans, first - timedelta(days=2), first - timedelta(days=2) + week)
        return all(_holds(spans, sat, sat + week) for sat in _saturdays(first, last))
    if unit == "month":
        return freq == Frequency.MONTH and _holds(spans, first, last)
    raise ValueError(f"unknown coverage unit {unit!r}; known: {', '.join(UNITS)}")


@dataclass(frozen=True)
class Coverage:
    """A series' covered periods, in order, and the gaps between its first and last."""

    series: Series
    spans: dict[str, list[Span]]
    periods: tuple[str, ...]

    @property
    def first(self) -> str | None:
        return self.periods[0] if self.periods else None

    @property
    def last(self) -> str | None:
        return self.periods[-1] if self.periods else None

    def covers(self, label: str) -> bool:
        return label in self._set

    @property
    def _set(self) -> frozenset[str]:
        return frozenset(self.periods)

    def missing(self, first: str, last: str) -> list[str]:
        """Periods from first to last that are not covered."""
        covered = self._set
        return [p for p in period_range(first, last, self.series.freq) if p not in covered]

    def gaps(self) -> list[tuple[str, str]]:
        """Runs of missing periods between the first and the last covered one."""
        if not self.periods:
            return []
        return runs(self.missing(self.periods[0], self.periods[-1]), self.series.freq)

    def until(self, last: str) -> Coverage:
        return Coverage(self.series, self.spans, tuple(p for p in self.periods if p <= last))


def runs(periods: Sequence[str], freq: Frequency) -> list[tuple[str, str]]:
    """Consecutive periods grouped as (first, last) runs."""
    found: list[tuple[str, str]] = []
    for label in periods:
        if found and next_period_start(found[-1][1], freq) == period_start(label, freq):
            found[-1] = (found[-1][0], label)
        else:
            found.append((label, label))
    return found


def describe_runs(found: Sequence[tuple[str, str]]) -> str:
    return ", ".join(a if a == b else f"{a}..{b}" for a, b in found)


def coverage_from_spans(series: Series, spans: dict[str, list[Span]]) -> Coverage:
    merged = {unit: merge_spans(listed) for unit, listed in spans.items() if listed}
    if not merged:
        return Coverage(series, {}, ())
    first = min(s[0][0] for s in merged.values())
    last = max(s[-1][1] for s in merged.values())
    candidates = period_range(
        period_of(first, series.freq), period_of(last, series.freq), series.freq
    )
    periods = tuple(
        p
        for p in candidates
        if any(period_covered(unit, listed, p, series.freq) for unit, listed in merged.items())
    )
    return Coverage(series, merged, periods)


def load_spans(bind: Engine | Connection, source: str, country: str) -> dict[str, list[Span]]:
    query = select(
        coverage_spans.c.unit, coverage_spans.c.first_day, coverage_spans.c.last_day
    ).where(coverage_spans.c.source == source, coverage_spans.c.country == country)
    spans: dict[str, list[Span]] = {}
    for unit, first, last in fetch_all(bind, query):
        spans.setdefault(unit, []).append((first, last))
    return spans


def series_coverage(
    bind: Engine | Connection, series: Series, as_of: date | None = None
) -> Coverage:
    """The series' coverage from every ingest of its source (only up to `as_of` when given)."""
    spans = load_spans(bind, series.source, series.country)
    if as_of is not None:
        spans = {
            unit: [(a, min(b, as_of)) for a, b in listed if a <= as_of]
            for unit, listed in spans.items()
        }
    return coverage_from_spans(series, spans)


def stored_series(bind: Engine) -> list[tuple[str, str]]:
    """(source, country) pairs that have coverage."""
    with bind.connect() as conn:
        rows = conn.execute(
            select(coverage_spans.c.source, coverage_spans.c.country).distinct()
        ).all()
    return sorted((str(a), str(b)) for a, b in rows)
