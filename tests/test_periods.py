"""Month and ISO-week periods: labels, arithmetic and clear errors."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from events.periods import (
    check_frequency,
    period_end,
    period_of,
    period_range,
    period_start,
    shift_period,
)

days = st.dates(min_value=date(1950, 1, 1), max_value=date(2090, 12, 31))
freqs = st.sampled_from(["month", "week"])


@given(day=days, freq=freqs)
def test_a_day_lies_within_its_period(day: date, freq: str) -> None:
    label = period_of(day, freq)  # type: ignore[arg-type]
    assert period_start(label, freq) <= day <= period_end(label, freq)  # type: ignore[arg-type]


@given(day=days, freq=freqs, steps=st.integers(-500, 500))
def test_shifting_there_and_back_is_identity(day: date, freq: str, steps: int) -> None:
    label = period_of(day, freq)  # type: ignore[arg-type]
    assert shift_period(shift_period(label, steps, freq), -steps, freq) == label  # type: ignore[arg-type]


@given(day=days, freq=freqs)
def test_consecutive_periods_tile_the_calendar(day: date, freq: str) -> None:
    label = period_of(day, freq)  # type: ignore[arg-type]
    following = shift_period(label, 1, freq)  # type: ignore[arg-type]
    assert period_start(following, freq) == period_end(label, freq) + timedelta(days=1)  # type: ignore[arg-type]


def test_iso_weeks_cross_year_boundaries() -> None:
    assert period_of(date(2024, 12, 30), "week") == "2025-W01"
    assert period_of(date(2021, 1, 3), "week") == "2020-W53"
    assert period_range("2020-W52", "2021-W02", "week") == [
        "2020-W52",
        "2020-W53",
        "2021-W01",
        "2021-W02",
    ]
    assert period_of(date(2024, 2, 8), "week") == "2024-W06"


def test_period_range_is_inclusive_and_ordered() -> None:
    assert period_range("2023-11", "2024-02", "month") == [
        "2023-11",
        "2023-12",
        "2024-01",
        "2024-02",
    ]
    with pytest.raises(ValueError, match="starts after it ends"):
        period_range("2024-02", "2023-11", "month")


@pytest.mark.parametrize(
    ("label", "freq", "message"),
    [
        ("2024-13", "month", "not a valid month"),
        ("2024-1", "month", "expected YYYY-MM"),
        ("2024-W54", "week", "not a valid week"),
        ("2024-02", "week", "expected YYYY-Www"),
    ],
)
def test_malformed_periods_say_what_is_expected(label: str, freq: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        period_start(label, freq)  # type: ignore[arg-type]


def test_unknown_frequency_is_refused() -> None:
    with pytest.raises(ValueError, match="use month or week"):
        check_frequency("day")
