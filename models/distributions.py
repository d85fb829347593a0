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


def hurdle_mean(mean: np.ndarray, dispersion: np.ndarray, p_event: np.ndarray) -> np.ndarray:
    """The mean of the hurdle law: p_event times the NB law's mean given a positive count."""
    positive = 1.0 - prob_zero(mean, dispersion)
    # As the mean goes to 0, a positive NB count is almost surely 1.
    given_positive = np.where(positive > 1e-9, mean / np.maximum(positive, 1e-9), 1.0)
    return np.asarray(p_event * np.maximum(given_positive, 1.0))


def continuous_quantile(
    mean: np.ndarray,
    dispersion: np.ndarray,
    level: float | np.ndarray,
    p_event: np.ndarray | None = None,
) -> np.ndarray:
    """The quantile of the count with each value k spread evenly over [k - 1/2, k + 1/2].

    Integer quantiles of a law with most of its mass at 0 cannot say "80% interval": the mass
    at 0 alone covers it. Spreading each count's probability over a unit interval gives
    quantiles whose intervals cover as often as they claim; centred on k, the spread law keeps
    the count's mean. Below 0 it is cut to 0. With `p_event`, the quantile of the hurdle law:
    zero with probability 1 - p_event, positive counts in the NB law's proportions.
    """
    if p_event is None:
        level, mean, dispersion = np.broadcast_arrays(level, mean, dispersion)
        k, below, at = _count_at(mean.ravel(), dispersion.ravel(), level.ravel(), positive=False)
        at = np.maximum(at, 1e-12)
        return _spread(k, (level.ravel() - below) / at).reshape(level.shape)
    level, mean, dispersion, p_event = np.broadcast_arrays(level, mean, dispersion, p_event)
    zero = 1.0 - p_event
    quantile = _spread(np.zeros_like(zero), level / np.maximum(zero, 1e-12))
    # Only levels above the zero's mass reach a positive count: the NB search, the costly part,
    # runs for those alone (most of a quiet unit's interval grid sits at 0). A level equal to
    # that mass but for rounding (0.1 against 1 - 0.9) is on it, as in the stored law
    # (models.laws.CountLaw.quantile): past it, a law with no mass at the next counts jumps.
    above = level > zero + _TIE
    within = (level[above] - zero[above]) / np.maximum(p_event[above], 1e-12)
    k, below, at = _positive_count(mean[above], dispersion[above], np.clip(within, 0.0, 1.0))
    quantile[above] = _spread(k, (within - below) / np.maximum(at, 1e-12))
    return quantile


# Levels and probabilities closer than this are equal: float rounding, not a difference.
_TIE = 1e-12


def _spread(k: np.ndarray, fraction: np.ndarray) -> np.ndarray:
    """The point `fraction` of the way through [k - 1/2, k + 1/2], cut to 0 below."""
    return np.asarray(np.maximum(k - 0.5 + np.clip(fraction, 0.0, 1.0), 0.0))


def _positive_count(
    mean: np.ndarray, dispersion: np.ndarray, level: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The `level` quantile k >= 1 of the NB law given a positive count, with the conditional
    probabilities of counts below k and of k itself."""
    return _count_at(mean, dispersion, level, positive=True)


# Counting up the mass function by the ratio of its terms finds most quantiles in a few cheap
# steps (scipy's quantile searches cost ten times a step per row); rows still short of their
# level after this many steps take scipy's search.
_MAX_COUNT_STEPS = 2000
_LOG_TINY = -600.0


def _count_at(
    mean: np.ndarray, dispersion: np.ndarray, level: np.ndarray, positive: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The smallest k with P(count <= k) >= `level` (k >= 1 and probabilities given a positive
    count, with `positive`), P(count < k) and P(count = k); all 1-d.

    Given a positive count, probabilities are ratios to P(count >= 1) computed without
    subtracting from 1: as the mean goes to 0, 1 - P(0) loses every digit, yet the positive
    count is then almost surely 1 (the hurdle mean's limit too).
    """
    size, prob = _law(mean, dispersion)
    mean = np.maximum(mean, 1e-12)
    # pmf(j + 1) = pmf(j) * (j + size) / (j + 1) * q, with q = 1 - prob computed without loss.
    q = mean / (size + mean)
    log_zero = -size * np.log1p(mean / size)
    zero = np.exp(log_zero)
    if positive:
        k = np.ones(len(level))
        at = size * zero * q / np.maximum(-np.expm1(log_zero), 1e-300)
    else:
        k = np.zeros(len(level))
        at = zero.copy()
    below = np.zeros(len(level))
    # Where P(0) is past a double's full precision (a mean in the hundreds), counting up from it
    # would carry its lost digits into every term: scipy's search takes those rows.
    active = np.flatnonzero((below + at < level) & (log_zero > _LOG_TINY))
    for _ in range(_MAX_COUNT_STEPS):
        if not active.size:
            break
        below[active] += at[active]
        k[active] += 1
        at[active] *= (k[active] - 1 + size[active]) / k[active] * q[active]
        # A term that has vanished adds nothing more: scipy's search takes that row.
        active = active[(below[active] + at[active] < level[active]) & (at[active] > 0)]
    short = np.flatnonzero(below + at < level)
    if short.size:
        k[short], below[short], at[short] = _searched_count(
            size[short], prob[short], level[short], positive
        )
    return k, below, at


def _searched_count(
    size: np.ndarray, prob: np.ndarray, level: np.ndarray, positive: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`_count_at` by scipy's quantile search, for the rows counting up did not reach."""
    if not positive:
        k = stats.nbinom.ppf(level, size, prob)
        below = np.where(k > 0, stats.nbinom.cdf(k - 1, size, prob), 0.0)
        return k, below, stats.nbinom.pmf(k, size, prob)
    given = np.maximum(stats.nbinom.sf(0, size, prob), 1e-300)
    k = np.maximum(stats.nbinom.isf((1.0 - level) * given, size, prob), 1.0)
    below = 1.0 - stats.nbinom.sf(k - 1, size, prob) / given
    return k, below, stats.nbinom.pmf(k, size, prob) / given


def mass_around(
    mean: np.ndarray, dispersion: np.ndarray, counts: np.ndarray, p_event: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Per row, P(count < k) and P(count = k) at the row's count k: where a randomized PIT of k
    lies (uniform between the two's sum and the first). With `p_event`, of the hurdle law."""
    size, prob = _law(np.asarray(mean, dtype=float), np.asarray(dispersion, dtype=float))
    k = np.asarray(counts, dtype=float)
    below, at = stats.nbinom.cdf(k - 1, size, prob), stats.nbinom.pmf(k, size, prob)
    if p_event is None:
        return np.asarray(below), np.asarray(at)
    zero = stats.nbinom.pmf(0, size, prob)
    positive = 1.0 - zero
    # As the NB mean goes to 0, a positive count is almost surely 1.
    vanishing = positive < 1e-12
    safe = np.where(vanishing, 1.0, positive)
    below_given = np.where(vanishing, (k > 1).astype(float), (below - zero) / safe)
    at_given = np.where(vanishing, (k == 1).astype(float), at / safe)
    p = np.asarray(p_event, dtype=float)
    hurdle_below = np.where(k > 0, 1.0 - p + p * np.clip(below_given, 0.0, 1.0), 0.0)
    hurdle_at = np.where(k > 0, p * at_given, 1.0 - p)
    return np.asarray(hurdle_below), np.asarray(hurdle_at)


def median_count(
    mean: np.ndarray, dispersion: np.ndarray, p_event: np.ndarray | None = None
) -> np.ndarray:
    """The law's median count: a whole number, the point forecast with the least absolute error.
    With `p_event`, the hurdle law's median (0 exactly when p_event is at most one half)."""
    if p_event is None:
        size, prob = _law(mean, dispersion)
        return np.asarray(stats.nbinom.ppf(0.5, size, prob), dtype=float)
    within = (0.5 - (1.0 - p_event)) / np.maximum(p_event, 1e-12)
    k, _, _ = _positive_count(mean, dispersion, np.clip(within, 1e-12, 1.0))
    return np.asarray(np.where(p_event <= 0.5, 0.0, k), dtype=float)


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


# The mass function is listed until less than this is left; the rest is one tail mass.
PMF_TAIL = 1e-6
MAX_PMF_COUNTS = 5000


def count_pmfs(
    mean: np.ndarray, dispersion: np.ndarray, p_event: np.ndarray | None = None
) -> list[tuple[np.ndarray, float]]:
    """Per row: P(count = k) for k = 0, 1, ... until less than PMF_TAIL is left, and that rest
    P(count >= len(pmf)). With `p_event`, of the hurdle law (so P(count >= 1) is p_event).
    One scipy call per step for all rows: a backtest asks this of thousands of rows."""
    size, prob = _law(np.asarray(mean, dtype=float), np.asarray(dispersion, dtype=float))
    size, prob = size[:, None], prob[:, None]
    if p_event is None:
        last = np.minimum(stats.nbinom.isf(PMF_TAIL, size, prob)[:, 0], MAX_PMF_COUNTS)
        grid = np.arange(int(np.max(last, initial=0)) + 1)[None, :]
        table = stats.nbinom.pmf(grid, size, prob)
        lengths = last.astype(int) + 1
    else:
        positive = stats.nbinom.sf(0, size, prob)[:, 0]
        safe = np.maximum(positive, 1e-300)
        last = np.minimum(stats.nbinom.isf(PMF_TAIL * safe, size[:, 0], prob[:, 0]), MAX_PMF_COUNTS)
        last = np.maximum(last, 1.0)
        grid = np.arange(1, int(np.max(last, initial=1)) + 1)[None, :]
        given = stats.nbinom.pmf(grid, size, prob) / safe[:, None]
        vanishing = positive < 1e-12  # a positive count is then almost surely 1
        given[vanishing] = 0.0
        given[vanishing, 0] = 1.0
        last[vanishing] = 1.0
        p = np.asarray(p_event, dtype=float)[:, None]
        table = np.concatenate([1.0 - p, p * given], axis=1)
        lengths = last.astype(int) + 1
    laws = []
    for row, length in zip(table, lengths, strict=True):
        pmf = row[:length]
        laws.append((pmf, float(max(0.0, 1.0 - pmf.sum()))))
    return laws
