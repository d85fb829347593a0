"""Activity strata: quiet, middle and busy units, told apart by their trailing activity.

Intervals calibrated over all units together cover quiet units almost always (their interval
and their periods are both 0) and busy units too rarely. The ensemble calibrates one interval
level per stratum and backtest reports score each stratum; both sort rows with this one rule,
read from what was known at the origin (the mean count of the last periods), never the outcome.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NAMES = ("quiet", "middle", "busy")
# Fewer than one event every two periods on average: the interval is mostly [0, 0] or [0, 1].
QUIET_BELOW = 0.5


@dataclass(frozen=True)
class Strata:
    """Quiet below `quiet_below` events per period; the rest split at `busy_from`."""

    quiet_below: float
    busy_from: float

    @classmethod
    def fit(cls, activity: np.ndarray) -> Strata:
        """The busy edge is the median activity of the units that are not quiet, so middle
        and busy hold as many rows each, whatever the frequency and level of the series."""
        active = activity[activity >= QUIET_BELOW]
        busy_from = float(np.median(active)) if len(active) else np.inf
        return cls(QUIET_BELOW, busy_from)

    def of(self, activity: np.ndarray) -> np.ndarray:
        """Each row's stratum: 0 quiet, 1 middle, 2 busy."""
        activity = np.asarray(activity, dtype=float)
        strata = np.where(activity < self.quiet_below, 0, np.where(activity < self.busy_from, 1, 2))
        return np.asarray(strata)

    def names(self, activity: np.ndarray) -> np.ndarray:
        return np.asarray(np.asarray(NAMES, dtype=object)[self.of(activity)])
