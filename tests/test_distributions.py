"""Whole count laws: what issuing stores, the API answers any quantile or count from, and the
ranked probability score reads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from events.panel import build_panel, gazetteer_of
from events.periods import Frequency
from events.series import Series
from features.specs import default_spec
from models.base import CountForecast
from models.catalog import REFERENCE_MODELS
from models.distributions import continuous_quantile, count_pmfs, mass_around
from models.laws import CountLaw, pit_coverage
from service.app import create_app
from store.db import make_engine
from tests.conftest import served_settings
from training.backtest import BacktestRequest, run_backtest
from training.metrics import score_backtest
from training.scores import ranked_probability_score

laws = st.tuples(st.floats(0.001, 80.0), st.floats(0.001, 5.0), st.floats(0.01, 0.999))


@settings(max_examples=60, deadline=None)
@given(law=laws)
def test_the_stored_law_is_the_published_one(law: tuple[float, float, float]) -> None:
    mean, dispersion, p_event = law
    forecast = CountForecast(
        p_event=np.array([p_event]), mean=np.array([mean]), dispersion=np.array([dispersion]),
        p_severe=np.array([0.0]), zero_from_p_event=True,
    )  # fmt: skip
    (stored,) = forecast.mass_functions()
    assert sum(stored["pmf"]) + stored["tail"] == pytest.approx(1.0, abs=1e-6)
    law = CountLaw.from_json(stored)
    assert law.exceedance(1) == pytest.approx(p_event, abs=1e-8)
    for level in (0.1, 0.9):
        assert law.quantile(level) == pytest.approx(float(forecast.quantile(level)[0]), abs=1e-4)


def test_a_level_on_the_zeros_mass_but_for_rounding_reads_as_on_it() -> None:
    """P(0) = 1 - 0.9 is 0.09999999999999998 in floats. The 0.1 quantile of a law with no
    mass at the first positive counts is the top of 0, as the stored law says; read as just
    above it, it jumped to the first count with mass (8.5 here)."""
    forecast = CountForecast(
        p_event=np.array([0.9]), mean=np.array([80.0]), dispersion=np.array([0.01]),
        p_severe=np.array([0.0]), zero_from_p_event=True,
    )  # fmt: skip
    (stored,) = forecast.mass_functions()
    assert float(forecast.quantile(0.1)[0]) == CountLaw.from_json(stored).quantile(0.1) == 0.5
    assert float(forecast.quantile(0.1 + 1e-9)[0]) > 8.0


def test_the_ranked_probability_score_is_the_sum_over_counts() -> None:
    size, prob = 2.0, 0.3
    pmf = stats.nbinom.pmf(np.arange(200), size, prob)
    law = {"pmf": list(pmf), "tail": float(stats.nbinom.sf(199, size, prob))}
    for observed in (0, 3, 12):
        brute = sum((stats.nbinom.cdf(k, size, prob) - (observed <= k)) ** 2 for k in range(400))
        assert ranked_probability_score(law, observed) == pytest.approx(brute, abs=1e-9)
    assert ranked_probability_score({"pmf": [0.0, 1.0], "tail": 0.0}, 1) == 0.0
    assert ranked_probability_score({"pmf": [0.0, 1.0], "tail": 0.0}, 0) == 1.0


def test_the_api_answers_any_quantile_and_count(served_home: Path) -> None:
    with TestClient(create_app(served_settings(served_home))) as client:
        body = client.get(
            "/v1/forecasts", params={"quantiles": "0.1,0.5,0.9,0.99", "exceedance": "0,1,5,10"}
        ).json()
        for row in body["data"]:
            interval, asked = row["events_interval"], row["quantiles"]
            assert asked["0.1"] == pytest.approx(interval["p10"], abs=1e-4)
            assert asked["0.9"] == pytest.approx(interval["p90"], abs=1e-4)
            assert abs(asked["0.5"] - interval["p50"]) <= 0.5 and asked["0.99"] >= asked["0.9"]
            chance = row["exceedance"]
            assert chance["0"] == 1.0 and chance["1"] == pytest.approx(row["p_event"], abs=1e-8)
            assert chance["1"] >= chance["5"] >= chance["10"]
        region = client.get("/v1/forecasts/PK-KP", params={"exceedance": "25"}).json()
        assert 0.0 <= region["data"][0]["exceedance"]["25"] <= 1.0
        for bad in ({"quantiles": "1.5"}, {"quantiles": "x"}, {"exceedance": "-1"},
                    {"exceedance": ",".join(["1"] * 21)}):  # fmt: skip
            assert client.get("/v1/forecasts", params=bad).status_code == 422, bad
        plain = client.get("/v1/forecasts").json()["data"][0]
        assert plain["quantiles"] is None and plain["exceedance"] is None


def test_every_model_of_a_backtest_is_scored_by_rps(recent_store_file: Path) -> None:
    store = make_engine(f"sqlite:///{recent_store_file}")
    panel = build_panel(store, Series("PAK", "ucdp", Frequency.MONTH))
    store.dispose()
    models = ("ensemble", *REFERENCE_MODELS)
    request = BacktestRequest(freq=Frequency.MONTH, start="2019-01", end="2019-02",
                              horizons=(1,), models=models, n_jobs=1)  # fmt: skip
    results = run_backtest(panel, request, default_spec(gazetteer_of("PAK"), Frequency.MONTH))
    table = score_backtest(results).set_index(["model", "horizon"])
    assert set(table.index.get_level_values("model")) == set(models)
    assert table["rps"].notna().all() and (table["rps"] > 0).all()
    climatology = results[results["model"] == "climatology"]
    by_hand = np.mean([ranked_probability_score(law, y) for law, y in
                       zip(climatology["count_law"], climatology["observed_events"], strict=True)])  # fmt: skip
    assert table.loc[("climatology", "all"), "rps"] == pytest.approx(by_hand)


def test_a_law_interval_is_its_own_quantiles_and_holds_its_mass_of_pits() -> None:
    """Draws from the law itself: the interval's ends are q(0.1) and q(0.9), read back as those
    levels, and hold 80% of randomized PITs, for a busy law and for a quiet one (whose q(0.1)
    is on the mass at 0, so whole counts in it are more than 80%)."""
    rng = np.random.default_rng(8)
    for mean in (0.15, 2.0, 40.0):
        (pmf, tail), = count_pmfs(np.array([mean]), np.array([0.3]))  # fmt: skip
        law = CountLaw(pmf, tail)
        low, high = law.interval(0.8)
        assert (low, high) == pytest.approx((law.quantile(0.1), law.quantile(0.9)))
        assert law.level_at(high) == pytest.approx(0.9)
        assert law.level_at(low) == pytest.approx(0.1 if low > 0 else pmf[0] / 2)
        observed = rng.negative_binomial(1 / 0.3, (1 / 0.3) / (1 / 0.3 + mean), 40000)
        below, at = np.array([law.mass_around(int(y)) for y in observed]).T
        assert abs(pit_coverage(0.1, 0.9, below, at).mean() - 0.8) < 0.01
        whole = np.mean((observed >= low) & (observed <= high))
        assert whole > 0.85 if low == 0.0 else abs(whole - 0.8) < 0.05
        assert law.median() == float(np.searchsorted(np.cumsum(pmf), 0.5))


def test_mass_around_a_count_is_the_law_mass_function() -> None:
    """P(count < k) and P(count = k), plain and hurdle, agree with the listed mass function."""
    mean, dispersion, p_event = np.full(6, 3.0), np.full(6, 0.4), np.full(6, 0.7)
    counts = np.arange(6.0)
    for hurdle in (None, p_event):
        (pmf, _), = count_pmfs(mean[:1], dispersion[:1], None if hurdle is None else hurdle[:1])  # fmt: skip
        below, at = mass_around(mean, dispersion, counts, hurdle)
        np.testing.assert_allclose(at, pmf[:6], atol=1e-9)
        np.testing.assert_allclose(below, np.concatenate([[0.0], np.cumsum(pmf)[:5]]), atol=1e-9)


@settings(max_examples=80, deadline=None)
@given(
    law=st.tuples(st.floats(1e-9, 4000.0), st.floats(1e-6, 10.0)),
    level=st.floats(0.001, 0.999),
)
def test_counting_up_finds_the_quantile_scipy_finds(law: tuple[float, float], level: float) -> None:
    """The quantile counted up term by term is scipy's (the largest means take scipy's search
    past the step limit; the smallest are almost surely 1 given a positive count)."""
    mean, dispersion = law
    size = 1.0 / dispersion
    prob = size / (size + mean)
    k = stats.nbinom.ppf(level, size, prob)
    below = stats.nbinom.cdf(k - 1, size, prob) if k > 0 else 0.0
    at = stats.nbinom.pmf(k, size, prob)
    expected = max(k - 0.5 + min(max((level - below) / max(at, 1e-12), 0.0), 1.0), 0.0)
    found = continuous_quantile(np.array([mean]), np.array([dispersion]), level)[0]
    assert found == pytest.approx(expected, rel=1e-6, abs=1e-6)
    # Given a positive count: the hurdle law with every row's p_event 1 is the zero-less law.
    positive = stats.nbinom.sf(0, size, prob)
    if positive > 1e-9:
        k = max(stats.nbinom.isf((1 - level) * positive, size, prob), 1.0)
        below = 1 - stats.nbinom.sf(k - 1, size, prob) / positive
        at = stats.nbinom.pmf(k, size, prob) / positive
        expected = max(k - 0.5 + min(max((level - below) / max(at, 1e-12), 0.0), 1.0), 0.0)
    else:
        expected = 0.5 + level
    hurdle = continuous_quantile(np.array([mean]), np.array([dispersion]), level, np.ones(1))[0]
    assert hurdle == pytest.approx(expected, rel=1e-6, abs=1e-6)
