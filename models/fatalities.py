"""Fatality counts: a law spliced at the severe threshold, so P(fatalities >= threshold) is the
calibrated p_severe.

Fatalities F are the whole part of a variable X that is 0 with probability 1 - p_fatal and
otherwise log-normal, cut into two pieces: X in [1, T) with probability p_fatal - p_severe and
X >= T with probability p_severe, each piece in the log-normal's own proportions. Heavy tails are
the norm (one mass-casualty attack makes a month), and a log-normal tail fitted on log
fatalities carries them; the splice keeps the tail's weight at the stacked, calibrated p_severe
instead of what the log-normal alone would put there.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, NamedTuple

import numpy as np
from scipy import special

# RPS is summed exactly over whole counts up to here, then integrated on a geometric grid.
_EXACT_COUNTS = 2000
_FAR = 1e7
RPS_ROWS = 1000


def _sf(z: np.ndarray) -> np.ndarray:
    """P(Z > z) of a standard normal (scipy.special: a fraction of scipy.stats' overhead)."""
    return np.asarray(special.ndtr(-np.asarray(z)))


def _log_sf(z: np.ndarray) -> np.ndarray:
    return np.asarray(special.log_ndtr(-np.asarray(z)))


def _isf(p: np.ndarray) -> np.ndarray:
    return np.asarray(-special.ndtri(p))


def _between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """P(a < Z <= b), from whichever side keeps its digits: below the mean the two cdfs are
    small numbers, above it the two survival functions are (1 - x - (1 - y) loses them)."""
    return np.asarray(
        np.where(b <= 0, special.ndtr(b) - special.ndtr(a), special.ndtr(-a) - special.ndtr(-b))
    )


def _z(x: np.ndarray | float, location: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """The standard normal point of log x."""
    with np.errstate(divide="ignore"):
        return np.asarray((np.log(np.maximum(x, 1e-300)) - location) / scale)


class _Rows(NamedTuple):
    """Some elements of the laws' parameters (broadcast against levels or counts)."""

    p_fatal: np.ndarray
    p_severe: np.ndarray
    location: np.ndarray
    scale: np.ndarray

    def z(self, x: np.ndarray | float) -> np.ndarray:
        return _z(x, self.location, self.scale)

    def where(self, mask: np.ndarray) -> _Rows:
        return _Rows(*(values[mask] for values in self))


@dataclass(frozen=True)
class FatalityLaws:
    """Per-row spliced law (see the module docstring); arrays of one length, one threshold."""

    p_fatal: np.ndarray
    p_severe: np.ndarray
    location: np.ndarray
    scale: np.ndarray
    threshold: float
    # The published interval is [q(tail_level), q(1 - tail_level)]; the ensemble fits it.
    tail_level: float = 0.1

    def _broadcast(self, values: np.ndarray) -> tuple[np.ndarray, _Rows]:
        first, *params = np.broadcast_arrays(
            values, self.p_fatal, self.p_severe, self.location, self.scale
        )
        return first, _Rows(*params)

    def exceedance(self, x: np.ndarray | float) -> np.ndarray:
        """P(X >= x), which for whole x is P(fatalities >= x). Broadcasts x of shape (G, 1);
        each piece is evaluated only where x lies in it."""
        x, rows = self._broadcast(np.asarray(x, dtype=float))
        out = np.where(x <= 0, 1.0, rows.p_fatal)
        body = ~(x <= 1) & (x < self.threshold)
        out[body] = self._body_exceedance(x[body], rows.where(body))
        tail = ~(x <= 1) & ~(x < self.threshold)
        # The log-normal's share beyond x within the tail, from survival functions (the tail
        # can sit far in the log-normal's own, where 1 - cdf has no digits left).
        rows = rows.where(tail)
        beyond = np.exp(np.minimum(_log_sf(rows.z(x[tail])) - _log_sf(rows.z(self.threshold)), 0.0))
        out[tail] = rows.p_severe * beyond
        return out

    def _body_exceedance(self, x: np.ndarray, rows: _Rows) -> np.ndarray:
        """P(X >= x) for x in (1, T): p_severe and the body's share beyond x."""
        zt, zx = rows.z(self.threshold), rows.z(x)
        body_mass = _between(rows.z(1.0), zt)
        body_beyond = np.where(
            body_mass > 1e-12,
            _between(np.minimum(zx, zt), zt) / np.maximum(body_mass, 1e-300),
            # The log-normal puts next to nothing here: spread the piece evenly in log x.
            1.0 - np.log(np.clip(x, 1.0, self.threshold)) / np.log(self.threshold),
        )
        share = np.clip(body_beyond, 0.0, 1.0)
        return np.asarray(rows.p_severe + (rows.p_fatal - rows.p_severe) * share)

    def quantile(self, level: float | np.ndarray) -> np.ndarray:
        """The continuous quantile of X (fatalities spread over [k, k + 1)); 0 in the mass at 0.
        Broadcasts `level` of shape (G, 1); each piece is inverted only where it is reached
        (most of a quiet unit's levels sit in the mass at 0)."""
        beyond, rows = self._broadcast(1.0 - np.asarray(level, dtype=float))
        out = np.zeros(beyond.shape)
        body = (beyond < rows.p_fatal) & (beyond >= rows.p_severe)
        out[body] = self._body_quantile(beyond[body], rows.where(body))
        tail = (beyond < rows.p_fatal) & (beyond < rows.p_severe)
        out[tail] = self._tail_quantile(beyond[tail], rows.where(tail))
        return out

    def _body_quantile(self, beyond: np.ndarray, rows: _Rows) -> np.ndarray:
        """The quantile with P(X >= x) = `beyond` in [1, T), where p_severe <= beyond."""
        zt = rows.z(self.threshold)
        # In the body: sf(z) = sf(zt) + share * (sf(z1) - sf(zt)), share of the body beyond.
        share = np.clip(
            (beyond - rows.p_severe) / np.maximum(rows.p_fatal - rows.p_severe, 1e-12), 0.0, 1.0
        )
        body_mass = _between(rows.z(1.0), zt)
        # Invert on the side the mass was measured from (see _between).
        body_z = np.where(
            zt <= 0,
            special.ndtri(np.clip(special.ndtr(zt) - share * body_mass, 1e-300, 1.0)),
            _isf(np.clip(_sf(zt) + share * body_mass, 1e-300, 1.0)),
        )
        body_log = np.where(
            body_mass > 1e-12,
            rows.location + rows.scale * body_z,
            (1.0 - share) * np.log(self.threshold),
        )
        return np.asarray(np.exp(np.clip(body_log, 0.0, np.log(self.threshold))))

    def _tail_quantile(self, beyond: np.ndarray, rows: _Rows) -> np.ndarray:
        """The quantile with P(X >= x) = `beyond` past T, where beyond < p_severe."""
        zt = rows.z(self.threshold)
        tail_share = np.clip(beyond / np.maximum(rows.p_severe, 1e-300), 1e-300, 1.0)
        tail_z = -special.ndtri(np.exp(_log_sf(zt)) * tail_share)
        tail_logsf = _log_sf(zt) + np.log(tail_share)
        tail_z = np.where(np.isfinite(tail_z), tail_z, -special.ndtri(np.exp(tail_logsf)))
        return np.asarray(np.maximum(np.exp(rows.location + rows.scale * tail_z), self.threshold))

    def expected(self) -> np.ndarray:
        """E[fatalities] = sum over k >= 1 of P(F >= k): exact up to the threshold T; beyond it
        the tail's integral p_severe * (E[X | X >= T] - T), less the half-count of the sum."""
        counts = np.arange(1, int(self.threshold) + 1, dtype=float)[:, None]
        up_to_threshold = np.sum(self.exceedance(counts), axis=0)
        zt = _z(self.threshold, self.location, self.scale)
        # The log-normal's E[X | X >= T], in log space against overflow.
        log_tail_mean = self.location + self.scale**2 / 2 + _log_sf(zt - self.scale) - _log_sf(zt)
        tail_mean = np.exp(np.minimum(log_tail_mean, 50.0))
        beyond = np.maximum(tail_mean - self.threshold - 0.5, 0.0)
        return np.asarray(up_to_threshold + self.p_severe * beyond)

    def published(self, tail_level: float | np.ndarray) -> tuple[np.ndarray, ...]:
        """What a forecast table states of each row's law (models.columns.FATALITY_COLUMNS):
        its mean and its q(t), median and q(1 - t), with t the tail level (one, or per row)."""
        t = np.broadcast_to(np.asarray(tail_level, dtype=float), self.p_fatal.shape)
        return (self.expected(), *self.quantile(np.stack([t, np.full_like(t, 0.5), 1 - t])))

    def with_severe(self, p_severe: np.ndarray) -> FatalityLaws:
        """The law with P(F >= T) set to `p_severe` (and P(F >= 1) at least that)."""
        return replace(self, p_severe=p_severe, p_fatal=np.maximum(self.p_fatal, p_severe))

    def params(self) -> list[dict[str, float]]:
        """Each row's law as JSON-able numbers (with the threshold)."""
        return [
            {
                "p_fatal": round(float(a), 9),
                "p_severe": round(float(b), 9),
                "location": round(float(c), 9),
                "scale": round(float(d), 9),
                "threshold": float(self.threshold),
            }
            for a, b, c, d in zip(
                self.p_fatal, self.p_severe, self.location, self.scale, strict=True
            )
        ]

    @classmethod
    def from_params(cls, rows: list[dict[str, Any]]) -> FatalityLaws:
        thresholds = {float(r["threshold"]) for r in rows}
        if len(thresholds) != 1:
            raise ValueError("fatality laws of one table share one severe threshold")

        def column(name: str) -> np.ndarray:
            return np.array([float(r[name]) for r in rows])

        return cls(
            column("p_fatal"),
            column("p_severe"),
            column("location"),
            column("scale"),
            thresholds.pop(),
        )

    def ranked_probability_score(self, observed: np.ndarray) -> np.ndarray:
        """Per row, sum over whole k >= 0 of (P(F <= k) - [observed <= k])^2: exact up to
        _EXACT_COUNTS, then the integral of the smooth rest on a geometric grid. RPS_ROWS
        rows at a time: each row's grid is _EXACT_COUNTS long, and a district backtest scores
        tens of thousands of rows."""
        observed = np.asarray(observed, dtype=float)
        return np.concatenate(
            [
                self._rows(slice(start, start + RPS_ROWS))._rps(observed[start : start + RPS_ROWS])
                for start in range(0, len(observed), RPS_ROWS)
            ]
            or [np.zeros(0)]
        )

    def _rows(self, rows: slice) -> FatalityLaws:
        return replace(
            self,
            p_fatal=self.p_fatal[rows],
            p_severe=self.p_severe[rows],
            location=self.location[rows],
            scale=self.scale[rows],
        )

    def _rps(self, observed: np.ndarray) -> np.ndarray:
        exact = np.arange(0, _EXACT_COUNTS, dtype=float)[:, None]
        below = 1.0 - self.exceedance(exact + 1)
        total = np.sum((below - (observed >= 0) * (exact >= observed)) ** 2, axis=0)
        far = np.geomspace(_EXACT_COUNTS, _FAR, 400)[:, None]
        rest = (1.0 - self.exceedance(far + 1) - (far >= observed)) ** 2
        return np.asarray(total + np.trapezoid(rest, far, axis=0))
