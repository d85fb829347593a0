"""The region x period panel: complete, zero-filled, totals preserved, and nothing after as_of."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from events.calendar import CALENDAR_COLUMNS
from events.ingest import ingest_file
from events.panel import build_panel, panel_from_events
from events.periods import Frequency, period_end, period_of
from events.series import Series
from store.db import make_engine, migrate
from tests.conftest import DATA
from tests.real_data import GED_20_1, GED_22_1

REGIONS = ("PK-KP", "PK-BA", "PK-PB", "PK-SD", "PK-IS", "PK-GB", "PK-JK")
GROUPS = ("ttp", "iskp", "baloch", "state", "other")
UCDP_MONTH = Series("PAK", "ucdp", Frequency.MONTH)


def test_monthly_panel_of_ged_22_1_covers_every_region_and_month(engine: Engine) -> None:
    ingest_file(engine, GED_22_1)
    panel = build_panel(engine, UCDP_MONTH, start="1989-01", end="2021-12")

    assert len(panel) == 7 * 396
    assert list(panel.columns[:4]) == ["region", "period", "events", "fatalities"]
    assert set(CALENDAR_COLUMNS) <= set(panel.columns)
    assert not panel.duplicated(["region", "period"]).any()
    assert int(panel["events"].sum()) == 6371  # every resolved event, once
    assert int(panel.loc[panel["region"] == "PK-KP", "events"].sum()) == 4741
    by_type = panel[["events_state_based", "events_non_state", "events_one_sided"]].sum(axis=1)
    assert (by_type == panel["events"]).all()
    by_group = panel[[f"events_{g}" for g in GROUPS]].sum(axis=1)
    assert (by_group == panel["events"]).all()


def test_weekly_panel_counts_the_same_events(engine: Engine) -> None:
    ingest_file(engine, GED_22_1)
    weekly = build_panel(engine, Series("PAK", "ucdp", Frequency.WEEK))
    assert int(weekly["events"].sum()) == 6371
    # GED releases cover whole years: the first ISO week of 1989 is covered, if quiet.
    assert weekly["period"].iloc[0] == "1989-W01"
    assert set(weekly["region"]) == set(REGIONS)


def test_as_of_cuts_events_that_started_later(engine: Engine) -> None:
    ingest_file(engine, GED_22_1)
    full = build_panel(engine, UCDP_MONTH, start="2010-01", end="2010-06")
    cut = build_panel(engine, UCDP_MONTH, start="2010-01", as_of=date(2010, 6, 30))
    pd.testing.assert_frame_equal(full, cut)
    with pytest.raises(ValueError, match="after the as-of date"):
        build_panel(engine, UCDP_MONTH, start="2010-01", end="2010-07", as_of=date(2010, 6, 30))


def test_older_then_newer_release_equals_the_newer_release_alone(
    engine: Engine, tmp_path: Path
) -> None:
    """Revised events are replaced and withdrawn ones leave the panel."""
    ingest_file(engine, GED_20_1)
    ingest_file(engine, GED_22_1)
    fresh = make_engine(f"sqlite:///{tmp_path / 'fresh.db'}")
    migrate(fresh)
    ingest_file(fresh, GED_22_1)

    pd.testing.assert_frame_equal(build_panel(engine, UCDP_MONTH), build_panel(fresh, UCDP_MONTH))


@pytest.mark.parametrize("fixture", ["gtd_pakistan_sample.csv", "acled_pakistan_sample.csv"])
def test_gtd_and_acled_events_appear_in_their_own_series(engine: Engine, fixture: str) -> None:
    # Six scattered events: the file covers whole years, which the sample alone cannot show.
    report = ingest_file(engine, DATA / fixture, covers=(date(2017, 1, 1), date(2018, 12, 31)))
    panel = build_panel(engine, Series("PAK", report.source, Frequency.MONTH))
    assert int(panel["events"].sum()) == 6
    assert len(panel) == 7 * panel["period"].nunique()


def test_unknown_country_and_empty_store_are_clear_errors(engine: Engine) -> None:
    with pytest.raises(ValueError, match="no country definition for 'IND'"):
        build_panel(engine, Series("IND", "ucdp", Frequency.MONTH))
    with pytest.raises(ValueError, match="covers no period of series pak-ucdp-month"):
        build_panel(engine, UCDP_MONTH)
    with pytest.raises(ValueError, match="covers no period"):
        build_panel(engine, UCDP_MONTH, start="2020-01", end="2020-03")


# Property tests on the pure panel builder, with generated event frames.
event_rows = st.lists(
    st.tuples(
        st.sampled_from(REGIONS),
        st.dates(min_value=date(2015, 1, 1), max_value=date(2016, 12, 31)),
        st.integers(min_value=0, max_value=500),
        st.sampled_from([1, 2, 3]),
        st.sampled_from(GROUPS),
    ),
    max_size=60,
)


def _frame(rows: list[tuple[str, date, int, int, str]]) -> pd.DataFrame:
    return pd.DataFrame(
        rows, columns=["region", "date_start", "fatalities_best", "violence_type", "actor_group"]
    )


@settings(max_examples=60, deadline=None)
@given(rows=event_rows, freq=st.sampled_from(["month", "week"]))
def test_panel_preserves_totals_and_is_zero_filled(
    rows: list[tuple[str, date, int, int, str]], freq: str
) -> None:
    start, end = period_of(date(2015, 1, 1), freq), period_of(date(2016, 12, 31), freq)  # type: ignore[arg-type]
    panel = panel_from_events(
        _frame(rows), REGIONS, freq, start=start, end=end, actor_groups=GROUPS
    )  # type: ignore[arg-type]

    periods = panel["period"].unique()
    assert len(panel) == len(REGIONS) * len(periods)
    assert not panel.duplicated(["region", "period"]).any()
    assert panel["events"].sum() == len(rows)
    assert panel["fatalities"].sum() == sum(r[2] for r in rows)
    assert (panel[["events", "fatalities"]] >= 0).all().all()
    for region in REGIONS:
        in_region = [r for r in rows if r[0] == region]
        assert panel.loc[panel["region"] == region, "events"].sum() == len(in_region)


@settings(max_examples=60, deadline=None)
@given(
    rows=event_rows,
    later=event_rows,
    cutoff=st.dates(min_value=date(2015, 1, 1), max_value=date(2016, 12, 31)),
    freq=st.sampled_from(["month", "week"]),
)
def test_as_of_never_uses_a_later_event(
    rows: list[tuple[str, date, int, int, str]],
    later: list[tuple[str, date, int, int, str]],
    cutoff: date,
    freq: str,
) -> None:
    """Adding any events that start after the cut-off changes nothing in the panel."""
    past = [r for r in rows if r[1] <= cutoff]
    future = [
        (r[0], cutoff + timedelta(days=1 + (r[1] - date(2015, 1, 1)).days), *r[2:]) for r in later
    ]
    start = period_of(date(2015, 1, 1), freq)  # type: ignore[arg-type]

    honest = panel_from_events(
        _frame(past), REGIONS, freq, start=start, as_of=cutoff, actor_groups=GROUPS
    )  # type: ignore[arg-type]
    leaky_input = panel_from_events(
        _frame(past + future),
        REGIONS,
        freq,
        start=start,
        as_of=cutoff,
        actor_groups=GROUPS,  # type: ignore[arg-type]
    )

    pd.testing.assert_frame_equal(honest, leaky_input)
    assert honest["events"].sum() == len(past)


@pytest.mark.parametrize("freq", ["month", "week"])
def test_the_whole_panel_is_the_panel_as_of_its_last_period(
    recent_store_file: Path, freq: str
) -> None:
    """Training reuses the whole panel when no cutoff is asked: it must be the honest one."""
    engine = make_engine(f"sqlite:///{recent_store_file}")
    series = Series("PAK", "ucdp", Frequency(freq))
    whole = build_panel(engine, series)
    last = str(whole["period"].max())
    as_of = build_panel(engine, series, end=last, as_of=period_end(last, Frequency(freq)))
    pd.testing.assert_frame_equal(whole, as_of)
