"""Negative binomial regression (statsmodels) with region effects and region dispersion."""

from __future__ import annotations

import logging
import warnings
from typing import Self

import numpy as np
import pandas as pd
import statsmodels.api as sm
from statsmodels.tools.sm_exceptions import ConvergenceWarning, HessianInversionWarning

from features.specs import FeatureSpec, feature_label
from models.base import CountForecast
from models.design import HorizonData
from models.distributions import prob_zero, region_dispersion
from models.severity import SevereClassifier

log = logging.getLogger(__name__)
TOP_DRIVERS = 3
# The count model's covariates: level, persistence and neighbours of violence, and the calendar.
_COVARIATES = (
    "log_events_mean_1", "log_events_mean_3", "log_events_mean_12", "log_events_mean_24",
    "share_with_events_12", "share_with_events_120", "log_periods_since_event",
    "log_fatalities_mean_3",
)  # fmt: skip


class NegativeBinomialModel:
    """log E[count] = region effect + b . standardized covariates; NB2 dispersion per region.

    p_event is the law's probability of at least one event; drivers are the covariates whose
    standardized contributions to the log mean are largest.
    """

    def __init__(self, spec: FeatureSpec) -> None:
        self.spec = spec
        self.covariates: list[str] = []
        self.region_columns: list[str] = []
        self.center = pd.Series(dtype=float)
        self.scale = pd.Series(dtype=float)
        self.params = np.zeros(0)
        self.dispersion: dict[str, float] = {}
        self.severe = SevereClassifier()

    def _columns(self, X: pd.DataFrame) -> list[str]:
        monthly = [c for c in _COVARIATES if c in X.columns]
        spatial = [c for c in X.columns if c.startswith("neighbours_")]
        calendar = [c for c in X.columns if c.startswith("target_")]
        fallback = [
            c for c in X.columns if c.startswith(("log_events_mean_", "share_with_events_"))
        ]
        return (monthly or fallback) + spatial + calendar

    def _design(self, X: pd.DataFrame) -> np.ndarray:
        z = (X[self.covariates] - self.center) / self.scale
        return np.column_stack([z.to_numpy(), X[self.region_columns].to_numpy()])

    def fit(self, data: HorizonData) -> Self:
        X = data.X
        self.covariates = self._columns(X)
        self.region_columns = [c for c in X.columns if c.startswith("region_")]
        self.center = X[self.covariates].mean()
        self.scale = X[self.covariates].std().replace(0, 1.0).fillna(1.0)
        design = self._design(X)
        y = data.events.to_numpy()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            warnings.simplefilter("ignore", RuntimeWarning)
            warnings.simplefilter("ignore", HessianInversionWarning)
            model = sm.NegativeBinomial(y, design, loglike_method="nb2")
            start = np.append(np.zeros(design.shape[1]), 1.0)
            start[len(self.covariates) :][:-1] = np.log(
                [
                    max(y[design[:, len(self.covariates) + i] == 1].mean(), 0.01)
                    for i in range(len(self.region_columns))
                ]
            )
            result = model.fit(start_params=start, disp=0, maxiter=300, method="bfgs")
        self.params = np.asarray(result.params[:-1])
        fitted = np.exp(design @ self.params)
        self.dispersion = region_dispersion(data.regions, y, fitted)
        self.severe.fit(X, data.severe.to_numpy())
        return self

    def predict(self, X: pd.DataFrame) -> CountForecast:
        design = self._design(X)
        mean = np.exp(np.clip(design @ self.params, -20, 10))
        regions = X.index.get_level_values("region")
        alpha = np.array(
            [self.dispersion.get(r, np.median(list(self.dispersion.values()))) for r in regions]
        )
        return CountForecast(
            p_event=1.0 - prob_zero(mean, alpha),
            mean=mean,
            dispersion=alpha,
            p_severe=self.severe.predict(X),
            drivers=self._drivers(design),
        )

    def _drivers(self, design: np.ndarray) -> list[str]:
        k = len(self.covariates)
        contributions = design[:, :k] * self.params[:k]
        drivers = []
        for row in contributions:
            top = np.argsort(-np.abs(row))[:TOP_DRIVERS]
            drivers.append(
                "; ".join(
                    f"{feature_label(self.covariates[i], self.spec.freq)} ({row[i]:+.2f})"
                    for i in top
                )
            )
        return drivers
