"""Write the multi-country ACLED aggregated fixture (tests/data/README.md).

    .venv/bin/python scripts/write_south_asia_fixture.py

Pakistan's rows are the real GED-derived cells of `acled_aggregated_pakistan_sample.csv` from
2013 on. No Afghan or Indian file is shipped, so those rows are ILLUSTRATIVE: seeded random
counts in ACLED's layout and spellings, for tests of multi-country ingestion, training and the
dashboard. They are not data and never feed a published figure.
"""

from __future__ import annotations

import csv
import gzip
import io
from datetime import date, timedelta
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
PAKISTAN = DATA / "acled_aggregated_pakistan_sample.csv"
OUT = DATA / "acled_aggregated_south_asia_sample.csv.gz"
FIRST, LAST = date(2013, 1, 5), date(2021, 12, 25)  # Saturdays
# ACLED's spellings of Afghanistan's provinces, with an illustrative weekly base rate each.
AFGHAN = {
    "Badakhshan": 0.8, "Badghis": 0.9, "Baghlan": 1.0, "Balkh": 0.9, "Bamyan": 0.1,
    "Daykundi": 0.2, "Farah": 1.2, "Faryab": 1.4, "Ghazni": 1.8, "Ghor": 0.5, "Helmand": 3.0,
    "Herat": 1.3, "Jowzjan": 0.7, "Kabul": 1.5, "Kandahar": 2.6, "Kapisa": 0.6, "Khost": 0.9,
    "Kunar": 1.6, "Kunduz": 1.5, "Laghman": 0.9, "Logar": 0.9, "Nangarhar": 2.4, "Nimruz": 0.5,
    "Nuristan": 0.4, "Paktia": 0.9, "Paktika": 1.0, "Panjshir": 0.1, "Parwan": 0.5,
    "Samangan": 0.3, "Sar-e Pol": 0.6, "Takhar": 0.8, "Urozgan": 1.1, "Wardak": 1.0,
    "Zabul": 1.1,
}  # fmt: skip
INDIAN = {"Jammu and Kashmir": 1.2, "Chhattisgarh": 0.4, "Manipur": 0.3}
TYPES = (
    ("Battles", "Armed clash"),
    ("Explosions/Remote violence", "Remote explosive/landmine/IED"),
)
HEADER = ["WEEK", "REGION", "COUNTRY", "ADMIN1", "EVENT_TYPE", "SUB_EVENT_TYPE", "EVENTS",
          "FATALITIES", "POPULATION_EXPOSURE", "DISORDER_TYPE", "ID", "CENTROID_LATITUDE",
          "CENTROID_LONGITUDE"]  # fmt: skip
TALIBAN_TAKEOVER = date(2021, 8, 15)


def _weeks() -> list[date]:
    count = (LAST - FIRST).days // 7 + 1
    return [FIRST + timedelta(weeks=k) for k in range(count)]


def _illustrative(
    country: str, rates: dict[str, float], rng: np.random.Generator
) -> list[list[object]]:
    rows: list[list[object]] = []
    for week in _weeks():
        # Violence falls after the Taliban take Kabul (in Afghanistan), as in reality's shape.
        damp = 0.3 if country == "Afghanistan" and week >= TALIBAN_TAKEOVER else 1.0
        for admin1, rate in rates.items():
            for (kind, sub), share in zip(TYPES, (0.7, 0.3), strict=True):
                events = int(rng.negative_binomial(1.0, 1.0 / (1.0 + rate * share * damp)))
                if events:
                    deaths = int(rng.negative_binomial(0.6, 0.6 / (0.6 + 2.5 * events)))
                    rows.append([week.isoformat(), "South Asia", country, admin1, kind, sub,
                                 events, deaths, "", "Political violence"])  # fmt: skip
    return rows


def main() -> None:
    rng = np.random.default_rng(20261207)
    with PAKISTAN.open(newline="") as handle:
        real = [row[:10] for row in csv.reader(handle)][1:]
    rows = [row for row in real if row[0] >= FIRST.isoformat()]
    rows += _illustrative("Afghanistan", AFGHAN, rng)
    rows += _illustrative("India", INDIAN, rng)
    rows.sort(key=lambda row: (row[0], row[2], row[3], row[4]))
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(HEADER)
    for number, row in enumerate(rows, start=1):
        writer.writerow([*row, number, "", ""])
    # A fixed mtime keeps the gzip bytes the same from run to run.
    with OUT.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as packed:
        packed.write(text.getvalue().encode())
    print(f"{OUT.name}: {len(rows)} cells")  # noqa: T201 (a script)


if __name__ == "__main__":
    main()
