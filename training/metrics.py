"""Forecast scores: probabilistic (Brier, skill, AUC, AP, calibration) and count (pinball, coverage, MAE)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score

from models.fatalities import FatalityLaws
from models.laws import interval_pit_coverages, whole_coverage
from training.scores import (
    QUANTILES,
    brier,
    interval_pinball,
    pinball,
    ranked_probability_score,
)

CALIBRATION_BINS = 10
__all__ = ["QUANTILES", "brier", "pinball", "reliability_table", "score", "score_backtest"]


def expected_calibration_error(
    p: np.ndarray, outcome: np.ndarray, bins: int = CALIBRATION_BINS
) -> float:
    """Mean |observed rate - mean forecast| over equal-width bins, weighted by bin size."""
    index = np.minimum((p * bins).astype(int), bins - 1)
    error = 0.0
    for b in range(bins):
        members = index == b
        if members.any():
            error += members.mean() * abs(outcome[members].mean() - p[members].mean())
    return float(error)


def reliability_table(
    p: np.ndarray, outcome: np.ndarray, bins: int = CALIBRATION_BINS
) -> pd.DataFrame:
    index = np.minimum((p * bins).astype(int), bins - 1)
    frame = pd.DataFrame({"bin": index, "forecast": p, "observed": outcome})
    table = frame.groupby("bin").agg(
        forecast=("forecast", "mean"), observed=("observed", "mean"), count=("observed", "size")
    )
    return table.reset_index()


def _ranking_score(
    score: Callable[[np.ndarray, np.ndarray], float], outcome: np.ndarray, p: np.ndarray
) -> float:
    """AUC-type scores are undefined when only one class occurred."""
    if len(np.unique(outcome)) < 2:
        return float("nan")
    return float(score(outcome, p))


def score(rows: pd.DataFrame, severe_threshold: int = 25) -> dict[str, float]:
    """All metrics for scored rows (observed outcomes known)."""
    occurred = (rows["observed_events"].to_numpy() > 0).astype(float)
    severe = (rows["observed_fatalities"].to_numpy() >= severe_threshold).astype(float)
    p = rows["p_event"].to_numpy(dtype=float)
    observed = rows["observed_events"].to_numpy(dtype=float)
    low, high = (rows[c].to_numpy(dtype=float) for c in ("events_p10", "events_p90"))
    return {
        "n": float(len(rows)),
        "brier": brier(p, occurred),
        "roc_auc": _ranking_score(roc_auc_score, occurred, p),
        "average_precision": _ranking_score(average_precision_score, occurred, p),
        "calibration_error": expected_calibration_error(p, occurred),
        "severe_brier": brier(rows["p_severe"].to_numpy(dtype=float), severe),
        "pinball": interval_pinball(
            {c: rows[c].to_numpy(dtype=float) for c in QUANTILES}, observed
        ),
        "coverage_p10_p90": float(np.mean(whole_coverage(low, high, observed))),
        "pit_coverage_p10_p90": _mean_of(rows, "pit_coverage", pit_coverage_rows),
        "mae": float(np.mean(np.abs(rows["expected_events"].to_numpy(dtype=float) - observed))),
        "rps": _mean_of(rows, "rps", rps_rows),
        **fatality_scores(rows),
    }


def _mean_of(
    rows: pd.DataFrame, column: str, per_row: Callable[[pd.DataFrame], np.ndarray]
) -> float:
    """The mean of a per-row score: precomputed in `column`, or worked out now."""
    scores = rows[column].to_numpy(dtype=float) if column in rows else per_row(rows)
    return float(np.mean(scores))


def pit_coverage_rows(rows: pd.DataFrame) -> np.ndarray:
    """Per row, how far its randomized PIT lies inside its interval
    (models.laws.interval_pit_coverages); NaN without a law or an outcome."""
    if "count_law" not in rows:
        return np.full(len(rows), np.nan)
    columns = ("count_law", "events_p10", "events_p90", "observed_events")
    return interval_pit_coverages(*(rows[c] for c in columns))


def rps_rows(rows: pd.DataFrame) -> np.ndarray:
    """Per row, the RPS of its count law for its outcome (NaN without a law)."""
    if "count_law" not in rows:
        return np.full(len(rows), np.nan)
    observed = rows["observed_events"].to_numpy(dtype=float)
    return np.array(
        [
            ranked_probability_score(law, y)
            for law, y in zip(rows["count_law"], observed, strict=True)
        ]
    )


def empirical_crps(sample: np.ndarray, observed: float) -> float:
    """CRPS of an empirical law: E|X - y| - E|X - X'| / 2 (equal to its RPS for whole counts)."""
    if not len(sample):
        return float("nan")
    spread = np.abs(sample[:, None] - sample[None, :]).mean()
    return float(np.abs(sample - observed).mean() - spread / 2)


def fatality_rps_rows(rows: pd.DataFrame) -> np.ndarray:
    """Per row, the fatality RPS (CRPS for counts) of its model's law: a fitted law's parameters
    or a reference's empirical sample; NaN without a law or an outcome."""
    scores = np.full(len(rows), np.nan)
    if "fatality_law" not in rows or "observed_fatalities" not in rows:
        return scores
    laws = rows["fatality_law"].to_numpy()
    observed = rows["observed_fatalities"].to_numpy(dtype=float)
    known = np.array([isinstance(law, dict) for law in laws]) & ~np.isnan(observed)
    fitted = known & np.array([isinstance(law, dict) and "sample" not in law for law in laws])
    if fitted.any():
        # A district backtest's reconciled and own rows carry the same law: each distinct law
        # and outcome is scored once.
        params = pd.DataFrame(list(laws[fitted])).assign(observed=observed[fitted])
        distinct, each = np.unique(params.to_numpy(dtype=float), axis=0, return_inverse=True)
        cases = pd.DataFrame(distinct, columns=params.columns)
        law = FatalityLaws.from_params(
            [{str(k): v for k, v in row.items()} for row in cases.to_dict(orient="records")]
        )
        scores[fitted] = law.ranked_probability_score(cases["observed"].to_numpy())[each.ravel()]
    for row in np.flatnonzero(known & ~fitted):
        scores[row] = empirical_crps(np.asarray(laws[row]["sample"], dtype=float), observed[row])
    return scores


def fatality_scores(rows: pd.DataFrame) -> dict[str, float]:
    """Mean fatality RPS and p10-p90 coverage over the rows whose model forecast fatalities
    (per-row scores from `fatality_rps_rows`, precomputed by `score_backtest`)."""
    rps = (
        rows["fatality_rps"].to_numpy(dtype=float)
        if "fatality_rps" in rows
        else fatality_rps_rows(rows)
    )
    scored = ~np.isnan(rps)
    if not scored.any():
        return {"fatality_rps": float("nan"), "fatality_coverage_p10_p90": float("nan")}
    observed = rows["observed_fatalities"].to_numpy(dtype=float)[scored]
    low = rows["fatalities_p10"].to_numpy(dtype=float)[scored]
    high = rows["fatalities_p90"].to_numpy(dtype=float)[scored]
    return {
        "fatality_rps": float(np.mean(rps[scored])),
        "fatality_coverage_p10_p90": float(np.mean(whole_coverage(low, high, observed))),
    }


def score_backtest(
    results: pd.DataFrame,
    reference: str = "climatology",
    severe_threshold: int = 25,
    by: str = "horizon",
) -> pd.DataFrame:
    """Metrics per model and `by` value (horizon or region), with Brier skill against
    `reference`; per horizon, also pooled over horizons ('all')."""
    scored = results.dropna(subset=["observed_events"])
    if "fatality_rps" not in scored:
        scored = scored.assign(fatality_rps=fatality_rps_rows(scored))
    if "rps" not in scored:
        scored = scored.assign(rps=rps_rows(scored))
    rows = []
    for model, by_model in scored.groupby("model", sort=True):
        groups = [*by_model.groupby(by, sort=True)]
        if by == "horizon":
            groups.append(("all", by_model))
        for key, part in groups:
            rows.append({"model": model, by: str(key), **score(part, severe_threshold)})
    table = pd.DataFrame(rows)
    if reference in set(table["model"]):
        base = table[table["model"] == reference].set_index(by)["brier"]
        table["brier_skill"] = 1 - table["brier"] / table[by].map(base)
    return table
