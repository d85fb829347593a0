"""The feature families, each declared once: its columns, the words analysts read for them, the
windows it is computed over (as durations), and its computation.

Adding a family is one entry in FAMILIES; the spec saved in an artifact records the windows in
periods, so serving rebuilds exactly what training saw.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import cast

import numpy as np
import pandas as pd

from events.cross_border import ACROSS_COLUMN
from events.periods import ONE_PERIOD, Duration


@dataclass(frozen=True)
class Inputs:
    """The panel as wide frames (period x region), missing periods NaN."""

    panel: pd.DataFrame
    events: pd.DataFrame
    fatalities: pd.DataFrame
    occurred: pd.DataFrame
    severe: pd.DataFrame
    groups: tuple[str, ...]
    neighbours: Mapping[str, tuple[str, ...]]
    # Below the first level: each unit's region (none at the first level).
    parents: Mapping[str, str]


# One window's columns: name -> values (period x region).
Compute = Callable[[Inputs, int], Mapping[str, pd.DataFrame]]


@dataclass(frozen=True)
class FeatureFamily:
    name: str
    windows: tuple[Duration, ...]
    compute: Compute
    # Column pattern -> the words analysts read ({w}: the window, {group}: an actor group).
    labels: Mapping[str, str]


def _log1p(frame: pd.DataFrame) -> pd.DataFrame:
    return cast(pd.DataFrame, np.log1p(frame))


def _mean(frame: pd.DataFrame, w: int) -> pd.DataFrame:
    return frame.rolling(w, min_periods=1).mean()


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


def _wide(panel: pd.DataFrame, column: str) -> pd.DataFrame:
    return panel.pivot(index="period", columns="region", values=column).sort_index().astype(float)


def _groups(inputs: Inputs, w: int) -> dict[str, pd.DataFrame]:
    return {
        f"log_{group}_events_{w}": _log1p(_trailing_sum(_wide(inputs.panel, f"events_{group}"), w))
        for group in inputs.groups
    }


def _neighbours(inputs: Inputs, w: int) -> dict[str, pd.DataFrame]:
    recent = _log1p(_mean(inputs.events, w))
    neighbours = inputs.neighbours
    values = {
        region: recent[list(neighbours.get(region, ()))].mean(axis=1)
        if neighbours.get(region)
        else 0.0
        for region in inputs.events.columns
    }
    return {f"neighbours_log_events_mean_{w}": pd.DataFrame(values, index=inputs.events.index)}


def _enclosing(inputs: Inputs, w: int) -> dict[str, pd.DataFrame]:
    """Below the first level: the recent events of each unit's whole region and of the whole
    country (its own included), where the data cover the window."""
    if not inputs.parents:
        return {}
    recent = _mean(inputs.events, w)
    parents = [inputs.parents.get(unit, unit) for unit in recent.columns]
    regions = recent.T.groupby(parents).sum(min_count=1).T
    enclosing = regions[parents].set_axis(recent.columns, axis=1)
    country = recent.sum(axis=1, min_count=1)
    whole = pd.DataFrame({unit: country for unit in recent.columns}, index=recent.index)
    return {
        f"parent_log_events_mean_{w}": _log1p(enclosing),
        f"country_log_events_mean_{w}": _log1p(whole),
    }


def _across(inputs: Inputs, w: int) -> dict[str, pd.DataFrame]:
    """Events across the border: a covered period's mean over the window; NaN where the other
    country's data cover none of it (never read as quiet)."""
    if ACROSS_COLUMN in inputs.panel.columns:
        across = _wide(inputs.panel, ACROSS_COLUMN)
    else:
        across = inputs.events * np.nan
    return {f"across_log_events_mean_{w}": _log1p(_mean(across, w))}


M = Duration
FAMILIES: tuple[FeatureFamily, ...] = (
    FeatureFamily(
        "count",
        (ONE_PERIOD, M(1), M(3), M(6), M(12), M(24), M(120)),
        lambda i, w: {f"log_events_mean_{w}": _log1p(_mean(i.events, w))},
        {"log_events_mean_{w}": "events per period over the last {w}"},
    ),
    FeatureFamily(
        "occurrence",
        (M(3), M(6), M(12), M(36), M(120)),
        lambda i, w: {f"share_with_events_{w}": _mean(i.occurred, w)},
        {"share_with_events_{w}": "share of periods with events over the last {w}"},
    ),
    FeatureFamily(
        "fatality",
        (M(3), M(12)),
        lambda i, w: {f"log_fatalities_mean_{w}": _log1p(_mean(i.fatalities, w))},
        {"log_fatalities_mean_{w}": "fatalities per period over the last {w}"},
    ),
    FeatureFamily(
        "severe",
        (M(12), M(36), M(120)),
        lambda i, w: {f"share_severe_{w}": _mean(i.severe, w)},
        {"share_severe_{w}": "share of severe periods over the last {w}"},
    ),
    # Time since the last event and the last severe period, counted up to the window.
    FeatureFamily(
        "since",
        (M(120),),
        lambda i, w: {
            "log_periods_since_event": _log1p(_periods_since(i.occurred, w)),
            "log_periods_since_severe": _log1p(_periods_since(i.severe, w)),
        },
        {
            "log_periods_since_event": "time since the last event",
            "log_periods_since_severe": "time since the last severe period",
        },
    ),
    FeatureFamily(
        "group", (M(12),), _groups, {"log_{group}_events_{w}": "{GROUP} events over the last {w}"}
    ),
    FeatureFamily(
        "spatial",
        (M(3),),
        _neighbours,
        {"neighbours_log_events_mean_{w}": "events in neighbouring regions over the last {w}"},
    ),
    FeatureFamily(
        "enclosing",
        (M(3), M(12)),
        _enclosing,
        {
            "parent_log_events_mean_{w}": "events in the unit's whole region over the last {w}",
            "country_log_events_mean_{w}": "events in the whole country over the last {w}",
        },
    ),
    # Off unless a spec asks for it (OPTIONAL): the data to judge it on are not shipped.
    FeatureFamily(
        "across",
        (ONE_PERIOD, M(3), M(12)),
        _across,
        {
            "across_log_events_mean_{w}": "events across the border over the last {w}",
            "across_log_events_mean_{w}_known": "whether data cover the last {w} across the border",
        },
    ),
)
# Families a spec has only when asked for.
OPTIONAL = frozenset({"across", "enclosing"})
# Column pattern -> words, with the pattern as a regular expression.
_LABELS = [
    (
        re.compile(pattern.replace("{w}", r"(?P<w>\d+)").replace("{group}", r"(?P<group>[a-z]+)")),
        words,
    )
    for family in FAMILIES
    for pattern, words in family.labels.items()
]


def label(name: str, unit: str) -> str | None:
    """The words for a feature column (`unit`: "month", "week"), or None if no family makes it."""
    for pattern, words in _LABELS:
        found = pattern.fullmatch(name)
        if found is None:
            continue
        values = found.groupdict()
        window = values.get("w")
        span = (f"{window} {unit}s" if window != "1" else unit) if window else ""
        group = values.get("group") or ""
        return words.format(w=span, GROUP=group.upper())
    return None


def family_windows(freq: str, optional: frozenset[str] = frozenset()) -> dict[str, tuple[int, ...]]:
    """Each family's windows in periods of `freq` (durations that round to the same number of
    periods are one window); of the OPTIONAL families, only those in `optional`."""
    return {
        family.name: tuple(dict.fromkeys(window.of(freq) for window in family.windows))
        for family in FAMILIES
        if family.name not in OPTIONAL or family.name in optional
    }


def wide_inputs(
    panel: pd.DataFrame,
    severe_threshold: int,
    groups: tuple[str, ...],
    neighbours: Mapping[str, tuple[str, ...]],
    parents: Mapping[str, str],
) -> Inputs:
    events = _wide(panel, "events")
    fatalities = _wide(panel, "fatalities")
    return Inputs(
        panel,
        events,
        fatalities,
        _flag(events, events > 0),
        _flag(fatalities, fatalities >= severe_threshold),
        groups,
        neighbours,
        parents,
    )


def _flag(values: pd.DataFrame, condition: pd.DataFrame) -> pd.DataFrame:
    """1.0 / 0.0 where the value is known, NaN where the period is missing."""
    return condition.astype(float).where(values.notna())
