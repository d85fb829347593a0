"""Answers from a forecast's whole count law (its mass function and tail) and its fatality law
(its parameters), for any quantile or count asked: numpy and math only, so web workers answer
without a model."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

MAX_ASKED = 20
MAX_COUNT = 100_000
_THIN_BLOCK = 128
# Thinning costs the square of the law's length: counts past this are folded into the tail
# (a unit with thousands of events a period; the group's law then ends there too).
MAX_THINNED_LENGTH = 2000


def cumulative(law: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """The law's mass function and its running sum, for answering many questions of it."""
    pmf = np.asarray(law["pmf"], dtype=float)
    return pmf, np.cumsum(pmf)


def quantile(
    law: Mapping[str, Any], level: float, arrays: tuple[np.ndarray, np.ndarray] | None = None
) -> float:
    """The `level` quantile with each count k spread evenly over [k - 1/2, k + 1/2], cut at 0:
    the convention of the published interval ends (models.distributions)."""
    pmf, cdf = arrays if arrays is not None else cumulative(law)
    k = int(np.searchsorted(cdf, level, side="left"))
    if k >= len(pmf):  # in the unlisted tail: its first count
        return float(len(pmf))
    below = cdf[k - 1] if k > 0 else 0.0
    fraction = (level - below) / max(pmf[k], 1e-12)
    return float(max(k - 0.5 + min(max(fraction, 0.0), 1.0), 0.0))


def exceedance(
    law: Mapping[str, Any], count: int, arrays: tuple[np.ndarray, np.ndarray] | None = None
) -> float:
    """P(count >= `count`)."""
    pmf, cdf = arrays if arrays is not None else cumulative(law)
    if count <= 0:
        return 1.0
    if count >= len(pmf):
        return float(law["tail"])
    return float(min(max(1.0 - cdf[count - 1], 0.0), 1.0))


def thinned(law: Mapping[str, Any], share: float) -> dict[str, Any]:
    """The count law of a Binomial(N, share) thinning of N ~ law: one actor group's count when
    `share` of the events are the group's (models.actors). The unlisted tail of N is counted as
    the first unlisted count, so the result lists everything (tail 0)."""
    listed = np.asarray(law["pmf"], dtype=float)
    tail = float(law["tail"]) + float(listed[MAX_THINNED_LENGTH:].sum())
    pmf = np.append(listed[:MAX_THINNED_LENGTH], tail)
    pmf = pmf / pmf.sum()
    counts = np.arange(len(pmf))
    log_factorial = np.concatenate([[0.0], np.cumsum(np.log(np.maximum(counts[1:], 1)))])
    j = counts[None, :]
    law_of_group = np.zeros(len(pmf))
    # A block of counts N at a time: the memory stays small for the longest listed laws.
    for start in range(0, len(pmf), _THIN_BLOCK):
        k = counts[start : start + _THIN_BLOCK, None]
        below = j <= k
        # log C(k, j) + j log(share) + (k - j) log(1 - share), where j <= k.
        with np.errstate(divide="ignore", invalid="ignore"):
            log_binomial = (
                log_factorial[k] - log_factorial[j] - log_factorial[np.where(below, k - j, 0)]
                + (j * math.log(share) if share > 0 else np.where(j == 0, 0.0, -np.inf))
                + ((k - j) * math.log1p(-share) if share < 1 else np.where(k == j, 0.0, -np.inf))
            )  # fmt: skip
        law_of_group += pmf[start : start + _THIN_BLOCK] @ np.where(
            below, np.exp(log_binomial), 0.0
        )
    return {"pmf": law_of_group.tolist(), "tail": 0.0}


def fatality_exceedance(law: Mapping[str, Any], count: int) -> float:
    """P(fatalities >= `count`) from the spliced law's parameters (models.fatalities): none
    with probability 1 - p_fatal, then log-normal pieces below and from the threshold."""
    p_fatal, p_severe = float(law["p_fatal"]), float(law["p_severe"])
    location, scale, threshold = (
        float(law["location"]),
        float(law["scale"]),
        float(law["threshold"]),
    )
    if count <= 0:
        return 1.0
    if count <= 1:
        return p_fatal

    def log_sf(x: float) -> float:
        return _log_normal_sf((math.log(x) - location) / scale)

    if count < threshold:

        def z(x: float) -> float:
            return (math.log(x) - location) / scale

        mass = _normal_between(z(1.0), z(threshold))
        share = (
            _normal_between(z(count), z(threshold)) / mass
            if mass > 1e-12
            else 1.0 - math.log(count) / math.log(threshold)
        )
        return p_severe + (p_fatal - p_severe) * min(max(share, 0.0), 1.0)
    return p_severe * math.exp(min(log_sf(count) - log_sf(threshold), 0.0))


def _normal_between(a: float, b: float) -> float:
    """P(a < Z <= b) of a standard normal, from the side that keeps its digits
    (models.fatalities does the same)."""

    def cdf(x: float) -> float:
        return 0.5 * math.erfc(-x / math.sqrt(2.0))

    return cdf(b) - cdf(a) if b <= 0 else cdf(-a) - cdf(-b)


def _log_normal_sf(z: float) -> float:
    """log P(Z > z) of a standard normal; the asymptotic series far in the tail, where erfc
    underflows."""
    if z < 30.0:
        return math.log(max(0.5 * math.erfc(z / math.sqrt(2.0)), 1e-320))
    return -z * z / 2.0 - math.log(z) - 0.5 * math.log(2.0 * math.pi)


def parse_levels(text: str) -> list[float]:
    """'0.05,0.25,0.75' as quantile levels strictly between 0 and 1."""
    try:
        levels = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ValueError(
            f"quantiles must be numbers between 0 and 1, like 0.05,0.95; got {text[:40]!r}"
        ) from None
    if not levels or len(levels) > MAX_ASKED or not all(0.0 < q < 1.0 for q in levels):
        raise ValueError(f"quantiles must be 1 to {MAX_ASKED} numbers strictly between 0 and 1")
    return levels


def parse_counts(text: str, name: str = "exceedance") -> list[int]:
    """'1,5,10' as counts to give exceedance probabilities for."""
    try:
        counts = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ValueError(f"{name} must be whole counts, like 1,5,10; got {text[:40]!r}") from None
    if not counts or len(counts) > MAX_ASKED or not all(0 <= k <= MAX_COUNT for k in counts):
        raise ValueError(f"{name} must be 1 to {MAX_ASKED} counts from 0 to {MAX_COUNT}")
    return counts
