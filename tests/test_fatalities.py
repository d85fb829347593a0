"""Fatality forecasts: the spliced law, its agreement with p_severe, what the API answers from
it and how backtests score it against the trailing empirical laws."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from events.panel import build_panel, gazetteer_of
from events.periods import Frequency
from events.series import Series
from features.specs import default_spec
from models.fatalities import FatalityLaws
from models.laws import FatalityLaw
from models.reference import trailing_values
from service.app import create_app
from store.db import make_engine
from tests.conftest import served_settings
from training.backtest import BacktestRequest, run_backtest
from training.metrics import empirical_crps, score_backtest

THRESHOLD = 25.0
laws = st.tuples(
    st.floats(0.0, 1.0),  # p_fatal
    st.floats(0.0, 1.0),  # p_severe as a share of p_fatal
    st.floats(-3.0, 12.0),  # location of log fatalities
    st.floats(0.25, 3.0),  # scale
)


def _law(params: tuple[float, float, float, float]) -> FatalityLaws:
    p_fatal, share, location, scale = params
    return FatalityLaws(
        np.array([p_fatal]), np.array([p_fatal * share]), np.array([location]),
        np.array([scale]), THRESHOLD,
    )  # fmt: skip


@settings(max_examples=80, deadline=None)
@given(params=laws)
def test_the_law_splices_at_p_fatal_and_p_severe(params: tuple[float, float, float, float]) -> None:
    law = _law(params)
    counts = np.array([0, 1, 2, 5, 10, 24, 25, 26, 100, 1000, 10**6], dtype=float)[:, None]
    chance = law.exceedance(counts)[:, 0]
    assert chance[0] == 1.0
    assert chance[1] == pytest.approx(law.p_fatal[0])
    assert chance[6] == pytest.approx(law.p_severe[0])
    assert np.all(np.diff(chance) <= 1e-12), chance
    # The web tier answers the same numbers without scipy.
    stored = law.params()[0]
    for k, expected in zip(counts[:, 0].astype(int), chance, strict=True):
        assert FatalityLaw.from_json(stored).exceedance(int(k)) == pytest.approx(expected, abs=1e-7)


@settings(max_examples=40, deadline=None)
@given(params=laws, level=st.floats(0.01, 0.99))
def test_quantiles_invert_the_exceedance(
    params: tuple[float, float, float, float], level: float
) -> None:
    law = _law(params)
    q = float(law.quantile(level)[0])
    if q == 0.0:  # inside the mass at none
        assert 1.0 - level >= law.p_fatal[0] - 1e-9
    else:
        assert float(law.exceedance(q)[0]) == pytest.approx(1.0 - level, abs=1e-6)


def test_expected_value_and_score_agree_with_sampling() -> None:
    law = FatalityLaws(
        np.array([0.9, 0.5, 0.99]), np.array([0.3, 0.01, 0.9]), np.array([2.0, 1.0, 5.0]),
        np.array([1.0, 0.8, 1.2]), THRESHOLD,
    )  # fmt: skip
    draws = np.floor(law.quantile(np.random.default_rng(1).random(200_000)[:, None]))
    np.testing.assert_allclose(draws.mean(axis=0), law.expected(), rtol=0.02)
    observed = np.array([3.0, 0.0, 200.0])
    sampled = (
        np.abs(draws - observed).mean(axis=0)
        - np.abs(draws - np.roll(draws, 1, axis=0)).mean(axis=0) / 2
    )
    np.testing.assert_allclose(law.ranked_probability_score(observed), sampled, rtol=0.02)


def test_empirical_crps_is_the_rps_of_the_sample() -> None:
    sample = np.array([0.0, 3.0, 3.0, 40.0])
    by_counts = sum(
        (np.mean(sample <= k) - (k >= 7)) ** 2 for k in range(0, 60)
    )  # the RPS, summed over counts
    assert empirical_crps(sample, 7.0) == pytest.approx(by_counts)
    assert np.isnan(empirical_crps(np.array([]), 1.0))


def test_references_read_only_their_window_up_to_the_origin() -> None:
    periods = [f"2020-{m:02d}" for m in range(1, 13)]
    panel = pd.DataFrame(
        {"region": "PK-KP", "period": periods, "fatalities": [float(m) for m in range(1, 13)]}
    )
    panel.loc[panel["period"] == "2020-04", "fatalities"] = np.nan  # not covered: left out
    rows = pd.DataFrame({"region": ["PK-KP"], "origin": ["2020-05"]})
    (sample,) = trailing_values(panel, rows, "fatalities", 3)
    assert sample.tolist() == [3.0, 5.0]


def test_backtests_score_fatalities_of_ours_and_the_references(recent_store_file: Path) -> None:
    store = make_engine(f"sqlite:///{recent_store_file}")
    panel = build_panel(store, Series("PAK", "ucdp", Frequency.MONTH))
    store.dispose()
    models = ("ensemble", "climatology", "recent", "last_value_poisson")
    request = BacktestRequest(freq=Frequency.MONTH, start="2019-01", end="2019-02",
                              horizons=(1,), models=models, n_jobs=1)  # fmt: skip
    results = run_backtest(panel, request, default_spec(gazetteer_of("PAK"), Frequency.MONTH))
    ours = results[results["model"] == "ensemble"]
    # p_severe is the fatality law's P(>= 25) and the interval brackets the median.
    laws = FatalityLaws.from_params(list(ours["fatality_law"]))
    np.testing.assert_allclose(laws.exceedance(25.0), ours["p_severe"], atol=1e-8)
    assert (ours["fatalities_p10"] <= ours["fatalities_p50"]).all()
    assert (ours["fatalities_p50"] <= ours["fatalities_p90"]).all()
    table = score_backtest(results).set_index(["model", "horizon"])
    for model in ("ensemble", "climatology", "recent"):
        assert table.loc[(model, "all"), "fatality_rps"] > 0
    assert np.isnan(table.loc[("last_value_poisson", "all"), "fatality_rps"])
    recent = results[results["model"] == "recent"].iloc[0]
    assert len(recent["fatality_law"]["sample"]) == 12


def test_the_api_serves_fatalities_and_any_exceedance(served_home: Path) -> None:
    with TestClient(create_app(served_settings(served_home))) as client:
        body = client.get("/v1/forecasts", params={"fatality_exceedance": "0,1,25,100"}).json()
        for row in body["data"]:
            fatalities = row["fatalities"]
            chance = fatalities["exceedance"]
            assert fatalities["severe_threshold"] == 25
            assert chance["25"] == pytest.approx(row["p_severe"], abs=1e-6)
            assert fatalities["p_severe"] == pytest.approx(row["p_severe"], abs=1e-6)
            assert chance["0"] == 1.0 and chance["1"] >= chance["25"] >= chance["100"]
            interval = fatalities["interval"]
            assert 0 <= interval["p10"] <= interval["p50"] <= interval["p90"]
            assert fatalities["expected"] >= 0
        kp = client.get("/v1/forecasts/PK-KP", params={"fatality_exceedance": "50"}).json()
        assert 0.0 <= kp["data"][0]["fatalities"]["exceedance"]["50"] <= 1.0
        for bad in ("-1", "x", ",".join(["1"] * 21)):
            answer = client.get("/v1/forecasts", params={"fatality_exceedance": bad})
            assert answer.status_code == 422 and "fatality_exceedance" in answer.text
        plain = client.get("/v1/forecasts").json()["data"][0]
        assert plain["fatalities"]["exceedance"] is None
