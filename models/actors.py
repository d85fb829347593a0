"""Per-actor forecasts: the all-actor count law thinned by each group's share of events.

Every event belongs to one actor group, so a group's count is the all-actor count thinned by
the group's share: given N events, the group's are Binomial(N, share). Coherence then holds by
construction: the groups' expected counts and the rest's add up to the total, and P(at least
one of the group's) = 1 - E[(1 - share)^N] never exceeds P(at least one event).
"""

from __future__ import annotations

from typing import Self

import numpy as np
import pandas as pd

from models.grouping import RegionIndex
from models.laws import CountLaw

# The region's long-run share counts as this many recent events: a group seen in none of the
# last 12 periods keeps part of its long-run share, one seen often mostly follows recent months.
SHARE_PRIOR_EVENTS = 6.0


class ActorShares:
    """Each row's share of events per tracked group: the last `window` periods' group events over
    all events, shrunk toward the region's long-run share (and that toward the pooled one)."""

    # Long-run shares are read over the last this many periods (ten years); models saved before
    # it was set read 120.
    long_run_periods = 120

    def __init__(self, groups: tuple[str, ...], window: int, long_run_periods: int) -> None:
        self.groups = groups
        self.window = window
        self.long_run_periods = long_run_periods
        self.long_run: dict[str, dict[str, float]] = {}
        self.pooled: dict[str, float] = {}

    def _counts(self, X: pd.DataFrame) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        total = self.window * np.expm1(X[f"log_events_mean_{self.window}"].to_numpy(dtype=float))
        groups = {
            g: np.expm1(X[f"log_{g}_events_{self.window}"].to_numpy(dtype=float))
            for g in self.groups
        }
        return np.nan_to_num(total), {g: np.nan_to_num(v) for g, v in groups.items()}

    def fit(self, X: pd.DataFrame) -> Self:
        regions = X.index.get_level_values("region").to_numpy()
        periods = X.index.get_level_values("period").to_numpy()
        # Periods are ISO strings that sort in time order: the last N distinct ones by a cut.
        recent = periods >= np.unique(periods)[-self.long_run_periods :][0]
        total, groups = self._counts(X)
        all_events = max(float(total[recent].sum()), 1e-9)
        self.pooled = {g: float(groups[g][recent].sum()) / all_events for g in self.groups}
        index = RegionIndex(regions)
        events = index.sums(total, recent)
        mine = {g: index.sums(groups[g], recent) for g in self.groups}
        for i, region in enumerate(index.names):
            self.long_run[str(region)] = {
                g: (float(mine[g][i]) + SHARE_PRIOR_EVENTS * self.pooled[g])
                / (float(events[i]) + SHARE_PRIOR_EVENTS)
                for g in self.groups
            }
        return self

    def shares(self, X: pd.DataFrame) -> dict[str, np.ndarray]:
        regions = X.index.get_level_values("region")
        total, groups = self._counts(X)
        shares = {}
        for g in self.groups:
            prior = (
                pd.Series(regions)
                .map({r: s[g] for r, s in self.long_run.items()})
                .fillna(self.pooled.get(g, 0.0))
                .to_numpy(dtype=float)
            )
            shares[g] = (groups[g] + SHARE_PRIOR_EVENTS * prior) / (total + SHARE_PRIOR_EVENTS)
        # The groups' shares of one region never add up to more than all events.
        stacked = np.vstack([shares[g] for g in self.groups])
        excess = np.maximum(stacked.sum(axis=0), 1.0)
        return {g: np.clip(shares[g] / excess, 0.0, 1.0) for g in self.groups}


def group_forecast(
    law: CountLaw, share: float, expected_events: float, p_event: float
) -> dict[str, float]:
    """A group's forecast from the all-actor count law ({"pmf", "tail"}) thinned by its share:
    P(at least one of its events) = 1 - E[(1 - share)^N] (never above the all-actor `p_event`,
    rounding included) and its mean, share x the all-actor mean (so the groups and the rest add
    up). The unlisted tail of N (under 1e-6) is counted as the first unlisted count. The
    group's whole law is the same thinning (CountLaw.thinned)."""
    none = law.p_none_thinned(share)
    return {
        "share": round(float(share), 9),
        "p_event": min(round(1.0 - min(none, 1.0), 9), p_event),
        "expected_events": round(float(share * expected_events), 9),
    }
