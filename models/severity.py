"""A regularized logistic model of the probability of a severe period (the count model's)."""

from __future__ import annotations

from typing import Self

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler


class SevereClassifier:
    """P(fatalities >= threshold) from the same features; a constant when one class is seen."""

    def __init__(self, C: float = 0.3) -> None:
        self.C = C
        self.pipeline: Pipeline | None = None
        self.constant = 0.0

    def fit(self, X: pd.DataFrame, severe: np.ndarray) -> Self:
        self.constant = float(np.mean(severe))
        if len(np.unique(severe)) < 2:
            self.pipeline = None
            return self
        self.pipeline = make_pipeline(StandardScaler(), LogisticRegression(C=self.C, max_iter=2000))
        self.pipeline.fit(X.to_numpy(), severe.astype(int))
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        if self.pipeline is None:
            return np.full(len(X), self.constant)
        return np.asarray(self.pipeline.predict_proba(X.to_numpy())[:, 1])
