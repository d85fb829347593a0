"""Periods of a panel: calendar months (YYYY-MM) and ISO weeks (YYYY-Www)."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Literal, get_args

Frequency = Literal["month", "week"]
FREQUENCIES: tuple[str, ...] = get_args(Frequency)

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")


def check_frequency(freq: str) -> Frequency:
    if freq not in FREQUENCIES:
        raise ValueError(f"unknown frequency {freq!r}; use {' or '.join(FREQUENCIES)}")
    return freq  # type: ignore[return-value]


def period_of(day: date, freq: Frequency) -> str:
    """The label of the period containing `day`."""
    if freq == "month":
        return f"{day.year:04d}-{day.month:02d}"
    iso = day.isocalendar()
    return f"{iso.year:04d}-W{iso.week:02d}"


def period_start(label: str, freq: Frequency) -> date:
    """The first day of a period; raises ValueError naming the expected format."""
    pattern, expected = (_MONTH, "YYYY-MM") if freq == "month" else (_WEEK, "YYYY-Www")
    match = pattern.match(label)
    if match is None:
        raise ValueError(f"{label!r} is not a {freq} period; expected {expected}")
    year, number = int(match[1]), int(match[2])
    try:
        if freq == "month":
            return date(year, number, 1)
        return date.fromisocalendar(year, number, 1)
    except ValueError:
        raise ValueError(f"{label!r} is not a valid {freq} ({expected})") from None


def period_end(label: str, freq: Frequency) -> date:
    """The last day of a period."""
    return next_period_start(label, freq) - timedelta(days=1)


def next_period_start(label: str, freq: Frequency) -> date:
    first = period_start(label, freq)
    if freq == "week":
        return first + timedelta(days=7)
    return date(first.year + first.month // 12, first.month % 12 + 1, 1)


def shift_period(label: str, steps: int, freq: Frequency) -> str:
    """The period `steps` periods after `label` (before, for negative steps)."""
    first = period_start(label, freq)
    if freq == "week":
        return period_of(first + timedelta(weeks=steps), freq)
    months = first.year * 12 + first.month - 1 + steps
    return f"{months // 12:04d}-{months % 12 + 1:02d}"


def period_range(first: str, last: str, freq: Frequency) -> list[str]:
    """Every period from `first` to `last`, both included, in order."""
    if period_start(first, freq) > period_start(last, freq):
        raise ValueError(f"period range starts after it ends: {first} > {last}")
    labels, label = [], first
    while label != last:
        labels.append(label)
        label = shift_period(label, 1, freq)
    labels.append(last)
    return labels
