"""Gradient boosting (scikit-learn) on lagged counts, fatalities, actor mixes and neighbours."""

from __future__ import annotations

from typing import Self

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

from features.specs import FeatureSpec
from models.base import CountForecast
from models.design import HorizonData
from models.distributions import dispersion_of, region_dispersion
from models.severity import SevereClassifier

_TREE_SETTINGS = {"max_iter": 100, "learning_rate": 0.06, "max_depth": 3, "min_samples_leaf": 40}


class GradientBoostingModel:
    """Boosted trees for p_event and the expected count; logistic severity; NB dispersion by region."""

    def __init__(self, spec: FeatureSpec | None = None, seed: int = 0, counts: bool = True) -> None:
        # counts=False skips the count model where only the probabilities are used (the ensemble).
        self.seed = seed
        self.counts = counts
        self.event = HistGradientBoostingClassifier(random_state=seed, **_TREE_SETTINGS)
        self.count = HistGradientBoostingRegressor(
            loss="poisson", random_state=seed, **_TREE_SETTINGS
        )
        self.severe = SevereClassifier()
        self.event_constant: float | None = None
        self.dispersion: dict[str, float] = {}

    def fit(self, data: HorizonData) -> Self:
        X = data.X.to_numpy()
        occurred = (data.events.to_numpy() > 0).astype(int)
        self.event_constant = None
        if len(np.unique(occurred)) < 2:
            self.event_constant = float(occurred.mean())
        else:
            self.event.fit(X, occurred)
        if self.counts:
            self.count.fit(X, data.events.to_numpy())
            fitted = self.count.predict(X)
            self.dispersion = region_dispersion(data.regions, data.events.to_numpy(), fitted)
        self.severe.fit(data.X, data.severe.to_numpy())
        return self

    def predict(self, X: pd.DataFrame) -> CountForecast:
        values = X.to_numpy()
        if self.event_constant is None:
            p_event = self.event.predict_proba(values)[:, 1]
        else:
            p_event = np.full(len(X), self.event_constant)
        regions = X.index.get_level_values("region")
        mean = self.count.predict(values) if self.counts else np.zeros(len(X))
        return CountForecast(
            p_event=np.asarray(p_event),
            mean=np.asarray(mean),
            dispersion=dispersion_of(regions, self.dispersion),
            p_severe=self.severe.predict(X),
        )
