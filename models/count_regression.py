"""Negative binomial regression (statsmodels) with region effects and region dispersion."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from functools import partial
from typing import Self

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

# statsmodels.api imports every model statsmodels has (most of a second in each worker).
from statsmodels.discrete.discrete_model import NegativeBinomial
from statsmodels.tools.sm_exceptions import ConvergenceWarning, HessianInversionWarning

from features.design import HorizonData
from features.specs import FeatureSpec, feature_label
from models.base import CountForecast, Driver
from models.distributions import dispersion_of, prob_zero, region_dispersion
from models.probability import BinaryProbability

log = logging.getLogger(__name__)
TOP_DRIVERS = 3


def default_covariates(spec: FeatureSpec) -> tuple[str, ...]:
    """Level and persistence of violence: short and yearly means, yearly and ten-year shares."""
    return (
        *(f"log_events_mean_{w}" for w in (*spec.window("count")[:3], spec.recent_window)),
        f"share_with_events_{spec.recent_window}",
        f"share_with_events_{spec.climatology_window}",
        "log_periods_since_event",
    )


class NegativeBinomialModel:
    """log E[count] = region effect + b . standardized covariates; NB2 dispersion per region.

    p_event is the law's probability of at least one event; drivers are the covariates whose
    standardized contributions to the log mean are largest.
    """

    def __init__(
        self,
        spec: FeatureSpec,
        covariates: Sequence[str] | None = None,
        dispersion_periods: int | None = None,
        training_periods: int | None = None,
    ) -> None:
        self.spec = spec
        self.training_periods = training_periods
        self.dispersion_periods = dispersion_periods
        self.preferred = tuple(covariates) if covariates is not None else default_covariates(spec)
        self.covariates: list[str] = []
        self.region_columns: list[str] = []
        self.center = pd.Series(dtype=float)
        self.scale = pd.Series(dtype=float)
        self.params = np.zeros(0)
        self.dispersion: dict[str, float] = {}
        # Severity: a regularized logistic model on the same features.
        self.severe = BinaryProbability(
            make_pipeline(StandardScaler(), LogisticRegression(C=0.3, max_iter=2000))
        )

    def _columns(self, X: pd.DataFrame) -> list[str]:
        spatial = [c for c in X.columns if c.startswith("neighbours_")]
        calendar = [c for c in X.columns if c.startswith("target_")]
        return [c for c in self.preferred if c in X.columns] + spatial + calendar

    def _design(self, X: pd.DataFrame) -> np.ndarray:
        z = (X[self.covariates] - self.center) / self.scale
        # Region effects are the intercepts; without them (world scale) one shared constant.
        baseline = (
            X[self.region_columns].to_numpy() if self.region_columns else np.ones((len(X), 1))
        )
        return np.column_stack([z.to_numpy(), baseline])

    def fit(self, data: HorizonData) -> Self:
        if self.training_periods:
            periods = np.unique(data.periods)
            data = data.subset(
                data.periods >= periods[max(0, len(periods) - self.training_periods)]
            )
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
            model = NegativeBinomial(y, design, loglike_method="nb2")
            start = np.append(np.zeros(design.shape[1]), 1.0)
            start[len(self.covariates) :][:-1] = np.log(
                [
                    max(y[design[:, len(self.covariates) + i] == 1].mean(), 0.01)
                    for i in range(design.shape[1] - len(self.covariates))  # each baseline column
                ]
            )
            result = model.fit(start_params=start, disp=0, maxiter=300, method="bfgs")
        self.params = np.asarray(result.params[:-1])
        fitted = np.exp(design @ self.params)
        recent = np.ones(len(y), dtype=bool)
        if self.dispersion_periods:
            # Volatility changes between eras; the recent one is the one forecasts face.
            periods = np.unique(data.periods)
            recent = data.periods >= periods[max(0, len(periods) - self.dispersion_periods)]
        self.dispersion = region_dispersion(data.regions[recent], y[recent], fitted[recent])
        self.severe.fit(X.to_numpy(), data.severe.to_numpy())
        return self

    def predict(self, X: pd.DataFrame) -> CountForecast:
        design = self._design(X)
        mean = np.exp(np.clip(design @ self.params, -20, 10))
        regions = X.index.get_level_values("region")
        alpha = dispersion_of(regions, self.dispersion)
        return CountForecast(
            p_event=1.0 - prob_zero(mean, alpha),
            mean=mean,
            dispersion=alpha,
            p_severe=self.severe.predict(X.to_numpy()),
            drivers=partial(self._drivers, design),
        )

    def _drivers(self, design: np.ndarray) -> list[list[Driver]]:
        k = len(self.covariates)
        contributions = design[:, :k] * self.params[:k]
        # One sort for all rows and one label per covariate.
        tops = np.argsort(-np.abs(contributions), axis=1)[:, :TOP_DRIVERS]
        labels = [feature_label(name, self.spec.freq) for name in self.covariates]
        return [
            [
                Driver(
                    feature=self.covariates[i],
                    label=labels[i],
                    contribution=round(float(row[i]), 4),
                )
                for i in top
            ]
            for row, top in zip(contributions, tops.tolist(), strict=True)
        ]
