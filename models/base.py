"""The model contract: a Forecaster fits on a panel and predicts the forecast table."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, Self, TypedDict

import numpy as np
import pandas as pd

from features.design import HorizonData
from models.columns import FORECAST_COLUMNS
from models.distributions import (
    continuous_quantile,
    count_pmfs,
    hurdle_mean,
    mass_around,
    median_count,
)
from models.fatalities import FatalityLaws


class Driver(TypedDict):
    """One input's signed contribution to a forecast (on the log-mean scale)."""

    feature: str
    label: str
    contribution: float


class Forecaster(Protocol):
    """Every model family: fit on a panel, then forecast from an origin for some horizons.

    `fit` uses every row of the panel it is given; `predict` uses only rows up to `origin`.
    """

    name: str

    def fit(self, panel: pd.DataFrame) -> Self: ...

    def predict(
        self, panel: pd.DataFrame, origin: str, horizons: Sequence[int]
    ) -> pd.DataFrame: ...


@dataclass(frozen=True)
class CountForecast:
    """Per-row outputs of a horizon model: probabilities and a negative binomial count law.

    `dispersion` is the NB2 alpha (variance = mean + alpha * mean^2); 0 means Poisson. With
    `zero_from_p_event` the law is a hurdle: zero with probability 1 - p_event, positive counts
    in the NB law's proportions, so quantiles agree with a calibrated p_event.
    """

    p_event: np.ndarray
    mean: np.ndarray
    dispersion: np.ndarray
    p_severe: np.ndarray
    # Each row's drivers, worked out when asked: held-out forecasts (most rows) never are.
    drivers: Callable[[], list[list[Driver]]] | None = None
    # The interval is [q(tail_level), q(1 - tail_level)]; calibrated models move it from 0.1,
    # the ensemble per row (models.strata).
    tail_level: float | np.ndarray = 0.1
    zero_from_p_event: bool = False
    # The fatality law, from models that forecast fatalities (the default ensemble).
    fatalities: FatalityLaws | None = None
    # Each tracked actor group's share of the events (models.actors), where the source names
    # actors and the model forecasts per group.
    actor_shares: dict[str, np.ndarray] | None = None

    def quantile(self, level: float | np.ndarray) -> np.ndarray:
        """The quantile at `level`; a column of levels (shape (L, 1)) gives one row per level."""
        return continuous_quantile(self.mean, self.dispersion, level, self._hurdle())

    def mass_around(self, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per row, P(count < k) and P(count = k) at its count k (models.laws.pit_coverage)."""
        return mass_around(self.mean, self.dispersion, counts, self._hurdle())

    def expected(self) -> np.ndarray:
        """The mean of the count law (of the hurdle law when the zero comes from p_event)."""
        if self.zero_from_p_event:
            return hurdle_mean(self.mean, self.dispersion, self.p_event)
        return self.mean

    def median(self) -> np.ndarray:
        return median_count(self.mean, self.dispersion, self._hurdle())

    def mass_functions(self) -> list[dict[str, Any]]:
        """Each row's whole count law: {"pmf": [P(0), P(1), ...], "tail": P(count >= len(pmf))}."""
        hurdle = self._hurdle()
        p_event = np.clip(hurdle, 0.0, 1.0) if hurdle is not None else None
        return [
            {"pmf": np.round(pmf, 9).tolist(), "tail": round(tail, 9)}
            for pmf, tail in count_pmfs(self.mean, self.dispersion, p_event)
        ]

    def _hurdle(self) -> np.ndarray | None:
        return self.p_event if self.zero_from_p_event else None


class HorizonModel(Protocol):
    """One horizon's learner inside a Forecaster: fit on design rows, predict count laws."""

    def fit(self, data: HorizonData) -> Self: ...

    def predict(self, X: pd.DataFrame) -> CountForecast: ...


def check_forecast_table(table: pd.DataFrame) -> pd.DataFrame:
    """Raise ValueError unless the table has the contract's columns and invariants."""
    missing = [c for c in FORECAST_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"forecast table lacks columns {missing}")
    for column in ("p_event", "p_severe"):
        values = table[column].to_numpy(dtype=float)
        if not np.all((values >= 0) & (values <= 1)):
            raise ValueError(f"{column} outside [0, 1]")
    p10, p50, p90 = (
        table[c].to_numpy(dtype=float) for c in ("events_p10", "events_p50", "events_p90")
    )
    if not (np.all(p10 <= p50) and np.all(p50 <= p90) and np.all(p10 >= 0)):
        raise ValueError("count quantiles are not ordered and non-negative")
    if not np.all(table["horizon"].to_numpy() >= 1):
        raise ValueError("horizons must be at least 1")
    return table
