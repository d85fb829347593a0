"""Negative binomial (NB2) count laws: zero probability, quantiles and region dispersion."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

MIN_DISPERSION = 1e-3
MAX_DISPERSION = 10.0
_POISSON_BELOW = 1e-6


def _law(mean: np.ndarray, dispersion: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    size = 1.0 / np.maximum(dispersion, _POISSON_BELOW)
    return size, size / (size + np.maximum(mean, 1e-12))


def prob_zero(mean: np.ndarray, dispersion: np.ndarray) -> np.ndarray:
    size, prob = _law(mean, dispersion)
    return np.asarray(prob**size)


def hurdle_levels(
    mean: np.ndarray, dispersion: np.ndarray, level: float, p_event: np.ndarray
) -> np.ndarray:
    """The NB law's levels matching `level` of a hurdle law: zero with probability 1 - p_event,
    positive counts in the NB law's proportions."""
    zero, tiny = prob_zero(mean, dispersion), 1e-12
    mapped = zero + (level - (1 - p_event)) / np.maximum(p_event, tiny) * (1 - zero)
    return np.asarray(np.where(level <= 1 - p_event, tiny, np.clip(mapped, tiny, 1 - tiny)))


def hurdle_mean(mean: np.ndarray, dispersion: np.ndarray, p_event: np.ndarray) -> np.ndarray:
    """The mean of the hurdle law: p_event times the NB law's mean given a positive count."""
    positive = 1.0 - prob_zero(mean, dispersion)
    # As the mean goes to 0, a positive NB count is almost surely 1.
    given_positive = np.where(positive > 1e-9, mean / np.maximum(positive, 1e-9), 1.0)
    return np.asarray(p_event * np.maximum(given_positive, 1.0))


def continuous_quantile(
    mean: np.ndarray,
    dispersion: np.ndarray,
    level: float,
    p_event: np.ndarray | None = None,
) -> np.ndarray:
    """The quantile of the count spread evenly over [k - 1, k] for each value k.

    Integer quantiles of a law with most of its mass at 0 cannot say "80% interval": the mass
    at 0 alone covers it. Spreading each count's probability over the unit interval below it
    gives quantiles whose intervals cover as often as they claim. With `p_event`, the quantile
    of the hurdle law (see `hurdle_levels`).
    """
    size, prob = _law(mean, dispersion)
    levels = level if p_event is None else hurdle_levels(mean, dispersion, level, p_event)
    k = stats.nbinom.ppf(levels, size, prob)
    below = np.where(k > 0, stats.nbinom.cdf(k - 1, size, prob), 0.0)
    at = np.maximum(stats.nbinom.pmf(k, size, prob), 1e-12)
    return np.asarray(np.maximum(k - 1 + (levels - below) / at, 0.0))


def median_count(
    mean: np.ndarray, dispersion: np.ndarray, p_event: np.ndarray | None = None
) -> np.ndarray:
    """The law's median count: a whole number, the point forecast with the least absolute error.
    With `p_event`, the hurdle law's median (0 exactly when p_event is at most one half)."""
    size, prob = _law(mean, dispersion)
    level = 0.5 if p_event is None else hurdle_levels(mean, dispersion, 0.5, p_event)
    return np.asarray(stats.nbinom.ppf(level, size, prob), dtype=float)


def region_dispersion(
    regions: np.ndarray, observed: np.ndarray, mean: np.ndarray
) -> dict[str, float]:
    """Method-of-moments NB2 dispersion per region from fitted means and outcomes."""
    frame = pd.DataFrame(
        {"region": regions, "excess": (observed - mean) ** 2 - mean, "scale": mean**2}
    )
    sums = frame.groupby("region", sort=True)[["excess", "scale"]].sum()
    alpha = np.where(
        sums["scale"] > 0,
        sums["excess"] / sums["scale"].where(sums["scale"] > 0, 1.0),
        MIN_DISPERSION,
    )
    clipped = np.clip(alpha, MIN_DISPERSION, MAX_DISPERSION)
    return {str(region): float(value) for region, value in zip(sums.index, clipped, strict=True)}


def dispersion_of(regions: pd.Index | np.ndarray, dispersion: dict[str, float]) -> np.ndarray:
    """Each row's region dispersion; regions never seen get the median of the known ones."""
    default = float(np.median(list(dispersion.values()))) if dispersion else MIN_DISPERSION
    return pd.Series(pd.Index(regions)).map(dispersion).fillna(default).to_numpy(dtype=float)
