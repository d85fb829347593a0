"""Calendar features per period: elections and Hijri observances analysts watch."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from functools import lru_cache

import pandas as pd
from hijridate import Gregorian, ummalqura

from events.periods import Frequency, period_end, period_of, period_start

# Campaign violence builds before a vote and reprisals follow it.
ELECTION_WINDOW_BEFORE_DAYS = 60
ELECTION_WINDOW_AFTER_DAYS = 14
MUHARRAM, RABI_AL_AWWAL, RAMADAN = 1, 3, 9

CALENDAR_COLUMNS = (
    "election",
    "election_window",
    "ashura",
    "muharram_1_10_days",
    "rabi_al_awwal_12",
    "ramadan_days",
)


# The days the Umm al-Qura tables behind the Hijri dates cover.
HIJRI_SUPPORTED = tuple(date(*bound) for bound in ummalqura.GREGORIAN_RANGE)


class OutsideCalendar(ValueError):
    """Periods outside the days the Hijri calendar library covers."""


def check_supported(first: date, last: date) -> None:
    low, high = HIJRI_SUPPORTED
    if first < low or last > high:
        raise OutsideCalendar(
            f"calendar facts are known from {low} to {high} (the Hijri tables' range); "
            f"{first}..{last} is outside it"
        )


@lru_cache(maxsize=65536)
def _hijri_month_day(day: date) -> tuple[int, int]:
    try:
        hijri = Gregorian(day.year, day.month, day.day).to_hijri()
    except OverflowError as exc:
        raise ValueError(f"{day} is outside the Hijri calendar's supported range") from exc
    return hijri.month, hijri.day


def daily_calendar(first: date, last: date, elections: Sequence[date]) -> pd.DataFrame:
    """One row per day with 0/1 flags for each observance."""
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    windows = [
        (
            e - timedelta(days=ELECTION_WINDOW_BEFORE_DAYS),
            e + timedelta(days=ELECTION_WINDOW_AFTER_DAYS),
        )
        for e in elections
    ]
    election_days = set(elections)
    rows = []
    for day in days:
        month, mday = _hijri_month_day(day)
        rows.append(
            (
                day,
                int(day in election_days),
                int(any(lo <= day <= hi for lo, hi in windows)),
                int(month == MUHARRAM and mday == 10),
                int(month == MUHARRAM and mday <= 10),
                int(month == RABI_AL_AWWAL and mday == 12),
                int(month == RAMADAN),
            )
        )
    return pd.DataFrame(rows, columns=["day", *CALENDAR_COLUMNS])


def calendar_features(
    periods: Sequence[str], freq: Frequency, elections: Sequence[date]
) -> pd.DataFrame:
    """Calendar features for each period (flags are 1 if any day qualifies; *_days count days)."""
    return _calendar_features(tuple(periods), freq, tuple(elections)).copy()


@lru_cache(maxsize=64)
def _calendar_features(
    periods: tuple[str, ...], freq: Frequency, elections: tuple[date, ...]
) -> pd.DataFrame:
    # Backtests ask for the same periods at every origin and horizon: compute them once.
    first, last = period_start(periods[0], freq), period_end(periods[-1], freq)
    check_supported(first, last)
    daily = daily_calendar(first, last, elections)
    daily["period"] = [period_of(day, freq) for day in daily["day"]]
    flags = ["election", "election_window", "ashura", "rabi_al_awwal_12"]
    grouped = daily.groupby("period", sort=False)
    features = grouped[flags].max().join(grouped[["muharram_1_10_days", "ramadan_days"]].sum())
    return features.loc[list(periods), list(CALENDAR_COLUMNS)].reset_index()
