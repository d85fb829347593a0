"""The election slice: target periods within eight weeks of a general election."""

from __future__ import annotations

from datetime import date
from functools import partial

import pandas as pd

from events.periods import Frequency, period_range
from features.specs import FeatureSpec
from models.catalog import make_forecaster
from tests.synthetic import generate_panel
from training.backtest import backtest
from training.elections import election_metrics, near_elections

ELECTIONS = (date(2013, 5, 11), date(2018, 7, 25))


def test_weeks_within_eight_weeks_of_an_election_are_near_it() -> None:
    weeks = pd.Series(period_range("2018-W15", "2018-W45", Frequency.WEEK))
    near = near_elections(weeks, "week", ELECTIONS)
    chosen = list(weeks[near.notna()])
    # 2018-05-30 .. 2018-09-19: W22 (from May 28) is the first week, W38 (to Sep 23) the last.
    assert chosen[0] == "2018-W22" and chosen[-1] == "2018-W38" and len(chosen) == 17
    assert set(near.dropna()) == {date(2018, 7, 25)}


def test_months_near_an_election_and_none_far_from_one() -> None:
    months = pd.Series(period_range("2013-01", "2013-12", Frequency.MONTH))
    near = near_elections(months, "month", ELECTIONS)
    assert list(months[near.notna()]) == ["2013-03", "2013-04", "2013-05", "2013-06", "2013-07"]
    assert near_elections(pd.Series(["2015-06"]), "month", ELECTIONS).isna().all()


def test_the_election_slice_scores_only_the_forecasts_near_each_election() -> None:
    panel = generate_panel(seed=3)
    spec = FeatureSpec.default("month")
    factory = partial(make_forecaster, "climatology", spec, (1, 2))
    origins = period_range("2012-10", "2013-09", Frequency.MONTH)
    results = backtest(panel, {"climatology": factory}, origins, (1, 2))
    table = election_metrics(results, "month", [date(2013, 5, 11), date(2013, 2, 10)])
    near = near_elections(results["period"], "month", [date(2013, 5, 11)])
    alone = table[(table["election"] == "2013-05-11") & (table["horizon"] == "all")]
    assert int(alone["n"].iloc[0]) == int(near.notna().sum()) > 0
    assert set(table["election"]) == {"2013-02-10", "2013-05-11", "all"}
    assert election_metrics(results, "month", [date(2016, 1, 1)]).empty  # none in the window
