"""The proper scores every evaluation shares (numpy only, so the web tier can score too)."""

from __future__ import annotations

from typing import Any

import numpy as np

QUANTILES = {"events_p10": 0.1, "events_p50": 0.5, "events_p90": 0.9}


def brier(p: np.ndarray, outcome: np.ndarray) -> float:
    return float(np.mean((p - outcome) ** 2))


def pinball(quantile: np.ndarray, observed: np.ndarray, level: float) -> float:
    diff = observed - quantile
    return float(np.mean(np.maximum(level * diff, (level - 1) * diff)))


def interval_pinball(rows: dict[str, np.ndarray], observed: np.ndarray) -> float:
    """The mean pinball loss of the interval ends and the median."""
    return float(np.mean([pinball(rows[c], observed, q) for c, q in QUANTILES.items()]))


def ranked_probability_score(law: dict[str, Any], observed: float) -> float:
    """The ranked probability score of a count law (its mass function and tail) for one
    outcome: the sum over counts k of (P(count <= k) - [observed <= k])^2, exact up to the
    tail the law leaves unlisted."""
    cdf = np.cumsum(np.asarray(law["pmf"], dtype=float))
    reach = max(len(cdf), int(observed) + 1)
    cdf = np.concatenate([cdf, np.full(reach - len(cdf), cdf[-1])])
    hit = (np.arange(reach) >= observed).astype(float)
    return float(np.sum((cdf - hit) ** 2))
