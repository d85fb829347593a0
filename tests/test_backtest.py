"""The backtest command and API: option checks before any work, tables, reports, weeks."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from events.gazetteer import default_resolver
from features.specs import FeatureSpec
from models.catalog import make_forecaster
from service.cli import app
from service.settings import get_settings
from tests.conftest import DATA
from tests.real_data import GED_22_1
from tests.synthetic import REGIONS, generate_panel
from training.backtest import backtest, with_reference_laws
from training.report import MAX_PLOTTED_REGIONS

GED = str(GED_22_1)


@pytest.fixture
def run(tmp_path: Path) -> Iterator[object]:
    runner = CliRunner()

    def invoke(*args: str) -> tuple[int, str, str]:
        get_settings.cache_clear()
        result = runner.invoke(
            app,
            list(args),
            env={"THREATCAST_HOME": str(tmp_path / "home"), "THREATCAST_DATABASE_URL": ""},
        )
        return result.exit_code, result.stdout, result.stderr

    yield invoke
    get_settings.cache_clear()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--start", "2021-12", "--end", "2016-01"], "--start 2021-12 is after --end 2016-01"),
        (
            ["--start", "2016-01", "--end", "2021-12", "--horizons", "1,9"],
            "horizons must be between 1 and 6",
        ),
        (["--start", "2016-01", "--end", "2021-12", "--horizons", "one"], "use a list like 1,3,6"),
        (["--start", "2016-1", "--end", "2021-12"], "expected YYYY-MM"),
        (
            ["--start", "2016-01", "--end", "2021-12", "--models", "prophet"],
            "unknown models ['prophet']",
        ),
        (["--start", "2016-01", "--end", "2021-12", "--source", "cast"], "'cast' is not one of"),
        (
            ["--start", "2016-01", "--end", "2021-12", "--try-features", "count"],
            "unknown optional features ['count']; known: across, enclosing",
        ),
        (
            ["--start", "2016-W01", "--end", "2016-W10", "--freq", "week", "--horizons", "9"],
            "between 1 and 8",
        ),
    ],
)
def test_malformed_options_are_refused_before_any_work(
    run: object, tmp_path: Path, args: list[str], message: str
) -> None:
    output = tmp_path / "out.csv"
    code, _, err = run("backtest", "--events", GED, "--output", str(output), *args)  # type: ignore[operator]
    assert code == 2
    assert message in err
    assert not output.exists()


def test_output_format_is_checked_before_any_work(run: object, tmp_path: Path) -> None:
    code, _, err = run(
        "backtest",
        "--events",
        GED,
        "--start",
        "2016-01",
        "--end",
        "2016-02",
        "--output",
        str(tmp_path / "o.txt"),
    )  # type: ignore[operator]
    assert code == 2 and "use a .csv or .parquet file name" in err


def test_empty_event_file_is_refused(run: object, tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    code, _, err = run(
        "backtest",
        "--events",
        str(empty),
        "--start",
        "2016-01",
        "--end",
        "2016-02",
        "--output",
        str(tmp_path / "o.csv"),
    )  # type: ignore[operator]
    assert code == 1 and "the file is empty" in err


def test_origins_need_history_and_data(run: object, tmp_path: Path) -> None:
    code, _, err = run(
        "backtest",
        "--events",
        GED,
        "--start",
        "1992-01",
        "--end",
        "1992-02",
        "--output",
        str(tmp_path / "o.csv"),
    )  # type: ignore[operator]
    assert code == 2 and "too little history" in err
    code, _, err = run(
        "backtest",
        "--events",
        GED,
        "--start",
        "2021-06",
        "--end",
        "2022-03",
        "--output",
        str(tmp_path / "o.csv"),
    )  # type: ignore[operator]
    assert code == 2 and "origins must lie within the data" in err


def test_backtest_on_real_data_writes_table_and_report(
    run: object, tmp_path: Path, recent_ged_file: Path
) -> None:
    output, report = tmp_path / "forecasts.csv", tmp_path / "report"
    code, out, err = run(  # type: ignore[operator]
        "backtest", "--events", str(recent_ged_file), "--start", "2021-01", "--end", "2021-03", "--horizons", "1,3",
        "--output", str(output), "--report", str(report), "--n-jobs", "1",
    )  # fmt: skip
    assert code == 0, err
    table = pd.read_csv(output)
    assert len(table) == 7 * 3 * 2 * 4  # regions x origins x horizons x (ensemble + 3 references)
    assert set(table["model"]) == {"ensemble", "climatology", "recent", "last_value_poisson"}
    # Targets after the data's end (2021-12) are kept but not scored.
    assert table.loc[table["period"] > "2021-12", "observed_events"].isna().all()
    metrics = pd.read_csv(report / "metrics.csv")
    assert {"brier", "brier_skill", "roc_auc", "average_precision", "calibration_error", "severe_brier",
            "pinball", "coverage_p10_p90", "mae"} <= set(metrics.columns)  # fmt: skip
    by_region = pd.read_csv(report / "metrics_by_region.csv")
    assert len(by_region) == 7 * 4  # regions x models
    kp = by_region[(by_region["model"] == "ensemble") & (by_region["region"] == "PK-KP")].iloc[0]
    scored = table[(table["model"] == "ensemble") & (table["region"] == "PK-KP")].dropna(
        subset=["observed_events"]
    )
    assert kp["n"] == len(scored) and kp["brier"] == pytest.approx(
        ((scored["p_event"] - (scored["observed_events"] > 0)) ** 2).mean()
    )
    for image in ("reliability.png", "regions.png"):
        assert (report / image).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "ensemble" in out and "report written" in out
    # The service's own store was not touched.
    assert not (tmp_path / "home" / "threatcast.db").exists()


def test_weekly_backtest_runs_end_to_end(
    run: object, tmp_path: Path, recent_ged_file: Path
) -> None:
    output = tmp_path / "weeks.csv"
    code, _, err = run(  # type: ignore[operator]
        "backtest", "--events", str(recent_ged_file), "--freq", "week", "--start", "2021-W40", "--end", "2021-W41",
        "--horizons", "1,8", "--output", str(output), "--report", str(tmp_path / "r"), "--n-jobs", "1",
        "--models", "ensemble,climatology",
    )  # fmt: skip
    assert code == 0, err
    table = pd.read_csv(output)
    assert set(table["origin"]) == {"2021-W40", "2021-W41"}
    assert set(table.loc[table["horizon"] == 8, "period"]) == {"2021-W48", "2021-W49"}


@pytest.mark.parametrize("family", ["negative_binomial", "ensemble"])
def test_backtest_equals_fitting_at_each_origin_by_hand(family: str) -> None:
    """The backtest is no more than fit-on-history, predict-from-origin, for every origin: the
    work its origins share (features.memo) never changes a forecast."""
    panel = generate_panel(seed=3)
    spec = FeatureSpec.default("month")
    factory = partial(make_forecaster, family, spec, (1, 2))
    results = backtest(panel, {"nb": factory}, ["2013-01", "2013-02"], (1, 2))
    for origin in ("2013-01", "2013-02"):
        history = panel[panel["period"] <= origin]
        expected = factory().fit(history).predict(history, origin, (1, 2))
        got = results[results["origin"] == origin]
        pd.testing.assert_frame_equal(
            got[expected.columns].reset_index(drop=True),
            expected.sort_values(["horizon", "region"]).reset_index(drop=True),
        )
    assert results["observed_events"].notna().all() and len(results) == 2 * 2 * len(REGIONS)


def test_backtest_uses_ingested_events_without_events_option(run: object, tmp_path: Path) -> None:
    run("ingest", str(DATA / "acled_pakistan_sample.csv"))  # type: ignore[operator]
    code, _, err = run(
        "backtest",
        "--start",
        "2017-03",
        "--end",
        "2017-04",
        "--output",
        str(tmp_path / "o.csv"),
        "--series",
        "pak-acled-month",
    )  # type: ignore[operator]
    assert code == 2 and "too little history" in err  # six events of 2017 are not enough history


def test_backtest_forecasts_ignore_absurd_values_after_each_origin() -> None:
    panel = generate_panel(seed=5)
    origins = ["2012-06", "2012-07"]
    poisoned = panel.copy()
    counted = [c for c in panel.columns if c.startswith("events") or c == "fatalities"]
    poisoned.loc[poisoned["period"] > origins[-1], counted] = 99_999
    spec = FeatureSpec.default("month")
    factories = {
        name: partial(make_forecaster, name, spec, (1, 6)) for name in ("ensemble", "recent")
    }
    # The references' fatality laws are read from the panel: up to each origin only.
    clean = with_reference_laws(backtest(panel, factories, origins, (1, 6)), panel, spec)
    dirty = with_reference_laws(backtest(poisoned, factories, origins, (1, 6)), poisoned, spec)
    assert clean["fatality_law"].notna().all()
    forecast_columns = [c for c in clean.columns if not c.startswith("observed_")]
    pd.testing.assert_frame_equal(clean[forecast_columns], dirty[forecast_columns])


def _png_height(path: Path) -> int:
    return int.from_bytes(path.read_bytes()[20:24], "big")


def test_district_backtest_reconciles_to_the_province_backtest(
    run: object, tmp_path: Path, recent_ged_file: Path
) -> None:
    output, report = tmp_path / "districts.csv", tmp_path / "report"
    code, out, err = run(  # type: ignore[operator]
        "backtest", "--events", str(recent_ged_file), "--level", "adm2", "--start", "2021-03",
        "--end", "2021-04", "--horizons", "1", "--output", str(output), "--report", str(report),
        "--n-jobs", "1", "--models", "ensemble,recent", "--try-features", "enclosing",
    )  # fmt: skip
    assert code == 0, err
    table = pd.read_csv(output)
    parents = default_resolver().gazetteers["PAK"].unit_parents("adm2")
    assert set(table["model"]) == {
        "ensemble", "ensemble-own", "province_split", "recent", "ensemble+enclosing"
    }  # fmt: skip
    # The trial family is the district model's own, with the region's and country's events.
    trial = table[table["model"] == "ensemble+enclosing"]
    own = table[table["model"] == "ensemble-own"]
    assert len(trial) == len(own)
    assert not np.allclose(trial["expected_events"], own["expected_events"])
    assert set(table["region"]) == set(parents) and len(parents) == 133
    provinces = pd.read_csv(report / "provinces" / "metrics_by_region.csv")
    assert set(provinces["region"]) == set(parents.values())
    assert set(provinces["model"]) == {"ensemble"}

    # The model's shares and the historical shares split the same province forecast: equal
    # sums per province, different units.
    def per_province(model: str) -> pd.Series:
        rows = table[table["model"] == model].assign(parent=table["region"].map(parents))
        return rows.groupby(["parent", "origin"])["expected_events"].sum()

    assert np.allclose(per_province("ensemble"), per_province("province_split"))
    assert per_province("ensemble").loc["PK-KP"].gt(1).all()
    split, history = (table[table["model"] == m]["expected_events"].to_numpy()
                      for m in ("ensemble", "province_split"))  # fmt: skip
    assert not np.allclose(split, history)
    # The regions plot draws the busiest units, not 133 panels.
    assert _png_height(report / "regions.png") == int(2.2 * MAX_PLOTTED_REGIONS * 100)
    assert "ensemble-own" in out
