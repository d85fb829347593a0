"""Source adapters read real files as they ship, and reject bad ones with a line and a reason."""

from __future__ import annotations

import gzip
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine

from events.canonical import ViolenceType
from events.gazetteer import default_resolver
from events.ingest import ingest_file
from events.panel import build_panel
from events.periods import Frequency
from events.series import Series
from events.sources import SourceFormatError, read_events
from events.sources.acled import AcledAdapter
from tests.conftest import DATA
from tests.real_data import GED_20_1, GED_22_1


def test_hdx_extract_skips_the_hashtag_row() -> None:
    parsed = read_events(GED_22_1)
    assert (parsed.source, parsed.rows_read, len(parsed.events), parsed.errors) == (
        "ucdp",
        6416,
        6416,
        [],
    )
    line, first = parsed.events[0]
    assert line == 3  # header on line 1, HXL hashtags on line 2
    assert first.source_id == "59553"
    assert (first.date_start, first.admin1, first.fatalities_best) == (
        date(1990, 10, 4),
        "Azad Jammu & Kashmir",
        2,
    )


def test_web_export_reads_best_est_columns_us_dates_and_trailing_commas() -> None:
    parsed = read_events(GED_20_1)
    assert (parsed.rows_read, len(parsed.events), parsed.errors) == (5834, 5834, [])
    _, first = parsed.events[0]
    assert first.source_id == "51720"
    assert (first.date_start, first.date_end) == (date(1990, 3, 27), date(1990, 3, 27))
    assert (first.fatalities_best, first.fatalities_low, first.fatalities_high) == (1, 1, 1)
    assert (first.country, first.violence_type) == ("PAK", ViolenceType.NON_STATE)


def test_candidate_events_file_with_plain_dates() -> None:
    parsed = read_events(DATA / "ucdp_candidate_sample.csv")
    assert (parsed.source, len(parsed.events), parsed.errors) == ("ucdp", 7, [])
    assert {event.date_start.year for _, event in parsed.events} == {2021}


def test_gtd_unknown_day_month_and_toll() -> None:
    events = {e.source_id: e for _, e in read_events(DATA / "gtd_pakistan_sample.csv").events}
    unknown_day = events["201703040001"]
    assert (unknown_day.date_start, unknown_day.date_end, unknown_day.date_precision) == (
        date(2017, 3, 1),
        date(2017, 3, 31),
        4,
    )
    assert (unknown_day.fatalities_best, unknown_day.fatalities_high) == (0, None)
    unknown_month = events["201808110001"]
    assert (unknown_month.date_start, unknown_month.date_end, unknown_month.date_precision) == (
        date(2018, 1, 1),
        date(2018, 12, 31),
        5,
    )
    assert events["201702010001"].violence_type == ViolenceType.STATE_BASED  # police target
    assert events["201702160001"].violence_type == ViolenceType.ONE_SIDED
    assert events["201702160001"].admin1 is None


def test_acled_dates_in_both_export_formats_and_violence_types() -> None:
    events = {e.source_id: e for _, e in read_events(DATA / "acled_pakistan_sample.csv").events}
    assert events["PAK1001"].date_start == date(2017, 1, 19)
    assert events["PAK1002"].date_start == date(2017, 2, 24)
    assert events["PAK1001"].violence_type == ViolenceType.STATE_BASED
    assert events["PAK1005"].violence_type == ViolenceType.ONE_SIDED
    assert events["PAK1001"].country == "PAK"


@pytest.mark.parametrize(
    ("event_type", "actor1", "actor2", "expected"),
    [
        ("Battles", "TTP: Tehrik-i-Taliban Pakistan", "Lashkar-e-Islam", ViolenceType.NON_STATE),
        (
            "Explosions/Remote violence",
            "Unidentified Armed Group (Pakistan)",
            "Civilians (Pakistan)",
            ViolenceType.ONE_SIDED,
        ),
        ("Protests", "Protesters (Pakistan)", "", None),
    ],
)
def test_acled_event_types_map_to_ucdp_violence_types(
    event_type: str, actor1: str, actor2: str, expected: ViolenceType | None
) -> None:
    row = {
        "event_id_cnty": "PAK9", "event_date": "2017-01-01", "event_type": event_type,
        "actor1": actor1, "actor2": actor2, "country": "Pakistan", "admin1": "Sindh",
        "latitude": "24.86", "longitude": "67.01", "geo_precision": "1", "fatalities": "0",
    }  # fmt: skip
    assert AcledAdapter().parse_row(row).violence_type == expected


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_unknown_layout_is_refused_naming_the_accepted_sources(tmp_path: Path) -> None:
    path = _write(tmp_path / "x.csv", "when,where,how_many\n2020-01-01,Quetta,3\n")
    with pytest.raises(
        SourceFormatError, match=r"line 1: unknown column layout .*UCDP GED, GTD or ACLED"
    ):
        read_events(path)


def test_forced_source_names_the_missing_columns(tmp_path: Path) -> None:
    with pytest.raises(SourceFormatError, match="not a gtd file: missing columns eventid"):
        read_events(DATA / "acled_pakistan_sample.csv", "gtd")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "the file is empty"),
        (b"id,date_start\n", "unknown column layout"),
        (b"\xff\xfe\x00garbage", "not UTF-8 text"),
        (b"\x1f\x8b\x08\x00broken", "damaged gzip file"),
    ],
)
def test_unreadable_files_get_a_clear_error(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(SourceFormatError, match=message):
        read_events(path)


def test_header_without_rows_is_refused(tmp_path: Path) -> None:
    header = (DATA / "gtd_pakistan_sample.csv").read_text(encoding="utf-8").splitlines()[0]
    with pytest.raises(SourceFormatError, match="header but no event rows"):
        read_events(_write(tmp_path / "g.csv", header + "\n"))


def test_bad_rows_are_reported_with_their_lines(tmp_path: Path) -> None:
    lines = (DATA / "gtd_pakistan_sample.csv").read_text(encoding="utf-8").splitlines()
    lines[1] = lines[1].replace(",2017,2,16,", ",2017,2,30,")
    lines[2] = lines[2].replace(",Gwadar,25.39336,", ",Gwadar,125.39336,")
    lines[3] = lines[3] + ",extra"
    parsed = read_events(_write(tmp_path / "g.csv", "\n".join(lines) + "\n"))
    assert [str(e) for e in parsed.errors] == [
        "line 2: iday 30 does not exist in 2017-02",
        "line 3: latitude must be between -90.0 and 90.0, got 125.39336",
        "line 4: row has 23 fields, header has 22",
    ]
    assert len(parsed.events) == 3


def test_gzip_and_plain_files_read_alike(tmp_path: Path) -> None:
    plain = DATA / "ucdp_candidate_sample.csv"
    packed = tmp_path / "candidate.csv.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    assert read_events(packed).events == read_events(plain).events


def test_unknown_source_name_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown source 'cast'"):
        read_events(DATA / "gtd_pakistan_sample.csv", "cast")


def test_a_real_ucdp_candidate_excel_file_reads_like_its_csv(engine: Engine) -> None:
    """UCDP's February 2026 candidate file as shipped (Excel dates, integer cells)."""
    from openpyxl import load_workbook

    workbook = DATA / "ucdp_candidate_v26_0_2_pakistan.xlsx"
    report = ingest_file(engine, workbook)
    assert (report.source, report.valid, report.unresolved) == ("ucdp", 82, 0)
    sheet = load_workbook(workbook, read_only=True).worksheets[0]
    rows = sheet.iter_rows(values_only=True)
    header = next(rows)
    cells = [dict(zip(header, row, strict=True)) for row in rows]
    gazetteer = default_resolver().gazetteers["PAK"]
    expected: dict[str, int] = {}
    for cell in cells:
        if cell["date_start"].strftime("%Y-%m") == "2026-02":
            code = gazetteer.code_for_name(cell["adm_1"])
            expected[code] = expected.get(code, 0) + 1  # type: ignore[index]
    panel = build_panel(engine, Series("PAK", "ucdp", Frequency.MONTH))
    assert list(panel["period"].unique()) == ["2026-02"]  # January: 3 of its days, not covered
    counted = {r.region: r.events for r in panel.itertuples() if r.events}
    assert counted == expected and sum(counted.values()) == 79


def test_a_damaged_workbook_is_refused_clearly(tmp_path: Path) -> None:
    broken = tmp_path / "candidates.xlsx"
    broken.write_bytes(b"PK\x03\x04" + b"\x00" * 100)
    with pytest.raises(SourceFormatError, match="not a readable Excel workbook"):
        read_events(broken)
