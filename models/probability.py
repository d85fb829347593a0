"""Yes/no probabilities from a scikit-learn classifier; the observed rate when one class is seen."""

from __future__ import annotations

from typing import Any, Self

import numpy as np


class BinaryProbability:
    """P(outcome) from `classifier`; a constant (the observed rate) when the training rows hold
    only one class, which scikit-learn classifiers cannot fit."""

    def __init__(self, classifier: Any) -> None:
        self.classifier = classifier
        self.constant: float | None = None

    def fit(self, X: np.ndarray, outcome: np.ndarray) -> Self:
        labels = np.asarray(outcome).astype(int)
        self.constant = None
        if len(np.unique(labels)) < 2:
            self.constant = float(labels.mean())
        else:
            self.classifier.fit(X, labels)
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        if self.constant is not None:
            return np.full(len(X), self.constant)
        return np.asarray(self.classifier.predict_proba(X)[:, 1])
