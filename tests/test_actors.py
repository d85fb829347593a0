"""Per-actor forecasts: thinning the all-actor count law by each group's share keeps them
coherent with it; backtests score them per group against the group's own references."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from events.panel import build_panel, gazetteer_of
from events.periods import Frequency
from events.series import Series
from features.specs import default_spec
from models.actors import ActorShares, group_forecast
from models.base import CountForecast
from models.laws import CountLaw
from service.alerts import evaluation, rules
from service.app import create_app
from store.db import make_engine, write_transaction
from tests.conftest import served_settings
from training import issued, registry
from training.actor_metrics import actor_metrics
from training.backtest import BacktestRequest, run_backtest
from training.issued import Issue


@settings(max_examples=60, deadline=None)
@given(
    mean=st.floats(0.01, 60.0),
    dispersion=st.floats(0.001, 3.0),
    p_event=st.floats(0.01, 0.999),
    shares=st.lists(st.floats(0.0, 1.0), min_size=3, max_size=3),
)
def test_group_forecasts_are_coherent_with_the_total(
    mean: float, dispersion: float, p_event: float, shares: list[float]
) -> None:
    total = max(sum(shares), 1.0)
    shares = [s / total for s in shares]  # groups never hold more than all events
    forecast = CountForecast(
        p_event=np.array([p_event]), mean=np.array([mean]), dispersion=np.array([dispersion]),
        p_severe=np.array([0.0]), zero_from_p_event=True,
    )  # fmt: skip
    (law,) = forecast.mass_functions()
    expected = float(forecast.expected()[0])
    counts = CountLaw.from_json(law)
    groups = [group_forecast(counts, share, expected, p_event) for share in shares]
    rest = expected - sum(g["expected_events"] for g in groups)
    # The groups' expected counts and the rest's add up to the total; none is negative.
    assert sum(g["expected_events"] for g in groups) + rest == pytest.approx(expected)
    assert rest >= -1e-8  # each group's mean is stored to 1e-9
    for group, share in zip(groups, shares, strict=True):
        assert group["p_event"] <= p_event  # P(any of the group's) <= P(any event)
        whole = counts.thinned(share)  # the group's law, as the API answers from it
        assert whole.pmf.sum() == pytest.approx(1.0, abs=1e-9)
        assert whole.exceedance(1) == pytest.approx(group["p_event"], abs=1e-8)
        if share == 0.0:
            assert group["p_event"] == pytest.approx(0.0, abs=1e-8)  # laws are stored to 1e-9
    if shares[0] == 1.0:
        assert groups[0]["p_event"] == pytest.approx(p_event, abs=1e-6)


def test_shares_follow_recent_events_and_fall_back_on_the_long_run() -> None:
    periods = [f"{2000 + i // 12}-{i % 12 + 1:02d}" for i in range(36)]
    index = pd.MultiIndex.from_product([["PK-BA", "PK-KP"], periods], names=["region", "period"])
    n = len(index)
    ba = index.get_level_values("region") == "PK-BA"
    # Balochistan: 10 events a year in 12 months, all Baloch; Khyber Pakhtunkhwa: all TTP.
    X = pd.DataFrame(
        {
            "log_events_mean_12": np.log1p(np.full(n, 10 / 12)),
            "log_baloch_events_12": np.log1p(np.where(ba, 10.0, 0.0)),
            "log_ttp_events_12": np.log1p(np.where(ba, 0.0, 10.0)),
        },
        index=index,
    )
    shares = ActorShares(("ttp", "baloch"), 12, 120).fit(X).shares(X)
    assert shares["baloch"][ba].min() > 0.9 and shares["baloch"][~ba].max() < 0.1
    assert shares["ttp"][~ba].min() > 0.9
    quiet = X.assign(log_events_mean_12=0.0, log_baloch_events_12=0.0, log_ttp_events_12=0.0)
    fallback = ActorShares(("ttp", "baloch"), 12, 120).fit(X).shares(quiet)
    # No recent events: the region's long-run shares.
    assert fallback["baloch"][ba].min() > 0.9 and fallback["ttp"][~ba].min() > 0.9


def test_backtests_score_each_group_against_its_references(recent_store_file: Path) -> None:
    store = make_engine(f"sqlite:///{recent_store_file}")
    panel = build_panel(store, Series("PAK", "ucdp", Frequency.MONTH))
    store.dispose()
    request = BacktestRequest(freq=Frequency.MONTH, start="2019-01", end="2019-02",
                              horizons=(1,), models=("ensemble", "climatology", "recent"), n_jobs=1)  # fmt: skip
    results = run_backtest(panel, request, default_spec(gazetteer_of("PAK"), Frequency.MONTH))
    ours = results[results["model"] == "ensemble"]
    for row in ours.itertuples():
        groups = row.actors
        assert set(groups) == {"ttp", "iskp", "baloch"}
        assert sum(g["expected_events"] for g in groups.values()) <= row.expected_events + 1e-9
        assert all(g["p_event"] <= row.p_event + 1e-9 for g in groups.values())
    table = actor_metrics(results).set_index(["model", "group", "horizon"])
    for model in ("ensemble", "recent", "climatology"):
        for group in ("ttp", "iskp", "baloch"):
            assert 0.0 <= table.loc[(model, group, "all"), "brier"] <= 1.0
    recent = results[(results["model"] == "recent") & (results["region"] == "PK-KP")].iloc[0]
    history = panel[(panel["region"] == "PK-KP") & (panel["period"] <= "2019-01")].tail(12)
    assert recent["actors"]["ttp"]["p_event"] == pytest.approx(
        float((history["events_ttp"] > 0).mean())
    )


def test_the_api_serves_one_actor_group(served_home: Path) -> None:
    with TestClient(create_app(served_settings(served_home))) as client:
        body = client.get("/v1/forecasts", params={"actor": "ttp", "exceedance": "1,3"}).json()
        for row in body["data"]:
            group = row["actor"]
            assert group["group"] == "ttp" and 0.0 <= group["share"] <= 1.0
            assert group["p_event"] <= row["p_event"]
            assert group["expected_events"] <= row["expected_events"] + 1e-8
            assert group["exceedance"]["1"] == pytest.approx(group["p_event"], abs=1e-6)
            interval = group["events_interval"]
            assert 0 <= interval["p10"] <= interval["p50"] <= interval["p90"]
        kp = client.get("/v1/forecasts/PK-KP", params={"actor": "baloch"}).json()
        assert kp["data"][0]["actor"]["group"] == "baloch"
        malformed = client.get("/v1/forecasts", params={"actor": "al-qaeda"})
        assert malformed.status_code == 422 and "not an actor group key" in malformed.text
        untracked = client.get("/v1/forecasts", params={"actor": "taliban"})
        assert untracked.status_code == 422
        assert untracked.json()["error"]["details"]["valid_actors"] == ["baloch", "iskp", "ttp"]
        assert client.get("/v1/forecasts").json()["data"][0]["actor"] is None


def test_alert_rules_watch_one_actor_group(served_home: Path) -> None:
    engine = make_engine((served_home / "database_url.txt").read_text())
    champion = registry.champion(engine, "pak-ucdp-month")
    assert champion is not None
    issue = issued.latest_issue(engine, champion)
    assert issue is not None

    def with_ttp(p_event: float, all_actors: float) -> Issue:
        rows = []
        for row in issue.rows:
            if (row.region, row.horizon) == ("PK-KP", 1):
                ttp = replace(row.actors["ttp"], p_event=p_event)
                row = replace(row, p_event=all_actors, actors={**row.actors, "ttp": ttp})
            rows.append(row)
        return replace(issue, rows=tuple(rows))

    rule = {"name": "TTP in KP", "region": "PK-KP", "horizon": 1, "threshold": 0.5}
    created = rules.create_rule(engine, rules.AlertRuleIn(**rule, actor_group="ttp"), "cli")
    assert created.actor_group == "ttp"
    with write_transaction(engine) as conn:
        # The group's probability is watched, not all actors'.
        assert evaluation.evaluate(conn, with_ttp(0.2, all_actors=0.99)) == 0
        assert evaluation.evaluate(conn, with_ttp(0.9, all_actors=0.95)) == 1
    (alert,) = evaluation.list_alerts(engine, state="firing")[0]
    assert alert["value"] == pytest.approx(0.9)
    for bad in ({"target": "p_severe"}, {"condition": "above_average", "threshold": 2.0}):
        with pytest.raises(ValidationError):
            rules.AlertRuleIn(**{**rule, **bad}, actor_group="ttp")
