"""Write the aggregated-count test fixtures from real GED 22.1 events (tests/data/README.md).

    .venv/bin/python scripts/write_aggregated_fixtures.py

Each GED event of 2010-2021 with a province is counted in ACLED's aggregated layout (weeks from
Saturday, per admin-1 unit and event type) and in HDX's monthly admin-1 layout. No count is
invented: every cell is a sum of real events. GED's violence types stand in for ACLED's event
types (one-sided violence as "Violence against civilians", the others as "Battles").
"""

from __future__ import annotations

import csv
from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path

from openpyxl import Workbook

from events import bundled
from events.gazetteer import default_resolver
from events.ingest import ingest_file
from events.panel import load_events
from store.db import make_engine, migrate

GED_22_1 = bundled.EVENTS_DIR / "ucdp_ged_22.1_pakistan_hdx.csv.gz"

OUT = Path(__file__).resolve().parent.parent / "tests" / "data"
FIRST, LAST = date(2010, 1, 2), date(2021, 12, 31)  # the first Saturday of 2010
# ACLED's spellings of Pakistan's first-level units.
ACLED_NAMES = {
    "PK-KP": "Khyber Pakhtunkhwa", "PK-BA": "Balochistan", "PK-PB": "Punjab", "PK-SD": "Sindh",
    "PK-IS": "Federal Capital Territory", "PK-GB": "Gilgit-Baltistan",
    "PK-JK": "Azad Jammu and Kashmir",
}  # fmt: skip
ACLED_HEADER = ["WEEK", "REGION", "COUNTRY", "ADMIN1", "EVENT_TYPE", "SUB_EVENT_TYPE", "EVENTS",
                "FATALITIES", "POPULATION_EXPOSURE", "DISORDER_TYPE", "ID", "CENTROID_LATITUDE",
                "CENTROID_LONGITUDE"]  # fmt: skip
HDX_HEADER = ["Country", "Admin1", "ISO3", "Admin1 Pcode", "Month", "Year", "Events", "Fatalities"]
HDX_TAGS = ["#country+name", "#adm1+name", "#country+code", "#adm1+code", "#date+month",
            "#date+year", "#event+num", "#affected+killed"]  # fmt: skip
_TYPES = {3: ("Violence against civilians", "Attack")}
_BATTLES = ("Battles", "Armed clash")


def _week(day: date) -> date:
    return day - timedelta(days=(day.weekday() - 5) % 7)


def main() -> None:
    engine = make_engine("sqlite://")
    migrate(engine)
    ingest_file(engine, GED_22_1)
    frame = load_events(engine, "PAK")
    frame = frame[(frame["date_start"] >= FIRST) & (frame["date_start"] <= LAST)]
    centroids = {
        code: shape.centroid for code, shape in default_resolver().gazetteers["PAK"].shapes.items()
    }
    weekly: Counter[tuple[object, ...]] = Counter()
    weekly_deaths: Counter[tuple[object, ...]] = Counter()
    monthly: Counter[tuple[object, ...]] = Counter()
    monthly_deaths: Counter[tuple[object, ...]] = Counter()
    for row in frame.itertuples():
        kind, sub = _TYPES.get(int(row.violence_type), _BATTLES)
        key = (_week(row.date_start), row.region, kind, sub)
        weekly[key] += 1
        weekly_deaths[key] += int(row.fatalities_best)
        month = (row.date_start.year, row.date_start.month, row.region)
        monthly[month] += 1
        monthly_deaths[month] += int(row.fatalities_best)
    acled_rows = []
    for number, (week, region, kind, sub) in enumerate(sorted(weekly), start=1):
        point = centroids[region]
        acled_rows.append(
            [week, "South Asia", "Pakistan",
             ACLED_NAMES[region], kind, sub, weekly[(week, region, kind, sub)],
             weekly_deaths[(week, region, kind, sub)], "", "Political violence", number,
             round(point.y, 4), round(point.x, 4)]
        )  # fmt: skip
    _write(OUT / "acled_aggregated_pakistan_sample.csv", ACLED_HEADER, acled_rows)
    _workbook(OUT / "acled_aggregated_pakistan_sample.xlsx", ACLED_HEADER, acled_rows)
    hdx_rows = [
        ["Pakistan", ACLED_NAMES[region], "PAK", region, date(year, month, 1).strftime("%B"),
         year, monthly[(year, month, region)], monthly_deaths[(year, month, region)]]
        for year, month, region in sorted(monthly)
    ]  # fmt: skip
    _write(OUT / "hdx_political_violence_pakistan_sample.csv", HDX_HEADER, [HDX_TAGS, *hdx_rows])
    _workbook(
        OUT / "hdx_political_violence_pakistan_sample.xlsx", HDX_HEADER, [HDX_TAGS, *hdx_rows]
    )


def _write(path: Path, header: list[str], rows: list[list[object]]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def _workbook(path: Path, header: list[str], rows: list[list[object]]) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(header)
    for row in rows:
        sheet.append([datetime(v.year, v.month, v.day) if isinstance(v, date) else v for v in row])
    book.save(path)


if __name__ == "__main__":
    main()
