"""Periods of a series (calendar months YYYY-MM, ISO weeks YYYY-Www), each frequency's calendar
facts and horizons, and durations: lengths of time that every frequency counts in its periods."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum


class Frequency(StrEnum):
    MONTH = "month"
    WEEK = "week"


@dataclass(frozen=True)
class Cadence:
    """The calendar facts of a frequency and how far its forecasts reach. Everything else that
    depends on the frequency is a `Duration` its layer declares."""

    freq: Frequency
    unit: str
    label_format: str
    periods_per_year: int
    # Forecasts reach this many periods ahead; the promotion gate scores these horizons.
    max_horizon: int
    gate_horizons: tuple[int, ...]


CADENCES: dict[Frequency, Cadence] = {
    Frequency.MONTH: Cadence(
        freq=Frequency.MONTH,
        unit="month",
        label_format="YYYY-MM",
        periods_per_year=12,
        max_horizon=6,
        gate_horizons=(1, 3, 6),
    ),
    Frequency.WEEK: Cadence(
        freq=Frequency.WEEK,
        unit="week",
        label_format="YYYY-Www",
        periods_per_year=52,
        max_horizon=8,
        gate_horizons=(1, 4, 8),
    ),
}


@dataclass(frozen=True)
class Duration:
    """A length of time, as many periods of each frequency as span it (`months=3` is 3 months
    or 13 weeks); `periods=1` is one period, whatever its length."""

    months: int = 0
    periods: int = 0

    def __post_init__(self) -> None:
        if (self.months > 0) == (self.periods > 0):
            raise ValueError("a duration is a number of months or of periods")

    def of(self, freq: str) -> int:
        """The number of `freq` periods that span it (at least one)."""
        if self.periods:
            return self.periods
        per_year = cadence(freq).periods_per_year
        return max(1, round(self.months * per_year / 12))

    def __str__(self) -> str:
        if self.periods:
            return "one period" if self.periods == 1 else f"{self.periods} periods"
        if self.months % 12 == 0:
            years = self.months // 12
            return f"{years} year" + ("s" if years > 1 else "")
        return f"{self.months} month" + ("s" if self.months > 1 else "")


ONE_PERIOD = Duration(periods=1)
# The window a forecast needs covered before its origin, and the "recent" reference's window.
YEAR = Duration(months=12)


FREQUENCIES: tuple[Frequency, ...] = tuple(Frequency)
# ASCII digits only and nothing after the label (`$` would let a trailing newline through).
_PATTERNS = {
    Frequency.MONTH: re.compile(r"(\d{4})-(\d{2})", re.ASCII),
    Frequency.WEEK: re.compile(r"(\d{4})-W(\d{2})", re.ASCII),
}


def check_frequency(freq: str) -> Frequency:
    try:
        return Frequency(freq)
    except ValueError:
        names = " or ".join(FREQUENCIES)
        raise ValueError(f"unknown frequency {freq!r}; use {names}") from None


def cadence(freq: str) -> Cadence:
    """The description of a frequency; ValueError names the known ones."""
    return CADENCES[check_frequency(freq)]


def period_of(day: date, freq: Frequency) -> str:
    """The label of the period containing `day`."""
    if freq == Frequency.MONTH:
        return f"{day.year:04d}-{day.month:02d}"
    iso = day.isocalendar()
    return f"{iso.year:04d}-W{iso.week:02d}"


def period_start(label: str, freq: Frequency) -> date:
    """The first day of a period; raises ValueError naming the expected format."""
    known = cadence(freq)
    match = _PATTERNS[known.freq].fullmatch(label)
    if match is None:
        raise ValueError(f"{label!r} is not a {known.freq} period; expected {known.label_format}")
    year, number = int(match[1]), int(match[2])
    try:
        if known.freq == Frequency.MONTH:
            return date(year, number, 1)
        return date.fromisocalendar(year, number, 1)
    except ValueError:
        raise ValueError(f"{label!r} is not a valid {known.freq} ({known.label_format})") from None


def period_end(label: str, freq: Frequency) -> date:
    """The last day of a period."""
    return next_period_start(label, freq) - timedelta(days=1)


def next_period_start(label: str, freq: Frequency) -> date:
    first = period_start(label, freq)
    try:
        if freq == Frequency.WEEK:
            return first + timedelta(days=7)
        return date(first.year + first.month // 12, first.month % 12 + 1, 1)
    except (OverflowError, ValueError):
        raise ValueError(f"{label} is at the end of the calendar") from None


def shift_period(label: str, steps: int, freq: Frequency) -> str:
    """The period `steps` periods after `label` (before, for negative steps)."""
    first = period_start(label, freq)
    if freq == Frequency.WEEK:
        try:
            return period_of(first + timedelta(weeks=steps), freq)
        except OverflowError:
            raise ValueError(f"{label} shifted by {steps} leaves the calendar") from None
    months = first.year * 12 + first.month - 1 + steps
    if not 0 < months // 12 <= 9999:
        raise ValueError(f"{label} shifted by {steps} leaves the calendar")
    return f"{months // 12:04d}-{months % 12 + 1:02d}"


def periods_between(first: str, last: str, freq: Frequency) -> int:
    """How many periods `last` lies after `first` (negative when before)."""
    start, end = period_start(first, freq), period_start(last, freq)
    if freq == Frequency.WEEK:
        return (end - start).days // 7
    return (end.year - start.year) * 12 + end.month - start.month


def period_range(first: str, last: str, freq: Frequency, limit: int | None = None) -> list[str]:
    """Every period from `first` to `last`, both included, in order; with `limit`, a longer
    range is refused before any label is made."""
    count = periods_between(first, last, freq) + 1
    if count < 1:
        raise ValueError(f"period range starts after it ends: {first} > {last}")
    if limit is not None and count > limit:
        raise ValueError(f"{first}..{last} spans {count} periods; at most {limit} are allowed")
    return [shift_period(first, step, freq) for step in range(count)]
