"""Coverage: every ingest records the span it covers; a period no source covers is missing, never
quiet, and training, backtests and forecasts refuse to read a gap."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from events.coverage import period_covered
from events.periods import Frequency, period_range
from events.series import Series
from features.specs import FeatureSpec, build_features
from service.app import create_app
from service.settings import Settings
from tests.conftest import DATA, SECRET, SMALL_TRAINING, run_cli

OCTOBER_2023 = DATA / "ucdp_candidate_v23_0_10_pakistan.csv"
GAP = period_range("2022-01", "2023-09", Frequency.MONTH)


@pytest.fixture
def gap_home(recent_home: Path) -> Path:
    """GED 22.1 (from 2010, to 2021-12), then the real October 2023 candidate file."""
    code, out = run_cli(recent_home, "ingest", str(OCTOBER_2023))
    assert code == 0 and "covers PAK 2023-10-01..2023-10-31" in out, out
    return recent_home


def test_a_month_without_data_is_missing_not_quiet(gap_home: Path, tmp_path: Path) -> None:
    out_file = tmp_path / "panel.csv"
    code, out = run_cli(gap_home, "panel", "--out", str(out_file))
    assert code == 0 and "21 periods missing" in out, out
    panel = pd.read_csv(out_file)
    gap = panel[panel["period"].isin(GAP)]
    assert len(gap) == 7 * 21 and gap["events"].isna().all() and gap["fatalities"].isna().all()
    october = panel[panel["period"] == "2023-10"]
    assert october["events"].sum() == 55 and panel["period"].max() == "2023-10"
    assert (panel[panel["period"] == "2021-12"]["events"] >= 0).all()


def test_training_refuses_the_gap_unless_told_to_stop_before_it(gap_home: Path) -> None:
    config = gap_home / "small.json"
    config.write_text(json.dumps(SMALL_TRAINING))
    code, out = run_cli(gap_home, "train", "--config", str(config))
    assert code == 1
    assert "has no data for 2022-01..2023-09" in out and "--as-of 2021-12" in out, out
    code, out = run_cli(gap_home, "train", "--config", str(config), "--as-of", "2021-12")
    assert code == 0 and "succeeded" in out, out


def test_a_backtest_with_origins_in_the_gap_is_refused(gap_home: Path, tmp_path: Path) -> None:
    output = str(tmp_path / "o.csv")
    code, out = run_cli(
        gap_home, "backtest", "--start", "2023-01", "--end", "2023-02", "--output", output
    )
    assert code == 2 and "origin 2023-01: the data has a gap at 2022-01..2023-09" in out, out
    code, out = run_cli(
        gap_home, "backtest", "--start", "2023-10", "--end", "2023-10", "--output", output
    )
    assert code == 2 and "gap at 2022-01..2023-09" in out, out


def test_coverage_is_shown_by_the_cli_and_the_api(gap_home: Path) -> None:
    code, out = run_cli(gap_home, "events", "coverage")
    assert code == 0, out
    assert "pak-ucdp-month: 2010-01..2023-10 (stale" in out
    assert "gaps: 2022-01..2023-09" in out
    assert "pak-ucdp-week: 2010-W01..2023-W43" in out  # 2023-10-31 is a Tuesday: W44 is not covered
    settings = Settings(home=gap_home, secret_key=SECRET)
    with TestClient(create_app(settings)) as client:
        listed = client.get("/v1/series").json()
    month = next(s for s in listed["data"] if s["series"] == "pak-ucdp-month")
    assert month["gaps"] == [{"first": "2022-01", "last": "2023-09"}]
    assert (month["last_period"], month["covered_until"], month["stale"]) == (
        "2023-10",
        "2023-10-31",
        True,
    )
    assert month["spans"]["day"] == [
        {"first": "2010-01-01", "last": "2021-12-31"},
        {"first": "2023-10-01", "last": "2023-10-31"},
    ]
    assert listed["default_series"] == "pak-ucdp-month"


def test_a_period_is_covered_by_what_its_source_counts() -> None:
    month, week = Frequency.MONTH, Frequency.WEEK
    # Events: most of the period's days.
    assert period_covered("day", [(date(2026, 1, 29), date(2026, 2, 28))], "2026-02", month)
    assert not period_covered("day", [(date(2026, 1, 29), date(2026, 2, 28))], "2026-01", month)
    # ACLED weeks (Saturday to Friday): a month needs every week that starts in it.
    saturdays_of_march_2024 = [(date(2024, 3, 2), date(2024, 4, 5))]
    assert period_covered("week", saturdays_of_march_2024, "2024-03", month)
    assert not period_covered("week", [(date(2024, 3, 9), date(2024, 4, 5))], "2024-03", month)
    # ... and an ISO week the ACLED week that holds five of its days (from the Saturday before).
    assert period_covered("week", [(date(2024, 3, 2), date(2024, 3, 8))], "2024-W10", week)
    assert not period_covered("week", [(date(2024, 3, 2), date(2024, 3, 8))], "2024-W11", week)
    # Months say nothing of weeks.
    assert not period_covered("month", [(date(2024, 3, 1), date(2024, 3, 31))], "2024-W10", week)


def test_features_read_a_missing_period_as_unknown_not_quiet() -> None:
    periods = period_range("2020-01", "2021-12", Frequency.MONTH)
    busy = pd.DataFrame({"region": "PK-KP", "period": periods, "events": 4.0, "fatalities": 10.0})
    gapped = busy.copy()
    gapped.loc[gapped["period"].between("2021-01", "2021-06"), ["events", "fatalities"]] = np.nan
    spec = FeatureSpec.default(Frequency.MONTH)
    spec = FeatureSpec(**{**spec.__dict__, "groups": ()})
    features = build_features(gapped, spec).loc[("PK-KP", "2021-12")]
    assert features["share_with_events_12"] == 1.0  # six covered months, all with events
    assert features["log_events_mean_12"] == pytest.approx(np.log1p(4.0))
    assert features["log_periods_since_event"] == 0.0
    series = Series("PAK", "ucdp", Frequency.MONTH)
    assert series.key == "pak-ucdp-month" and Series.parse("PAK-ACLED-WEEK").key == "pak-acled-week"
