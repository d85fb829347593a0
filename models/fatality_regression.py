"""The fatality model of the default ensemble: where the fatality law's log-normal sits."""

from __future__ import annotations

from typing import Self

import numpy as np
import pandas as pd
from statsmodels.regression.linear_model import OLS

from features.design import HorizonData
from models.fatalities import FatalityLaws
from models.grouping import RegionIndex

# Residual spread per region, shrunk toward the pooled spread as if it had this many rows.
SCALE_PRIOR_ROWS = 12
_MIN_SCALE = 0.25


class LogNormalFatalities:
    """log(fatalities + 1/2), given at least one, regressed on the recent fatality levels
    (statsmodels OLS) over the last `training_periods`; spread per region, shrunk to the pooled
    spread.

    Fatality levels alone, without region effects or event counts: on GED 22.1 (2010-2015 and
    2016-2021) richer designs carried the 2008-2009 peak of the busiest province into forecasts
    of its decline and lost to the trailing-12-month empirical law there.
    """

    def __init__(self, threshold: float, training_periods: int | None = None) -> None:
        self.threshold = threshold
        self.training_periods = training_periods
        self.columns: list[str] = []
        self.params = np.zeros(0)
        self.scales: dict[str, float] = {}
        self.pooled_scale = 1.0
        self.fatal_share: dict[str, float] = {}

    def _design(self, X: pd.DataFrame) -> np.ndarray:
        return np.column_stack([X[self.columns].to_numpy(dtype=float), np.ones(len(X))])

    def fit(self, data: HorizonData) -> Self:
        if self.training_periods:
            periods = np.unique(data.periods)
            data = data.subset(
                data.periods >= periods[max(0, len(periods) - self.training_periods)]
            )
        X, regions = data.X, data.regions
        events = data.events.to_numpy(dtype=float)
        fatalities = data.fatalities.to_numpy(dtype=float)
        self.columns = [c for c in X.columns if c.startswith("log_fatalities_mean_")]
        # Of the periods with events, the share with deaths (Jeffreys): near 1 in UCDP, lower
        # in sources that record attacks without casualties.
        with_events = events > 0
        index = RegionIndex(regions)
        fatal = index.counts(with_events & (fatalities >= 1))
        seen = index.counts(with_events)
        for i, region in enumerate(index.names):
            self.fatal_share[str(region)] = float((fatal[i] + 0.5) / (seen[i] + 1))
        positive = fatalities >= 1
        if positive.sum() <= len(self.columns) + 2:
            self.columns = []
        design = self._design(X[positive])
        target = np.log(fatalities[positive] + 0.5)
        self.params = np.asarray(OLS(target, design).fit().params)
        residual = target - design @ self.params
        self.pooled_scale = max(float(np.sqrt(np.mean(residual**2))), _MIN_SCALE)
        squares = np.zeros(len(regions))
        squares[positive] = residual**2
        sum_sq, rows = index.sums(squares, positive), index.counts(positive)
        for i, region in enumerate(index.names):
            variance = (float(sum_sq[i]) + SCALE_PRIOR_ROWS * self.pooled_scale**2) / (
                int(rows[i]) + SCALE_PRIOR_ROWS
            )
            self.scales[str(region)] = max(float(np.sqrt(variance)), _MIN_SCALE)
        return self

    def law(self, X: pd.DataFrame, p_event: np.ndarray, p_severe: np.ndarray) -> FatalityLaws:
        regions = pd.Series(X.index.get_level_values("region"))
        share = regions.map(self.fatal_share).fillna(1.0).to_numpy(dtype=float)
        p_fatal = np.clip(p_event * share, 0.0, 1.0)
        scale = regions.map(self.scales).fillna(self.pooled_scale).to_numpy(dtype=float)
        return FatalityLaws(
            p_fatal=np.maximum(p_fatal, p_severe),
            p_severe=np.minimum(p_severe, np.maximum(p_fatal, p_severe)),
            location=self._design(X) @ self.params,
            scale=scale,
            threshold=float(self.threshold),
        )
