"""Reference models, always reported beside ours: climatology, recent, last-value Poisson."""

from __future__ import annotations

from typing import Self

import numpy as np
import pandas as pd

from features.design import HorizonData
from features.specs import FeatureSpec
from models.base import CountForecast


class _TrailingShareModel:
    """p_event and p_severe are the region's trailing shares of periods with events / severe
    ones; the count is Poisson with the trailing mean. Nothing is learned."""

    def __init__(self, window: int) -> None:
        self.window = window

    def fit(self, data: HorizonData) -> Self:
        return self

    def predict(self, X: pd.DataFrame) -> CountForecast:
        w = self.window
        mean = np.expm1(X[f"log_events_mean_{w}"].to_numpy())
        return CountForecast(
            p_event=X[f"share_with_events_{w}"].to_numpy(dtype=float),
            mean=mean,
            dispersion=np.zeros_like(mean),
            p_severe=X[f"share_severe_{w}"].to_numpy(dtype=float),
        )


class ClimatologyModel(_TrailingShareModel):
    def __init__(self, spec: FeatureSpec) -> None:
        super().__init__(spec.climatology_window)


class RecentModel(_TrailingShareModel):
    def __init__(self, spec: FeatureSpec) -> None:
        super().__init__(spec.recent_window)


class LastValuePoissonModel:
    """The next count is Poisson with the last period's count as its mean."""

    def __init__(self, spec: FeatureSpec) -> None:
        self.recent = spec.recent_window

    def fit(self, data: HorizonData) -> Self:
        return self

    def predict(self, X: pd.DataFrame) -> CountForecast:
        mean = np.expm1(X["log_events_mean_1"].to_numpy())
        return CountForecast(
            p_event=1.0 - np.exp(-mean),
            mean=mean,
            dispersion=np.zeros_like(mean),
            p_severe=X[f"share_severe_{self.recent}"].to_numpy(dtype=float),
        )


def trailing_values(
    panel: pd.DataFrame, rows: pd.DataFrame, column: str, window: int
) -> list[np.ndarray]:
    """For each (region, origin) row, the region's `column` in the `window` periods up to the
    origin, covered periods only: what a trailing reference's empirical law is made of."""
    wide = panel.pivot(index="period", columns="region", values=column).sort_index()
    position = {period: i for i, period in enumerate(wide.index)}
    values = wide.to_numpy(dtype=float)
    place = {region: j for j, region in enumerate(wide.columns)}
    samples = []
    for region, origin in zip(rows["region"], rows["origin"], strict=True):
        end = position[origin] + 1
        sample = values[max(0, end - window) : end, place[region]]
        samples.append(sample[~np.isnan(sample)])
    return samples
