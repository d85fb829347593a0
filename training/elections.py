"""The election slice of a backtest: forecasts whose target period lies within eight weeks of a
general election, scored on their own (the weeks an analyst around an election works in)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

import pandas as pd

from events.periods import check_frequency, period_end, period_start
from training.metrics import score_backtest

WITHIN = timedelta(weeks=8)


def near_elections(periods: pd.Series, freq: str, elections: Sequence[date]) -> pd.Series:
    """Per target period, the election it lies within WITHIN of (None for none): a period is
    near when any of its days is."""
    frequency = check_frequency(freq)
    labels: dict[str, date | None] = {label: None for label in periods.unique()}
    for label in labels:
        first, last = period_start(label, frequency), period_end(label, frequency)
        labels[label] = next(
            (day for day in elections if first - WITHIN <= day <= last + WITHIN), None
        )
    return periods.map(labels)


def election_metrics(
    scored: pd.DataFrame, freq: str, elections: Sequence[date], severe_threshold: int = 25
) -> pd.DataFrame:
    """Metrics per model and horizon over the forecasts near each election of the window, and
    over all of them ("all"); empty when no target period is near one."""
    if scored.empty or not elections:
        return pd.DataFrame()
    near = near_elections(scored["period"], freq, elections)
    sliced = scored.assign(election=near).dropna(subset=["election"])
    if sliced.empty:
        return pd.DataFrame()
    parts = [
        score_backtest(part, severe_threshold=severe_threshold).assign(election=str(day))
        for day, part in sliced.groupby("election", sort=True)
    ]
    if len(parts) > 1:
        parts.append(
            score_backtest(sliced, severe_threshold=severe_threshold).assign(election="all")
        )
    return pd.concat(parts, ignore_index=True)
