"""Periods of a series (calendar months YYYY-MM, ISO weeks YYYY-Www) and the one description of
each frequency that every layer reads: horizons, windows, history and staleness limits."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum


class Frequency(StrEnum):
    MONTH = "month"
    WEEK = "week"


@dataclass(frozen=True)
class FeatureWindows:
    """Trailing window lengths, in periods, of each feature family."""

    count: tuple[int, ...]
    occurrence: tuple[int, ...]
    fatality: tuple[int, ...]
    severe: tuple[int, ...]
    spatial: tuple[int, ...]
    group: tuple[int, ...]


@dataclass(frozen=True)
class Cadence:
    """Everything that differs between monthly and weekly series. Weekly windows span the same
    lengths of time as the monthly ones."""

    freq: Frequency
    unit: str
    label_format: str
    # Forecasts reach this many periods ahead; the promotion gate scores these horizons.
    max_horizon: int
    gate_horizons: tuple[int, ...]
    windows: FeatureWindows
    # "Periods since the last event" stops counting here (ten years).
    since_cap: int
    # The reference models: climatology is the trailing ten years, "recent" the last year.
    climatology_window: int
    recent_window: int
    # The ensemble blends the count mean with the mean count over the last half year: on both
    # 2010-2015 and 2016-2021 backtests it tracked surges and lulls better than a full year's.
    level_window: int
    # The count model learns from the last fifteen years: older eras pull its region levels away.
    count_training_periods: int
    # Origins held out at the end of the training rows to learn weights and calibration.
    validation_periods: int
    # A backtest origin needs this much history for features and held-out calibration.
    min_history_periods: int
    # Input checks: days from the newest event to the cutoff's end that warn / stop training,
    # and the recent window compared against the one before it.
    stale_days: tuple[int, int]
    check_recent_periods: int
    check_before_periods: int


CADENCES: dict[Frequency, Cadence] = {
    Frequency.MONTH: Cadence(
        freq=Frequency.MONTH,
        unit="month",
        label_format="YYYY-MM",
        max_horizon=6,
        gate_horizons=(1, 3, 6),
        windows=FeatureWindows(
            count=(1, 3, 6, 12, 24, 120),
            occurrence=(3, 6, 12, 36, 120),
            fatality=(3, 12),
            severe=(12, 36, 120),
            spatial=(3,),
            group=(12,),
        ),
        since_cap=120,
        climatology_window=120,
        recent_window=12,
        level_window=6,
        count_training_periods=180,
        validation_periods=72,
        min_history_periods=96,
        stale_days=(31, 92),
        check_recent_periods=12,
        check_before_periods=36,
    ),
    Frequency.WEEK: Cadence(
        freq=Frequency.WEEK,
        unit="week",
        label_format="YYYY-Www",
        max_horizon=8,
        gate_horizons=(1, 4, 8),
        windows=FeatureWindows(
            count=(1, 4, 13, 26, 52, 520),
            occurrence=(4, 13, 26, 52, 156, 520),
            fatality=(13, 52),
            severe=(52, 156, 520),
            spatial=(13,),
            group=(52,),
        ),
        since_cap=520,
        climatology_window=520,
        recent_window=52,
        level_window=26,
        count_training_periods=780,
        validation_periods=312,
        min_history_periods=416,
        stale_days=(14, 42),
        check_recent_periods=52,
        check_before_periods=156,
    ),
}
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
