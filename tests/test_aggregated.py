"""Aggregated counts (ACLED aggregated data, HDX monthly files): stored as counts, each source in
its own series, counted as the layouts say, and refused whole when malformed."""

from __future__ import annotations

import csv
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine, func, select

from events.gazetteer import default_resolver
from events.ingest import IngestError, ingest_file
from events.panel import build_panel
from events.periods import Frequency, period_of
from events.series import Series
from events.tables import coverage_spans, event_counts
from store.db import make_engine, migrate
from tests.conftest import DATA
from tests.real_data import GED_22_1

ACLED_CSV = DATA / "acled_aggregated_pakistan_sample.csv"
ACLED_XLSX = DATA / "acled_aggregated_pakistan_sample.xlsx"
HDX_CSV = DATA / "hdx_political_violence_pakistan_sample.csv"
HDX_XLSX = DATA / "hdx_political_violence_pakistan_sample.xlsx"
UCDP = {freq: Series("PAK", "ucdp", freq) for freq in Frequency}
ACLED = {freq: Series("PAK", "acled", freq) for freq in Frequency}
VIOLENT = {"Battles", "Explosions/Remote violence", "Violence against civilians"}


def _independent_counts(path: Path, freq: Frequency) -> pd.DataFrame:
    """The fixture's political-violence counts per region and period, counted by hand: a week
    is in the month of its first day, and in the ISO week that holds five of its days."""
    codes = default_resolver().gazetteers["PAK"]
    frame = pd.read_csv(path)
    frame = frame[frame["EVENT_TYPE"].isin(VIOLENT)]
    week = pd.to_datetime(frame["WEEK"]).dt.date
    day = week if freq == Frequency.MONTH else week + timedelta(days=2)
    frame = frame.assign(
        region=[codes.code_for_name(name) for name in frame["ADMIN1"]],
        period=[period_of(d, freq) for d in day],
    )
    return frame.groupby(["region", "period"])[["EVENTS", "FATALITIES"]].sum()


def _store(tmp_path: Path, name: str) -> Engine:
    engine = make_engine(f"sqlite:///{tmp_path / name}")
    migrate(engine)
    return engine


@pytest.mark.parametrize("freq", list(Frequency))
def test_sources_are_never_added_together(tmp_path: Path, freq: Frequency) -> None:
    both, alone = _store(tmp_path, "both.db"), _store(tmp_path, "alone.db")
    ingest_file(both, GED_22_1)
    report = ingest_file(both, ACLED_CSV)
    ingest_file(alone, GED_22_1)
    assert (report.kind, report.unit, report.source) == ("counts", "week", "acled")

    pd.testing.assert_frame_equal(build_panel(both, UCDP[freq]), build_panel(alone, UCDP[freq]))
    acled = build_panel(both, ACLED[freq]).set_index(["region", "period"])
    expected = _independent_counts(ACLED_CSV, freq)
    assert acled["events"].notna().all()  # every week of the file is covered
    nonzero = acled[acled["events"] > 0][["events", "fatalities"]]
    assert nonzero.index.sort_values().equals(expected.index.sort_values())
    assert (nonzero["events"] == expected["EVENTS"].reindex(nonzero.index)).all()
    assert (nonzero["fatalities"] == expected["FATALITIES"].reindex(nonzero.index)).all()
    assert set(acled.columns) >= {"events", "fatalities"}
    assert not any(c.startswith("events_ttp") for c in acled.columns)  # counts name no actors


def test_the_excel_download_reads_as_the_csv(tmp_path: Path) -> None:
    from_csv, from_xlsx = _store(tmp_path, "csv.db"), _store(tmp_path, "xlsx.db")
    ingest_file(from_csv, ACLED_CSV)
    ingest_file(from_xlsx, ACLED_XLSX)
    for freq in Frequency:
        pd.testing.assert_frame_equal(
            build_panel(from_csv, ACLED[freq]), build_panel(from_xlsx, ACLED[freq])
        )


def test_hdx_monthly_files_make_a_monthly_series_only(tmp_path: Path) -> None:
    for path in (HDX_CSV, HDX_XLSX):
        engine = _store(tmp_path, f"{path.suffix[1:]}.db")
        report = ingest_file(engine, path)
        assert (report.kind, report.unit, report.valid) == ("counts", "month", 475)
        monthly = build_panel(engine, ACLED[Frequency.MONTH]).set_index(["region", "period"])
        hdx = pd.read_csv(HDX_CSV, skiprows=[1])
        hdx["period"] = [
            f"{y}-{pd.Timestamp(f'{m} 1 2000').month:02d}"
            for m, y in zip(hdx.Month, hdx.Year, strict=True)
        ]
        expected = hdx.set_index(["Admin1 Pcode", "period"])["Events"]
        assert monthly["events"].sum() == expected.sum()
        assert (monthly["events"].reindex(expected.index).to_numpy() == expected.to_numpy()).all()
        assert (monthly.index.get_level_values("period").min(), len(monthly) // 7) == (
            "2010-01",
            144,
        )
        with pytest.raises(ValueError, match="covers no period of series pak-acled-week"):
            build_panel(engine, ACLED[Frequency.WEEK])


def _write(path: Path, rows: list[list[str]]) -> Path:
    with ACLED_CSV.open() as handle:
        header = next(csv.reader(handle))
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([name.lower() for name in header])  # any letter case
        writer.writerows(rows)
    return path


def _rows(limit: int = 6) -> list[list[str]]:
    with ACLED_CSV.open() as handle:
        reader = csv.reader(handle)
        next(reader)
        return [row for _, row in zip(range(limit), reader, strict=False)]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda r: r.__setitem__(3, "Kabul"), "line 3: unknown admin-1 name 'Kabul' in PAK"),
        (lambda r: r.__setitem__(6, "-2"), "line 3: EVENTS must be at least 0, got -2"),
        (lambda r: r.__setitem__(7, "-1"), "line 3: FATALITIES must be at least 0"),
        (lambda r: r.__setitem__(0, "week 2"), "line 3: WEEK is not a date in a known format"),
        (lambda r: r.__setitem__(0, "2010-01-04"), "line 3: WEEK 2010-01-04 is a Monday"),
        (
            lambda r: r.__setitem__(3, "Azad Jammu and Kashmir"),
            "line 3: the same cell is already on line 2",
        ),
    ],
)
def test_malformed_aggregated_files_are_refused_whole(
    engine: Engine, tmp_path: Path, change: object, reason: str
) -> None:
    rows = _rows()
    change(rows[1])  # type: ignore[operator]
    with pytest.raises(IngestError, match=reason):
        ingest_file(engine, _write(tmp_path / "bad.csv", rows))
    with pytest.raises(IngestError, match="--covers is for event files"):
        ingest_file(engine, ACLED_CSV, covers=(date(2010, 1, 1), date(2010, 1, 31)))
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(event_counts)).scalar_one() == 0
        assert conn.execute(select(func.count()).select_from(coverage_spans)).scalar_one() == 0


def test_a_newer_file_replaces_the_periods_it_covers_and_says_what_changed(
    engine: Engine, tmp_path: Path
) -> None:
    rows = _rows(40)
    ingest_file(engine, _write(tmp_path / "first.csv", rows))
    first_week = rows[0][0]
    revised = [list(r) for r in rows if r[0] != first_week]  # the revision covers later weeks
    revised[0][6] = str(int(revised[0][6]) + 3)  # a revised count
    # A cell the newer release no longer has (not in its last week, where a file cut short
    # ends: there a file speaks only for the cells it has).
    dropped = revised.pop(len(revised) // 2)
    assert dropped[0] != revised[-1][0]
    report = ingest_file(engine, _write(tmp_path / "revised.csv", revised))
    assert (report.added, report.updated, report.missing_now) == (0, 1, 1)
    assert report.periods_changed == tuple(sorted({revised[0][0], dropped[0]}))
    panel = build_panel(engine, ACLED[Frequency.WEEK]).set_index(["region", "period"])
    with engine.connect() as conn:
        stored = conn.execute(select(func.sum(event_counts.c.events))).scalar_one()
    assert stored == sum(int(r[6]) for r in rows) + 3 - int(dropped[6])
    assert panel["events"].sum() == stored  # the first week is kept: the revision did not cover it
    again = ingest_file(engine, _write(tmp_path / "revised.csv", revised))
    assert (again.added, again.updated, again.missing_now, again.periods_changed) == (0, 0, 0, ())


def test_non_violent_event_types_are_stored_but_not_counted(engine: Engine, tmp_path: Path) -> None:
    rows = _rows(3)
    rows[0][4], rows[0][5] = "Protests", "Peaceful protest"  # a real count, relabelled
    ingest_file(engine, _write(tmp_path / "with_protests.csv", rows))  # one week: 2010-01-02
    panel = build_panel(engine, ACLED[Frequency.WEEK])
    assert panel["events"].sum() == sum(int(r[6]) for r in rows[1:])
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(event_counts)).scalar_one() == 3


def test_acled_names_and_the_former_fata_resolve(engine: Engine, tmp_path: Path) -> None:
    rows = _rows(1)
    names = ["FATA", "Khyber Pakhtunkhwa", "Federal Capital Territory", "Azad Jammu and Kashmir"]
    ingest_file(
        engine, _write(tmp_path / "names.csv", [[*rows[0][:3], n, *rows[0][4:]] for n in names])
    )
    with engine.connect() as conn:
        regions = dict(conn.execute(select(event_counts.c.admin1, event_counts.c.region)).all())
    assert regions == {
        "FATA": "PK-KP", "Khyber Pakhtunkhwa": "PK-KP", "Federal Capital Territory": "PK-IS",
        "Azad Jammu and Kashmir": "PK-JK",
    }  # fmt: skip


def test_event_level_and_aggregated_data_of_one_source_are_not_mixed(
    engine: Engine, tmp_path: Path
) -> None:
    rows = [r for r in _rows(2000) if r[0].startswith("2017")]
    ingest_file(engine, _write(tmp_path / "2017.csv", rows))
    with pytest.raises(IngestError, match="holds acled weekly counts for PAK"):
        ingest_file(engine, DATA / "acled_pakistan_sample.csv")  # ACLED events of 2017
    with pytest.raises(IngestError, match="monthly counts of the same days"):
        ingest_file(engine, HDX_CSV)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(coverage_spans)).scalar_one() == 1


def test_slashed_week_dates_are_read_in_the_order_that_gives_a_saturday(
    engine: Engine, tmp_path: Path
) -> None:
    rows = [r for r in _rows(6) if r[0] == "2010-01-09"][:1]
    month_first, day_first = list(rows[0]), list(rows[0])
    month_first[0], day_first[0] = "1/9/2010", "9/1/2010"
    day_first[3] = "Punjab"  # another cell of the same week
    ingest_file(engine, _write(tmp_path / "slashed.csv", [month_first, day_first]))
    with engine.connect() as conn:
        weeks = set(conn.execute(select(event_counts.c.period_start)).scalars())
    assert weeks == {date(2010, 1, 9)}
