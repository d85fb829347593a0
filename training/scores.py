"""The proper scores every evaluation shares (numpy only, so the web tier can score too)."""

from __future__ import annotations

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
