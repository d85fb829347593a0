"""Declarative features: a spec saved with each model, so serving rebuilds what training saw."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any, cast

import numpy as np
import pandas as pd

from events.actors import TRACKED_GROUPS
from events.calendar import calendar_features
from events.gazetteer import Gazetteer
from events.periods import Frequency, cadence, period_of, period_range, period_start, shift_period


@dataclass(frozen=True)
class FeatureSpec:
    """Which features to compute from a panel, and the facts they need (saved in artifacts)."""

    freq: Frequency
    count_windows: tuple[int, ...]
    occurrence_windows: tuple[int, ...]
    fatality_windows: tuple[int, ...]
    severe_windows: tuple[int, ...]
    spatial_windows: tuple[int, ...]
    group_windows: tuple[int, ...]
    since_cap: int
    severe_threshold: int = 25
    groups: tuple[str, ...] = TRACKED_GROUPS
    calendar: tuple[str, ...] = ("election_window", "ramadan_days", "ashura")
    elections: tuple[date, ...] = ()
    neighbours: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def default(
        cls,
        freq: Frequency,
        *,
        elections: Sequence[date] = (),
        neighbours: Mapping[str, Sequence[str]] | None = None,
        severe_threshold: int = 25,
    ) -> FeatureSpec:
        known = cadence(freq)
        windows = known.windows
        return cls(
            freq=known.freq,
            count_windows=windows.count,
            occurrence_windows=windows.occurrence,
            fatality_windows=windows.fatality,
            severe_windows=windows.severe,
            spatial_windows=windows.spatial,
            group_windows=windows.group,
            since_cap=known.since_cap,
            severe_threshold=severe_threshold,
            elections=tuple(elections),
            neighbours={k: tuple(v) for k, v in (neighbours or {}).items()},
        )

    @property
    def climatology_window(self) -> int:
        return cadence(self.freq).climatology_window

    @property
    def recent_window(self) -> int:
        return cadence(self.freq).recent_window


def default_spec(
    gazetteer: Gazetteer,
    freq: Frequency,
    severe_threshold: int = 25,
    groups: Sequence[str] | None = None,
) -> FeatureSpec:
    """The default spec for one country: its elections and its regions' neighbours (and, with
    `groups`, other actor groups than the default; none for sources that name no actors)."""
    spec = FeatureSpec.default(
        freq,
        elections=gazetteer.elections,
        neighbours=gazetteer.neighbours(),
        severe_threshold=severe_threshold,
    )
    return spec if groups is None else replace(spec, groups=tuple(groups))


def _wide(panel: pd.DataFrame, column: str) -> pd.DataFrame:
    return panel.pivot(index="period", columns="region", values=column).sort_index().astype(float)


def _periods_since(occurred: pd.DataFrame, cap: int) -> pd.DataFrame:
    """Periods since the last True at or before each period (cap when never). Across a missing
    period (NaN) nothing is known: the count restarts after it, as far as the data can see."""
    values = occurred.to_numpy(dtype=float)
    position = np.arange(len(occurred), dtype=float)[:, None]
    last = pd.DataFrame(np.where(values == 1.0, position, np.nan)).ffill().to_numpy()
    gap = pd.DataFrame(np.where(np.isnan(values), position, np.nan)).ffill().to_numpy()
    last = np.where(np.isnan(gap) | (last >= gap), last, np.nan)
    since = np.where(np.isnan(last), cap, np.minimum(position - last, cap))
    since = np.where(np.isnan(last) & ~np.isnan(gap), np.minimum(position - gap, cap), since)
    return pd.DataFrame(since, index=occurred.index, columns=occurred.columns)


def _trailing_sum(frame: pd.DataFrame, window: int) -> pd.DataFrame:
    """The trailing sum; where periods in the window are missing, the covered periods' mean
    scaled to the window (a missing period is never read as a quiet one)."""
    rolling = frame.rolling(window, min_periods=1)
    total = rolling.sum()
    seen = frame.notna().astype(float).rolling(window, min_periods=1).sum()
    span = pd.DataFrame(
        np.minimum(np.arange(1, len(frame) + 1), window)[:, None].repeat(frame.shape[1], axis=1),
        index=frame.index,
        columns=frame.columns,
    )
    scaled = (total / seen * span).where(seen > 0)
    return total.where(seen == span, scaled)


def _flag(values: pd.DataFrame, condition: pd.DataFrame) -> pd.DataFrame:
    """1.0 / 0.0 where the value is known, NaN where the period is missing."""
    return condition.astype(float).where(values.notna())


def build_features(panel: pd.DataFrame, spec: FeatureSpec) -> pd.DataFrame:
    """Features for every (region, period), each using only that period and earlier ones.

    Trailing means are over the covered periods of each window: a missing period (NaN in the
    panel) is left out, never read as a quiet one.
    """
    events = _wide(panel, "events")
    fatalities = _wide(panel, "fatalities")
    occurred = _flag(events, events > 0)
    severe = _flag(fatalities, fatalities >= spec.severe_threshold)
    columns: dict[str, Any] = {}
    for w in spec.count_windows:
        columns[f"log_events_mean_{w}"] = np.log1p(events.rolling(w, min_periods=1).mean())
    for w in spec.occurrence_windows:
        columns[f"share_with_events_{w}"] = occurred.rolling(w, min_periods=1).mean()
    for w in spec.fatality_windows:
        columns[f"log_fatalities_mean_{w}"] = np.log1p(fatalities.rolling(w, min_periods=1).mean())
    for w in spec.severe_windows:
        columns[f"share_severe_{w}"] = severe.rolling(w, min_periods=1).mean()
    columns["log_periods_since_event"] = np.log1p(_periods_since(occurred, spec.since_cap))
    columns["log_periods_since_severe"] = np.log1p(_periods_since(severe, spec.since_cap))
    for w in spec.group_windows:
        for group in spec.groups:
            group_events = _wide(panel, f"events_{group}")
            columns[f"log_{group}_events_{w}"] = np.log1p(_trailing_sum(group_events, w))
    for w in spec.spatial_windows:
        recent = np.log1p(events.rolling(w, min_periods=1).mean())
        columns[f"neighbours_log_events_mean_{w}"] = pd.DataFrame(
            {
                region: recent[list(spec.neighbours.get(region, ()))].mean(axis=1)
                if spec.neighbours.get(region)
                else 0.0
                for region in events.columns
            },
            index=events.index,
        )
    stacked = {name: frame.stack() for name, frame in columns.items()}
    features = pd.DataFrame(stacked)
    features.index = cast(pd.MultiIndex, features.index).swaplevel().set_names(["region", "period"])
    return features.sort_index()


def target_calendar(periods: Sequence[str], horizon: int, spec: FeatureSpec) -> pd.DataFrame:
    """Calendar features of each period's target (period + horizon), indexed by origin period."""
    targets = [shift_period(p, horizon, spec.freq) for p in periods]
    # A period's calendar facts do not depend on the range asked for; asking through the end of
    # the next year lets a backtest's origins share one cached computation.
    last = period_start(max(targets), spec.freq)
    through = period_of(date(last.year + 1, 12, 28), spec.freq)
    span = period_range(min(targets), through, spec.freq)
    calendar = calendar_features(span, spec.freq, spec.elections).set_index("period")
    values = calendar.loc[targets, list(spec.calendar)]
    values.index = pd.Index(list(periods), name="period")
    return values.add_prefix("target_")


_LABEL_PATTERNS = {
    "log_events_mean_": "events per period over the last {w}",
    "share_with_events_": "share of periods with events over the last {w}",
    "log_fatalities_mean_": "fatalities per period over the last {w}",
    "share_severe_": "share of severe periods over the last {w}",
    "neighbours_log_events_mean_": "events in neighbouring regions over the last {w}",
}
_FIXED_LABELS = {
    "log_periods_since_event": "time since the last event",
    "log_periods_since_severe": "time since the last severe period",
    "target_election_window": "election window",
    "target_ramadan_days": "Ramadan",
    "target_ashura": "Ashura",
}


def feature_label(name: str, freq: Frequency) -> str:
    """Words an analyst understands for a feature column."""
    unit = f"{cadence(freq).unit}s"
    if name in _FIXED_LABELS:
        return _FIXED_LABELS[name]
    if name.startswith("region_"):
        return f"{name.removeprefix('region_')} baseline"
    for prefix, template in _LABEL_PATTERNS.items():
        if name.startswith(prefix):
            window = name.removeprefix(prefix)
            return template.format(w=f"{window} {unit}" if window != "1" else unit[:-1])
    if name.startswith("log_") and "_events_" in name:
        group, window = name.removeprefix("log_").split("_events_")
        return f"{group.upper()} events over the last {window} {unit}"
    return name.replace("_", " ")
