"""A file is authoritative only for what it holds: its source, countries, regions, event types
and the periods it covers. No file removes stored data outside that, a file that would remove
more than a small share of what is inside is held back, and future dates are refused."""

from __future__ import annotations

import csv
import gzip
import threading
import time
import zipfile
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from events.ingest import IngestError, ReplacementRefused, ingest_file
from events.panel import build_panel
from events.periods import Frequency
from events.series import Series
from events.sources.base import FileLimits, FileTooLarge
from events.tables import event_counts, event_rows
from store.db import make_engine, migrate, write_transaction
from tests.conftest import DATA, run_cli

ACLED_WEEKLY = DATA / "acled_aggregated_pakistan_sample.csv"
HDX = DATA / "hdx_political_violence_pakistan_sample.csv"
OCTOBER_2023 = DATA / "ucdp_candidate_v23_0_10_pakistan.csv"
ACLED_EVENTS = DATA / "acled_pakistan_sample.csv"


def _store(tmp_path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    migrate(engine)
    return engine


def _cells(engine: Engine) -> list[tuple[object, ...]]:
    with engine.connect() as conn:
        return sorted(
            tuple(row)
            for row in conn.execute(
                select(event_counts.c.period_start, event_counts.c.region,
                       event_counts.c.event_type, event_counts.c.sub_event_type,
                       event_counts.c.events, event_counts.c.fatalities)
            )
        )  # fmt: skip


def _live_events(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        query = select(event_rows.c.source_id).where(event_rows.c.withdrawn_at.is_(None))
        return set(conn.execute(query).scalars())


def _rows(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))


def _write(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(rows)
    return path


def test_a_demonstrations_file_removes_no_political_violence(tmp_path: Path) -> None:
    engine = _store(tmp_path)
    ingest_file(engine, HDX)
    before = _cells(engine)
    panel_before = build_panel(engine, Series("PAK", "acled", Frequency.MONTH))
    header, *_ = _rows(HDX)
    demonstrations = _write(
        tmp_path / "pakistan_hdx_demonstration_events.csv",
        [header, ["Pakistan", "Punjab", "PAK", "PK-PB", "January", "2010", "3", "0"],
         ["Pakistan", "Sindh", "PAK", "PK-SD", "December", "2021", "2", "0"]],
    )  # fmt: skip

    report = ingest_file(engine, demonstrations)

    assert (report.added, report.missing_now) == (2, 0)
    after = _cells(engine)
    assert [cell for cell in after if cell[2] != "Demonstrations"] == before
    panel_after = build_panel(engine, Series("PAK", "acled", Frequency.MONTH))
    assert panel_after.equals(panel_before)


def test_a_monthly_candidate_file_withdraws_only_in_its_own_month(tmp_path: Path) -> None:
    """The real October 2023 file, then a November file: October's rows moved a month on
    with new ids, and one of them dated 2023-09-28 (a late report of an earlier event)."""
    engine = _store(tmp_path)
    ingest_file(engine, OCTOBER_2023)
    october = _live_events(engine)
    header, *rows = _rows(OCTOBER_2023)
    at = {name: header.index(name) for name in ("id", "date_start", "date_end")}
    november = []
    for number, row in enumerate(rows[:11]):
        moved = list(row)
        day = date.fromisoformat(row[at["date_start"]][:10]) + timedelta(days=31)
        day = date(2023, 9, 28) if number == 0 else min(day, date(2023, 11, 30))
        moved[at["id"]] = str(90_000_000 + number)
        moved[at["date_start"]] = moved[at["date_end"]] = day.isoformat()
        november.append(moved)
    path = _write(tmp_path / "GEDEvent_v23_0_11_pakistan.csv", [header, *november])

    report = ingest_file(engine, path)

    assert (report.added, report.missing_now) == (11, 0)
    assert report.covers == {"PAK": "2023-11-01..2023-11-30"}
    assert october <= _live_events(engine)


def test_the_month_of_a_candidate_file_follows_its_events_when_its_name_is_silent(
    tmp_path: Path,
) -> None:
    engine = _store(tmp_path)
    report = ingest_file(engine, OCTOBER_2023, dry_run=True)
    assert report.covers == {"PAK": "2023-10-01..2023-10-31"}
    renamed = tmp_path / "pakistan_candidates.csv"
    renamed.write_bytes(OCTOBER_2023.read_bytes())
    assert ingest_file(engine, renamed, dry_run=True).covers == {"PAK": "2023-10-01..2023-10-31"}


def test_an_acled_export_cut_by_event_type_withdraws_no_other_type(tmp_path: Path) -> None:
    engine = _store(tmp_path)
    ingest_file(engine, ACLED_EVENTS)
    everything = _live_events(engine)
    header, *rows = _rows(ACLED_EVENTS)
    kind = header.index("event_type")
    battles = [row for row in rows if row[kind] == "Battles"]
    assert 0 < len(battles) < len(rows)

    report = ingest_file(engine, _write(tmp_path / "battles.csv", [header, *battles]))

    assert report.missing_now == 0
    assert _live_events(engine) == everything


def test_a_half_written_weekly_file_removes_nothing(tmp_path: Path) -> None:
    engine = _store(tmp_path)
    ingest_file(engine, ACLED_WEEKLY)
    before = _cells(engine)
    lines = ACLED_WEEKLY.read_text().splitlines(keepends=True)
    half = tmp_path / "acled_weekly.csv"
    half.write_text("".join(lines[: len(lines) // 2]))

    report = ingest_file(engine, half)

    assert (report.added, report.updated, report.missing_now) == (0, 0, 0)
    assert _cells(engine) == before


def _without(rows: list[list[str]], region: str, year: str) -> list[list[str]]:
    header = rows[0]
    admin1, week = header.index("ADMIN1"), header.index("WEEK")
    return [rows[0]] + [r for r in rows[1:] if not (r[admin1] == region and r[week][:4] == year)]


def test_a_file_that_would_remove_much_of_its_scope_needs_replace(tmp_path: Path) -> None:
    engine = _store(tmp_path)
    ingest_file(engine, ACLED_WEEKLY)
    before = _cells(engine)
    cut = _write(
        tmp_path / "acled_cut.csv",
        _without(
            _without(_rows(ACLED_WEEKLY), "Khyber Pakhtunkhwa", "2015"), "Balochistan", "2016"
        ),
    )

    with pytest.raises(ReplacementRefused, match=r"would remove \d+ of the \d+ stored cells"):
        ingest_file(engine, cut)
    assert _cells(engine) == before
    with pytest.raises(ReplacementRefused):
        ingest_file(engine, cut, dry_run=True)

    report = ingest_file(engine, cut, replace=True)
    assert report.missing_now > 0
    assert len(_cells(engine)) == len(before) - report.missing_now


def test_the_cli_refuses_a_large_removal_unless_told_to_replace(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert run_cli(home, "ingest", str(ACLED_WEEKLY))[0] == 0
    cut = _write(
        tmp_path / "acled_cut.csv", _without(_rows(ACLED_WEEKLY), "Khyber Pakhtunkhwa", "2015")
    )
    code, out = run_cli(home, "ingest", str(cut))
    assert code == 1 and "--replace" in out and "nothing was stored" in out
    code, out = run_cli(home, "ingest", str(cut), "--replace")
    assert code == 0, out


def test_future_dates_are_refused_with_their_line(tmp_path: Path) -> None:
    engine = _store(tmp_path)
    rows = _rows(ACLED_WEEKLY)[:5]
    rows[3][0] = "2999-12-07"
    with pytest.raises(IngestError) as refused:
        ingest_file(engine, _write(tmp_path / "future.csv", rows))
    [error] = refused.value.errors
    assert error.line == 4
    assert error.reason.startswith("the period starting 2999-12-07 is in the future")
    header, *events = _rows(OCTOBER_2023)
    events[1][header.index("date_end")] = "2999-12-07"
    with pytest.raises(IngestError, match="line 3: the event's date 2999-12-07 is in the future"):
        ingest_file(engine, _write(tmp_path / "future_events.csv", [header, *events]))
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(event_counts)).scalar_one() == 0


def test_a_dry_run_takes_no_write_lock(tmp_path: Path) -> None:
    engine = _store(tmp_path)
    ingest_file(engine, ACLED_WEEKLY)
    held, release = threading.Event(), threading.Event()

    def writer() -> None:
        with write_transaction(engine):
            held.set()
            release.wait(30)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert held.wait(10)
        started = time.monotonic()
        for path in (ACLED_WEEKLY, OCTOBER_2023):
            assert ingest_file(engine, path, dry_run=True).dry_run
        # A dry run that waited for the lock would return only once the writer gives up (30 s).
        assert time.monotonic() - started < 15
    finally:
        release.set()
        thread.join()


def test_many_bad_rows_keep_only_the_first_errors_and_count_the_rest(tmp_path: Path) -> None:
    header = _rows(ACLED_WEEKLY)[0]
    path = tmp_path / "bad.csv.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write(",".join(header) + "\n")
        handle.write("not,a,row\n" * 200_000)
    with pytest.raises(IngestError) as refused:
        ingest_file(_store(tmp_path), path)
    assert refused.value.error_count == 200_000
    assert len(refused.value.errors) == 100
    assert "200000 of 200000 rows are invalid" in str(refused.value)
    assert "... and 199980 more" in str(refused.value)


def test_row_and_cell_limits_say_which_limit_a_file_hit(tmp_path: Path) -> None:
    engine = _store(tmp_path)
    with pytest.raises(FileTooLarge, match="more than 100 rows"):
        ingest_file(engine, ACLED_WEEKLY, limits=FileLimits(rows=100))
    with pytest.raises(FileTooLarge, match="more than 1000 cells"):
        ingest_file(engine, ACLED_WEEKLY, limits=FileLimits(cells=1000))
    blank = tmp_path / "blank.csv"
    blank.write_text(",".join(_rows(ACLED_WEEKLY)[0]) + "\n" + "\n" * 5000)
    with pytest.raises(FileTooLarge, match="row limit"):
        ingest_file(engine, blank, limits=FileLimits(rows=1000))


def test_a_workbook_past_its_string_table_or_inflated_size_is_refused_before_reading(
    tmp_path: Path,
) -> None:
    workbook = DATA / "ucdp_candidate_v26_0_2_pakistan.xlsx"
    strings = tmp_path / "strings.xlsx"  # the real workbook with a string table of 20 added
    table = (
        '<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        + "".join(f"<si><t>text {n}</t></si>" for n in range(20))
        + "</sst>"
    )
    with zipfile.ZipFile(workbook) as source, zipfile.ZipFile(strings, "w") as target:
        for info in source.infolist():
            target.writestr(info, source.read(info))
        target.writestr("xl/sharedStrings.xml", table)
    workbook = DATA / "ucdp_candidate_v26_0_2_pakistan.xlsx"
    engine = _store(tmp_path)
    with pytest.raises(FileTooLarge, match="string table holds more than 10 strings"):
        ingest_file(engine, strings, limits=FileLimits(shared_strings=10))
    with pytest.raises(FileTooLarge, match="inflates to more than 10000 bytes"):
        ingest_file(engine, workbook, limits=FileLimits(text_bytes=10_000))
    assert ingest_file(engine, workbook).added == 82
