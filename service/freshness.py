"""How old the served data is: the end of the last period an issue used, its age, and whether
that is past the staleness limit. An early warning built on old data must say so plainly."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from events.coverage import Coverage
from events.periods import Frequency, period_end
from training.issued import Issue


@dataclass(frozen=True)
class Freshness:
    data_cutoff: str
    covered_until: date
    age_days: int
    stale: bool

    def describe(self, limit_days: int) -> str:
        months = self.age_days // 30
        if not self.stale:
            return f"fresh: data to {self.data_cutoff} ({self.age_days} days old)"
        return (
            f"stale: data end {self.data_cutoff}, {self.age_days} days ago (about {months} months;"
            f" the limit is {limit_days} days): bring newer data (`threatcast ingest`, then "
            "`threatcast retrain`)"
        )


def today() -> date:
    return datetime.now(UTC).date()


def freshness(issue: Issue, limit_days: int, on: date | None = None) -> Freshness:
    """The issue's data age on `on` (today) against `limit_days` past the end of its last
    covered period."""
    until = period_end(issue.origin, Frequency(issue.freq))
    age = ((on or today()) - until).days
    return Freshness(issue.origin, until, age, age > limit_days)


def coverage_freshness(coverage: Coverage, limit_days: int, on: date | None = None) -> Freshness:
    """How old a series' data is: the end of its newest covered period, against the limit."""
    assert coverage.last is not None  # only series with covered periods are listed
    until = period_end(coverage.last, coverage.series.freq)
    age = ((on or today()) - until).days
    return Freshness(coverage.last, until, age, age > limit_days)
