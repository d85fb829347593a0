"""Scores behave as their definitions say."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.distributions import count_pmfs
from models.fatalities import FatalityLaws
from models.laws import CountLaw
from training.metrics import (
    brier,
    empirical_crps,
    expected_calibration_error,
    fatality_rps_rows,
    pinball,
    pit_coverage_rows,
    score,
    score_backtest,
)


def test_brier_and_calibration_of_perfect_and_constant_forecasts() -> None:
    outcome = np.array([1.0, 0.0, 1.0, 0.0])
    assert brier(outcome, outcome) == 0.0
    assert brier(np.full(4, 0.5), outcome) == 0.25
    # A constant forecast equal to the base rate is perfectly calibrated.
    assert expected_calibration_error(np.full(4, 0.5), outcome) == 0.0
    # Saying 0.9 where half happen is off by 0.4.
    assert expected_calibration_error(np.full(4, 0.9), outcome) == pytest.approx(0.4)


def test_pinball_penalizes_each_side_by_its_level() -> None:
    observed = np.array([10.0])
    assert pinball(np.array([8.0]), observed, 0.9) == pytest.approx(1.8)
    assert pinball(np.array([12.0]), observed, 0.9) == pytest.approx(0.2)


def _rows(model: str, p: list[float], observed: list[int], horizon: int = 1) -> pd.DataFrame:
    n = len(p)
    return pd.DataFrame(
        {
            "model": model, "horizon": horizon, "p_event": p, "p_severe": [0.0] * n,
            "expected_events": observed, "events_p10": observed, "events_p50": observed,
            "events_p90": observed, "observed_events": observed, "observed_fatalities": [0] * n,
        }
    )  # fmt: skip


def test_scores_and_skill_against_climatology() -> None:
    results = pd.concat(
        [
            _rows("climatology", [0.5, 0.5, 0.5, 0.5], [1, 0, 2, 0]),
            _rows("ours", [0.9, 0.1, 0.9, 0.1], [1, 0, 2, 0]),
        ]
    )
    table = score_backtest(results).set_index(["model", "horizon"])
    assert table.loc[("ours", "1"), "brier"] == pytest.approx(0.01)
    assert table.loc[("ours", "1"), "brier_skill"] == pytest.approx(1 - 0.01 / 0.25)
    assert table.loc[("ours", "1"), "roc_auc"] == 1.0
    assert table.loc[("ours", "all"), "coverage_p10_p90"] == 1.0
    assert table.loc[("ours", "all"), "pinball"] == 0.0


def test_scores_per_region_are_each_regions_own_rows() -> None:
    ours = _rows("ours", [0.9, 0.1, 0.9, 0.6], [1, 0, 3, 0]).assign(region=["A", "A", "B", "B"])
    # A one-sided interval in region B: the observed 3 lies above its p90 of 2.
    ours.loc[2, "events_p90"] = 2.0
    base = _rows("climatology", [0.5] * 4, [1, 0, 3, 0]).assign(region=["A", "A", "B", "B"])
    table = score_backtest(pd.concat([ours, base]), by="region").set_index(["model", "region"])
    assert set(table.index) == {
        ("ours", "A"),
        ("ours", "B"),
        ("climatology", "A"),
        ("climatology", "B"),
    }
    assert table.loc[("ours", "A"), "brier"] == pytest.approx(0.01)
    assert table.loc[("ours", "B"), "brier"] == pytest.approx((0.01 + 0.36) / 2)
    assert table.loc[("ours", "A"), "coverage_p10_p90"] == 1.0
    assert table.loc[("ours", "B"), "coverage_p10_p90"] == 0.5
    assert table.loc[("ours", "B"), "brier_skill"] == pytest.approx(1 - 0.185 / 0.25)


def test_undefined_auc_is_nan_not_an_error() -> None:
    metrics = score(_rows("ours", [0.2, 0.3], [0, 0]))
    assert np.isnan(metrics["roc_auc"])


def test_each_row_keeps_its_own_fatality_score_when_laws_repeat() -> None:
    """Rows with equal laws are scored once; every row still gets its own law's and outcome's
    score, and a reference's empirical sample its CRPS."""
    first = {"p_fatal": 0.6, "p_severe": 0.1, "location": 1.5, "scale": 1.2, "threshold": 25.0}
    second = {"p_fatal": 0.2, "p_severe": 0.01, "location": 0.5, "scale": 0.8, "threshold": 25.0}
    rows = pd.DataFrame(
        {
            "fatality_law": [first, first, second, first, {"sample": [0.0, 3.0, 40.0]}, None],
            "observed_fatalities": [4.0, 4.0, 0.0, 30.0, 3.0, 2.0],
        }
    )
    scores = fatality_rps_rows(rows)
    alone = [
        FatalityLaws.from_params([law]).ranked_probability_score(np.array([y]))[0]
        for law, y in ((first, 4.0), (first, 4.0), (second, 0.0), (first, 30.0))
    ]
    np.testing.assert_allclose(scores[:4], alone, rtol=1e-12)
    assert scores[0] != scores[3]
    assert scores[4] == pytest.approx(empirical_crps(np.array([0.0, 3.0, 40.0]), 3.0))
    assert np.isnan(scores[5])


def test_pit_coverage_reads_the_ends_back_as_levels_of_each_row_law() -> None:
    """Outcomes drawn from each row's own law: its 0.1 and 0.9 quantiles hold 80% of PITs,
    quiet (p10 cut to 0) or busy, while whole counts say over 94% for the quiet law. The old
    quiet ends [0, q(0.8)] read as levels 0.2-0.8: 60%."""
    rng = np.random.default_rng(4)
    for mean in (0.05, 8.0):
        (pmf, tail), = count_pmfs(np.array([mean]), np.array([0.0]))  # fmt: skip
        law = CountLaw(pmf, tail)
        observed = rng.poisson(mean, 6000).astype(float)
        rows = pd.DataFrame({"count_law": [law.to_json()] * 6000, "observed_events": observed})
        low, high = law.interval(0.8)
        covered = pit_coverage_rows(rows.assign(events_p10=low, events_p90=high))
        assert abs(covered.mean() - 0.8) < 0.015
        if low == 0.0:
            assert np.mean(observed <= high) > 0.94
            old = pit_coverage_rows(rows.assign(events_p10=0.0, events_p90=law.quantile(0.8)))
            assert abs(old.mean() - 0.6) < 0.015
    # Without a law (an old table), or an outcome, there is nothing to read.
    bare = pd.DataFrame({"events_p10": [0.0], "events_p90": [1.0], "observed_events": [0.0]})
    assert np.isnan(pit_coverage_rows(bare)).all()
