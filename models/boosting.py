"""Gradient boosting (scikit-learn) on lagged counts, fatalities, actor mixes and neighbours."""

from __future__ import annotations

from typing import Self

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

from features.design import HorizonData
from models.base import CountForecast
from models.distributions import dispersion_of, region_dispersion
from models.probability import BinaryProbability

_TREE_SETTINGS = {"max_iter": 50, "learning_rate": 0.12, "max_depth": 3, "min_samples_leaf": 40}


def _trees(seed: int) -> BinaryProbability:
    return BinaryProbability(HistGradientBoostingClassifier(random_state=seed, **_TREE_SETTINGS))


class GradientBoostingModel:
    """Boosted trees for p_event, p_severe and the expected count; NB dispersion by region.

    Trees suit severity: a severe period follows thresholds (recent fatalities, time since the
    last severe period) that a linear model spreads thin.
    """

    def __init__(self, seed: int = 0, counts: bool = True) -> None:
        # counts=False skips the count model where only the probabilities are used (the ensemble).
        self.seed = seed
        self.counts = counts
        self.event = _trees(seed)
        self.severe = _trees(seed)
        self.count = HistGradientBoostingRegressor(
            loss="poisson", random_state=seed, **_TREE_SETTINGS
        )
        self.dispersion: dict[str, float] = {}

    def fit(self, data: HorizonData) -> Self:
        X = data.X.to_numpy()
        self.event.fit(X, (data.events.to_numpy() > 0))
        self.severe.fit(X, data.severe.to_numpy())
        if self.counts:
            self.count.fit(X, data.events.to_numpy())
            fitted = self.count.predict(X)
            self.dispersion = region_dispersion(data.regions, data.events.to_numpy(), fitted)
        return self

    def predict(self, X: pd.DataFrame) -> CountForecast:
        values = X.to_numpy()
        regions = X.index.get_level_values("region")
        mean = self.count.predict(values) if self.counts else np.zeros(len(X))
        return CountForecast(
            p_event=self.event.predict(values),
            mean=np.asarray(mean),
            dispersion=dispersion_of(regions, self.dispersion),
            p_severe=self.severe.predict(values),
            # The trees' p_event and the count regression are separate fits; the count law is a
            # hurdle on p_event so its mean, median and interval agree with the probability.
            zero_from_p_event=True,
        )
