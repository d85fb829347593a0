"""The laws an issued forecast carries, as values with their maths: a count law (mass function
and tail) and a fatality law (its parameters).

numpy and math only: models write these values, issuing stores them, and web workers answer
quantiles, exceedance and actor-group thinning from them without a model library.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

_THIN_BLOCK = 128
# Thinning costs the square of the law's length: counts past this are folded into the tail
# (a unit with thousands of events a period; the group's law then ends there too).
MAX_THINNED_LENGTH = 2000


@dataclass(frozen=True, eq=False)
class CountLaw:
    """P(count = k) for k < len(pmf), and `tail` = P(count >= len(pmf))."""

    pmf: np.ndarray
    tail: float

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> CountLaw:
        return cls(np.asarray(value["pmf"], dtype=float), float(value["tail"]))

    def to_json(self) -> dict[str, Any]:
        return {"pmf": self.pmf.tolist(), "tail": self.tail}

    @functools.cached_property
    def cdf(self) -> np.ndarray:  # asked of many levels and counts: summed once
        return np.cumsum(self.pmf)

    def quantile(self, level: float) -> float:
        """The `level` quantile with each count k spread evenly over [k - 1/2, k + 1/2], cut at
        0: the convention of the published interval ends (models.distributions)."""
        pmf, cdf = self.pmf, self.cdf
        k = int(np.searchsorted(cdf, level, side="left"))
        if k >= len(pmf):  # in the unlisted tail: its first count
            return float(len(pmf))
        below = cdf[k - 1] if k > 0 else 0.0
        fraction = (level - below) / max(pmf[k], 1e-12)
        return float(max(k - 0.5 + min(max(fraction, 0.0), 1.0), 0.0))

    def interval(self, mass: float = 0.8) -> tuple[float, float]:
        """The (1 - mass) / 2 and (1 + mass) / 2 quantiles: ends that are the quantiles they
        are named for. Where the lower one falls on the mass at 0 it is 0, and the interval
        holds all the zeros: more than `mass` of whole counts (see `pit_coverage`)."""
        tail = (1.0 - mass) / 2
        return self.quantile(tail), self.quantile(1.0 - tail)

    def level_at(self, x: float) -> float:
        """The level whose quantile is `x` (the inverse of `quantile`; at 0, the level of 0
        itself: half of P(0), the other half spread below 0)."""
        k = int(np.floor(max(x, 0.0) + 0.5))
        if k >= len(self.pmf):
            return float(1.0 - self.tail)
        below = self.cdf[k - 1] if k > 0 else 0.0
        return float(below + (max(x, 0.0) - (k - 0.5)) * self.pmf[k])

    def mass_around(self, count: int) -> tuple[float, float]:
        """P(count < k) and P(count = k): where a randomized PIT of k lies (`pit_coverage`)."""
        if count >= len(self.pmf):
            return float(1.0 - self.tail), 0.0
        below = self.cdf[count - 1] if count > 0 else 0.0
        return float(below), float(self.pmf[count])

    def median(self) -> float:
        """The whole-number median: the smallest count with P(count <= k) >= 1/2."""
        return float(np.searchsorted(self.cdf, 0.5))

    def exceedance(self, count: int) -> float:
        """P(count >= `count`)."""
        if count <= 0:
            return 1.0
        if count >= len(self.pmf):
            return float(self.tail)
        return float(min(max(1.0 - self.cdf[count - 1], 0.0), 1.0))

    def p_none_thinned(self, share: float) -> float:
        """P(no event of a group holding `share` of the events) = E[(1 - share)^N], the tail
        counted as its first count."""
        pmf = np.append(self.pmf, self.tail)
        return min(float(np.sum(pmf * (1.0 - share) ** np.arange(len(pmf))) / pmf.sum()), 1.0)

    def thinned(self, share: float) -> CountLaw:
        """The law of a Binomial(N, share) thinning of N: one actor group's count when `share`
        of the events are the group's (models.actors). The unlisted tail of N is counted as the
        first unlisted count, so the result lists everything (tail 0)."""
        listed = self.pmf
        tail = float(self.tail) + float(listed[MAX_THINNED_LENGTH:].sum())
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
            # exp(-inf) is 0: the terms with j > k are garbage and must not overflow.
            law_of_group += pmf[start : start + _THIN_BLOCK] @ np.exp(
                np.where(below, log_binomial, -np.inf)
            )
        return CountLaw(law_of_group, 0.0)


def whole_coverage(low: np.ndarray, high: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """Per row, whether the observed whole count lies in [low, high] (see `pit_coverage` for
    why that overstates coverage where a law sits on 0)."""
    return np.asarray((np.asarray(observed) >= low) & (np.asarray(observed) <= high))


def pit_coverage(
    low_level: np.ndarray | float,
    high_level: np.ndarray | float,
    below: np.ndarray | float,
    at: np.ndarray | float,
) -> np.ndarray:
    """Per row, the chance that the outcome's randomized PIT falls between the interval's
    levels: the PIT of a count k is uniform on [P(count < k), P(count <= k)] (`below`,
    `below + at`), so under the true law it is uniform on [0, 1] and the interval between the
    law's a and b quantiles covers b - a of the time, at any level of activity (Czado,
    Gneiting and Held 2009). Counted as whole numbers, any interval holding 0 covers every
    quiet period: where a law puts 90% on 0, [q(0.1), q(0.9)] = [0, q(0.9)] covers 90% of
    whole counts, and an interval narrowed to cover 80% of them ends at q(0.8)."""
    below, at = np.asarray(below, dtype=float), np.asarray(at, dtype=float)
    inside = np.minimum(high_level, below + at) - np.maximum(low_level, below)
    # A count the law gives no mass: inside the interval if its PIT point is.
    point = ((below >= low_level) & (below <= high_level)).astype(float)
    return np.asarray(
        np.where(at > 1e-12, np.clip(inside, 0.0, None) / np.maximum(at, 1e-12), point)
    )


def interval_pit_coverages(
    laws: Iterable[Any], lows: Iterable[float], highs: Iterable[float], counts: Iterable[float]
) -> np.ndarray:
    """Per row, how far its count's randomized PIT lies inside its interval [low, high]
    (`pit_coverage`), the ends read back as levels of its law (a `CountLaw.to_json` value); NaN
    without a law or a count. An end cut to 0 is read as the level its upper end mirrors, at
    most the level of 0 itself: every published interval is [q(t), q(1 - t)]."""
    out = []
    for value, low, high, count in zip(laws, lows, highs, counts, strict=True):
        if not isinstance(value, Mapping) or np.isnan(count):
            out.append(np.nan)
            continue
        law = CountLaw.from_json(value)
        top = law.level_at(high)
        bottom = law.level_at(low) if low > 0 else min(1.0 - top, law.level_at(0.0))
        below, at = law.mass_around(int(count))
        out.append(float(pit_coverage(bottom, top, below, at)))
    return np.asarray(out, dtype=float)


@dataclass(frozen=True)
class FatalityLaw:
    """One forecast's fatality law (models.fatalities.FatalityLaws holds them for many rows):
    none with probability 1 - p_fatal, then log-normal pieces below and from the severe
    threshold, the upper one carrying p_severe."""

    p_fatal: float
    p_severe: float
    location: float
    scale: float
    threshold: float

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> FatalityLaw:
        return cls(*(float(value[k]) for k in ("p_fatal", "p_severe", "location", "scale", "threshold")))  # fmt: skip

    def to_json(self) -> dict[str, float]:
        return {
            "p_fatal": self.p_fatal,
            "p_severe": self.p_severe,
            "location": self.location,
            "scale": self.scale,
            "threshold": self.threshold,
        }

    def exceedance(self, count: int) -> float:
        """P(fatalities >= `count`)."""
        if count <= 0:
            return 1.0
        if count <= 1:
            return self.p_fatal
        threshold = self.threshold

        def z(x: float) -> float:
            return (math.log(x) - self.location) / self.scale

        if count < threshold:
            mass = _normal_between(z(1.0), z(threshold))
            share = (
                _normal_between(z(count), z(threshold)) / mass
                if mass > 1e-12
                else 1.0 - math.log(count) / math.log(threshold)
            )
            return self.p_severe + (self.p_fatal - self.p_severe) * min(max(share, 0.0), 1.0)
        return self.p_severe * math.exp(
            min(_log_normal_sf(z(count)) - _log_normal_sf(z(threshold)), 0.0)
        )


def _normal_between(a: float, b: float) -> float:
    """P(a < Z <= b) of a standard normal, from the side that keeps its digits
    (models.fatalities does the same over arrays, with scipy)."""

    def cdf(x: float) -> float:
        return 0.5 * math.erfc(-x / math.sqrt(2.0))

    return cdf(b) - cdf(a) if b <= 0 else cdf(-a) - cdf(-b)


def _log_normal_sf(z: float) -> float:
    """log P(Z > z) of a standard normal; the asymptotic series far in the tail, where erfc
    underflows."""
    if z < 30.0:
        return math.log(max(0.5 * math.erfc(z / math.sqrt(2.0)), 1e-320))
    return -z * z / 2.0 - math.log(z) - 0.5 * math.log(2.0 * math.pi)
