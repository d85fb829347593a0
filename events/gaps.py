"""Gaps in a series panel: periods no source covered, which forecasts must not read as quiet.

Training, backtests and issuing refuse an origin whose recent window (a year) has a gap, and
name it.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from events.coverage import describe_runs, runs
from events.periods import YEAR, Frequency, cadence, period_range, shift_period


def missing_periods(panel: pd.DataFrame) -> list[str]:
    """Periods the panel carries as missing (no source covered them)."""
    missing = panel.loc[panel["events"].isna(), "period"]
    return sorted(missing.unique())


def window_gaps(panel: pd.DataFrame, origin: str, freq: Frequency) -> list[str]:
    """Periods of the recent window an origin's forecast reads that the data does not cover:
    missing in the panel, or after its end. (Periods before the data start are short history,
    which the backtest's own history check judges.)"""
    window = YEAR.of(freq)
    first = max(shift_period(origin, -(window - 1), freq), str(panel["period"].min()))
    if first > origin:
        return []
    covered = set(panel.loc[panel["events"].notna(), "period"])
    return [p for p in period_range(first, origin, freq) if p not in covered]


def describe_gap(panel: pd.DataFrame, origin: str, freq: Frequency) -> str:
    """The whole gaps (runs of uncovered periods) that reach into an origin's recent window."""
    last = max(origin, str(panel["period"].max()))
    covered = set(panel.loc[panel["events"].notna(), "period"])
    every = period_range(str(panel["period"].min()), last, freq)
    window = set(window_gaps(panel, origin, freq))
    found = [run for run in runs([p for p in every if p not in covered], freq)
             if any(p in window for p in period_range(run[0], run[1], freq))]  # fmt: skip
    return describe_runs(found)


def check_origins(panel: pd.DataFrame, origins: Sequence[str], freq: Frequency) -> None:
    """Refuse origins whose recent window has missing periods, naming the gap."""
    last = str(panel["period"].max())
    if not missing_periods(panel) and all(origin <= last for origin in origins):
        return
    window = YEAR.of(freq)
    for origin in origins:
        gaps = window_gaps(panel, origin, freq)
        if gaps:
            raise ValueError(
                f"origin {origin}: the data has a gap at {describe_gap(panel, origin, freq)} "
                f"within the {window} {cadence(freq).unit}s it reads (a missing period is not "
                "a quiet one); use origins before or after the gap, or ingest data that covers it"
            )


def last_complete_origin(panel: pd.DataFrame, freq: Frequency) -> str:
    """The newest period whose recent window is fully covered: where forecasts can be made."""
    periods = sorted(panel["period"].unique(), reverse=True)
    for period in periods:
        if (
            not window_gaps(panel, period, freq)
            and panel.loc[panel["period"] == period, "events"].notna().all()
        ):
            return str(period)
    raise ValueError(f"no period has {YEAR.of(freq)} covered {cadence(freq).unit}s before it")
