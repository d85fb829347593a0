"""Declarative features: a spec saved with each model, so serving rebuilds what training saw."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import MISSING, dataclass, field, fields, replace
from datetime import date
from typing import Any, cast

import pandas as pd

from events.calendar import calendar_features
from events.gazetteer import Gazetteer
from events.levels import FIRST_LEVEL
from events.periods import (
    YEAR,
    Duration,
    Frequency,
    cadence,
    period_of,
    period_range,
    period_start,
    shift_period,
)
from features.families import FAMILIES, family_windows, label, wide_inputs

DECADE = Duration(months=120)


@dataclass(frozen=True)
class FeatureSpec:
    """Which features to compute from a panel, and the facts they need (saved in artifacts):
    every window in periods, as training used them."""

    freq: Frequency
    # Family name (features.families) -> its windows in periods.
    windows: Mapping[str, tuple[int, ...]]
    # The reference methods' windows: the recent share (a year) and climatology (ten years).
    recent_window: int
    climatology_window: int
    severe_threshold: int = 25
    groups: tuple[str, ...] = ()
    # The target period's calendar columns (events.calendar) the models take: none by default.
    # The election window, Ramadan and Ashura helped on no more than two of the three UCDP
    # windows (docs/model.md, "Calendar inputs"); saved specs keep the calendar they had.
    calendar: tuple[str, ...] = ()
    elections: tuple[date, ...] = ()
    neighbours: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # Below the first level: each unit's region (district -> province).
    parents: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def default(
        cls,
        freq: Frequency,
        *,
        elections: Sequence[date] = (),
        neighbours: Mapping[str, Sequence[str]] | None = None,
        severe_threshold: int = 25,
        optional: frozenset[str] = frozenset(),
    ) -> FeatureSpec:
        freq = cadence(freq).freq
        return cls(
            freq=freq,
            windows=family_windows(freq, optional),
            recent_window=YEAR.of(freq),
            climatology_window=DECADE.of(freq),
            severe_threshold=severe_threshold,
            elections=tuple(elections),
            neighbours={k: tuple(v) for k, v in (neighbours or {}).items()},
        )

    def window(self, family: str) -> tuple[int, ...]:
        return self.windows.get(family, ())

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Specs saved before the windows were one mapping: each family's windows, and the
        reference windows of their frequency (12 and 120 months, 52 and 520 weeks); specs saved
        before a field with a default existed: that default."""
        state = dict(state)
        if "windows" not in state:
            names = ("count", "occurrence", "fatality", "severe", "spatial", "group")
            windows = {name: tuple(state.pop(f"{name}_windows")) for name in names}
            windows["since"] = (int(state.pop("since_cap")),)
            state["windows"] = windows
            state.setdefault("recent_window", YEAR.of(state["freq"]))
            state.setdefault("climatology_window", DECADE.of(state["freq"]))
        # Fields added since a spec was saved take their defaults (`parents`: none).
        for known in fields(self):
            if known.name in state:
                continue
            if known.default is not MISSING:
                state[known.name] = known.default
            elif known.default_factory is not MISSING:
                state[known.name] = known.default_factory()
        for key, value in state.items():
            object.__setattr__(self, key, value)


def default_spec(
    gazetteer: Gazetteer,
    freq: Frequency,
    severe_threshold: int = 25,
    groups: Sequence[str] | None = None,
    cross_border: bool = False,
    level: str = FIRST_LEVEL,
) -> FeatureSpec:
    """The default spec for one country: its elections, its regions' neighbours and the actor
    groups it tracks (or `groups`: none for sources that name no actors); with `cross_border`,
    the events across its borders too. At `level` adm2, neighbours are districts (a province's
    remainder has none)."""
    spec = FeatureSpec.default(
        freq,
        elections=gazetteer.elections,
        neighbours=gazetteer.neighbours()
        if level == FIRST_LEVEL
        else gazetteer.levels[level].neighbours(),
        severe_threshold=severe_threshold,
        optional=frozenset({"across"}) if cross_border else frozenset(),
    )
    tracked = tuple(gazetteer.actors.tracked if groups is None else groups)
    parents = {} if level == FIRST_LEVEL else gazetteer.unit_parents(level)
    return replace(spec, groups=tracked, parents=parents)


def build_features(panel: pd.DataFrame, spec: FeatureSpec) -> pd.DataFrame:
    """Features for every (region, period), each using only that period and earlier ones.

    Trailing means are over the covered periods of each window: a missing period (NaN in the
    panel) is left out, never read as a quiet one.
    """
    inputs = wide_inputs(panel, spec.severe_threshold, spec.groups, spec.neighbours, spec.parents)
    columns: dict[str, Any] = {}
    for family in FAMILIES:
        for w in spec.window(family.name):
            columns.update(family.compute(inputs, w))
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


_FIXED_LABELS = {
    "target_election_window": "election window",
    "target_ramadan_days": "Ramadan",
    "target_ashura": "Ashura",
}


def feature_label(name: str, freq: Frequency) -> str:
    """Words an analyst understands for a feature column."""
    if name in _FIXED_LABELS:
        return _FIXED_LABELS[name]
    if name.startswith("region_"):
        return f"{name.removeprefix('region_')} baseline"
    return label(name, cadence(freq).unit) or name.replace("_", " ")
