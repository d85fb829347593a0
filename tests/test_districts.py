"""Districts as units: Pakistan's 126 geoBoundaries districts inside its provinces, and events
placed in them by their coordinates at ingest, checked against the source's admin-2 names."""

from __future__ import annotations

import csv
import gzip
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
from shapely.geometry import Point
from sqlalchemy import Engine, func, select

from events.gazetteer import SNAP_DEGREES, default_resolver
from events.ingest import ingest_file
from events.tables import event_rows
from tests.real_data import GED_22_1

PAKISTAN = default_resolver().gazetteers["PAK"]
DISTRICTS = PAKISTAN.levels["adm2"]
FORMER_FATA = ("Bajaur", "Khyber", "Kurram", "Mohmand", "North Waziristan", "Orakzai",
               "South Waziristan")  # fmt: skip


def test_126_districts_each_inside_one_province() -> None:
    assert len(DISTRICTS.units) == 126 == len(DISTRICTS.shapes)
    assert len({u.code for u in DISTRICTS.units}) == 126
    parents = {u.name: u.parent for u in DISTRICTS.units}
    assert {parents[name] for name in FORMER_FATA} == {"PK-KP"}
    assert parents["Jafarabad"] == "PK-BA" and parents["Karachi"] == "PK-SD"
    assert Counter(parents.values()) == {"PK-PB": 34, "PK-KP": 31, "PK-BA": 27, "PK-SD": 22,
                                         "PK-GB": 10, "PK-JK": 1, "PK-IS": 1}  # fmt: skip
    for spelling, name in [("Khyber agency", "Khyber"), ("Neelam district", "Azad Kashmir"),
                           ("Dera Ismail Khan district", "Dera Ismail Khan"),
                           ("Killa Abdullah", "Qilla Abdullah"), ("Noshki", "Nushki")]:  # fmt: skip
        code = DISTRICTS.code_for_name(spelling)
        assert (
            code is not None
            and DISTRICTS.units[[u.code for u in DISTRICTS.units].index(code)].name == name
        )
    assert DISTRICTS.code_for_name("FR Kohat") is None  # a Frontier Region is no unit


def _independent_counts() -> tuple[Counter[str], int]:
    """Per-district counts of GED 22.1's precise events, by a plain loop over the boundaries:
    the polygon of the event's province that covers the point, else the nearest one within
    SNAP_DEGREES; and the number of precise events placed nowhere."""
    shapes = DISTRICTS.shapes
    counts: Counter[str] = Counter()
    unplaced = 0
    with gzip.open(GED_22_1, "rt", newline="") as handle:
        rows = csv.DictReader(handle)
        next(rows)  # HXL hashtags
        for row in rows:
            province = PAKISTAN.code_for_name(row["adm_1"])
            if province is None or int(row["where_prec"]) > 3:
                continue
            point = Point(float(row["longitude"]), float(row["latitude"]))
            mine = {c: s for c, s in shapes.items() if DISTRICTS.parents[c] == province}
            inside = [c for c, s in sorted(mine.items()) if s.covers(point)]
            if inside:
                counts[inside[0]] += 1
                continue
            distance, nearest = min((s.distance(point), c) for c, s in mine.items())
            if distance <= SNAP_DEGREES:
                counts[nearest] += 1
            else:
                unplaced += 1
    return counts, unplaced


@pytest.fixture(scope="module")
def ged_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Engine, object]:
    from store.db import make_engine, migrate

    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('districts') / 'x.db'}")
    migrate(engine)
    return engine, ingest_file(engine, GED_22_1)


def test_precise_events_land_in_the_districts_an_independent_count_finds(
    ged_report: tuple[Engine, object],
) -> None:
    engine, _ = ged_report
    with engine.connect() as conn:
        stored = Counter(
            dict(
                conn.execute(
                    select(event_rows.c.district, func.count())
                    .where(event_rows.c.district.is_not(None))
                    .group_by(event_rows.c.district)
                ).all()
            )
        )
        wrong_province = conn.execute(
            select(event_rows.c.district, event_rows.c.region).where(
                event_rows.c.district.is_not(None)
            )
        ).all()
        imprecise = conn.execute(
            select(func.count()).where(
                event_rows.c.district.is_not(None), event_rows.c.location_precision > 3
            )
        ).scalar_one()
    expected, unplaced = _independent_counts()
    assert stored == expected
    assert sum(stored.values()) == 6097 and unplaced == 5
    # Coherent with the province: a district is always inside its event's province, and an
    # event placed only in a province (precision 4 and coarser) stays there.
    assert all(DISTRICTS.parents[d] == region for d, region in wrong_province)
    assert imprecise == 0


def test_the_report_counts_what_placing_found(ged_report: tuple[Engine, object]) -> None:
    _, report = ged_report
    found = report.districts  # type: ignore[attr-defined]
    assert found["far_outside"] == 5 and found["imprecise"] == 269
    assert found["placed"] + found["name_disagrees"] + found["snapped"] == 6097
    assert found["name_disagrees"] == 628
    worst = report.district_disagreements  # type: ignore[attr-defined]
    assert worst["Orakzai agency -> PK-KP-KHYBER"] == 128


def test_a_country_without_districts_places_none(engine: Engine) -> None:
    from tests.conftest import DATA

    report = ingest_file(engine, DATA / "ucdp_candidate_afghanistan_pakistan_sample.csv")
    with engine.connect() as conn:
        afghan = (
            conn.execute(select(event_rows.c.district).where(event_rows.c.country == "AFG"))
            .scalars()
            .all()
        )
    assert afghan and set(afghan) == {None}
    assert sum(report.districts.values()) == 7  # the Pakistani events only


def test_the_api_lists_districts_with_their_province(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from service.app import create_app
    from service.settings import Settings

    with TestClient(create_app(Settings(home=tmp_path, database_url="sqlite://"))) as client:
        _lists_districts(client)


def _lists_districts(client: object) -> None:
    districts = client.get("/v1/regions", params={"level": "adm2"}).json()  # type: ignore[attr-defined]
    assert districts["count"] == 126
    bajaur = next(d for d in districts["data"] if d["name"] == "Bajaur")
    assert bajaur == {"code": "PK-KP-BAJAUR", "name": "Bajaur", "country": "PAK",
                      "level": "adm2", "parent": "PK-KP"}  # fmt: skip
    shapes = client.get("/v1/regions.geojson", params={"country": "PAK", "level": "adm2"})  # type: ignore[attr-defined]
    features = shapes.json()["features"]
    assert len(features) == 126 and features[0]["properties"]["parent"].startswith("PK-")
    afghan = client.get("/v1/regions", params={"country": "AFG", "level": "adm2"}).json()  # type: ignore[attr-defined]
    assert afghan["count"] == 0  # no district level defined for Afghanistan
    assert client.get("/v1/regions", params={"level": "adm3"}).status_code == 422  # type: ignore[attr-defined]


def test_district_panels_add_up_to_the_province_panel(ged_report: tuple[Engine, object]) -> None:
    import numpy as np

    from events.panel import build_panel
    from events.periods import Frequency
    from events.series import Series

    engine, _ = ged_report
    for freq, start in ((Frequency.MONTH, "2015-01"), (Frequency.WEEK, "2018-W01")):
        series = Series("PAK", "ucdp", freq)
        provinces = build_panel(engine, series, start=start)
        districts = build_panel(engine, series, start=start, level="adm2")
        assert sorted(districts["region"].unique()) == sorted(PAKISTAN.unit_parents("adm2"))
        parent = {**DISTRICTS.parents, **{f"{c}-UNPLACED": c for c in PAKISTAN.codes}}
        summed = (
            districts.assign(region=districts["region"].map(parent))
            .groupby(["region", "period"])[["events", "fatalities", "events_ttp"]]
            .sum(min_count=1)
        )
        expected = provinces.set_index(["region", "period"])[["events", "fatalities", "events_ttp"]]
        pd.testing.assert_frame_equal(summed.sort_index(), expected.sort_index(), check_dtype=False)
        # The same periods are missing at both levels: never zero where no file covers them.
        assert set(districts.loc[districts["events"].isna(), "period"]) == set(
            provinces.loc[provinces["events"].isna(), "period"]
        )
        assert not np.isnan(districts["events"]).all()
    bajaur = build_panel(engine, Series("PAK", "ucdp", Frequency.MONTH), level="adm2")
    assert bajaur.loc[bajaur["region"] == "PK-KP-BAJAUR", "events"].sum() > 100


def test_no_district_series_where_none_can_be_made(engine: Engine) -> None:
    from events.panel import build_panel
    from events.periods import Frequency
    from events.series import Series
    from tests.conftest import SOUTH_ASIA

    ingest_file(engine, SOUTH_ASIA)
    with pytest.raises(ValueError, match="Afghanistan has no adm2 level"):
        build_panel(engine, Series("AFG", "acled", Frequency.MONTH), level="adm2")
    with pytest.raises(ValueError, match="aggregated admin-1 counts: they name no district"):
        build_panel(engine, Series("PAK", "acled", Frequency.MONTH), level="adm2")


def test_district_neighbours_share_a_border() -> None:
    from events.periods import Frequency
    from features.specs import default_spec

    spec = default_spec(PAKISTAN, Frequency.MONTH, level="adm2")
    assert set(spec.neighbours["PK-KP-BAJAUR"]) == {
        "PK-KP-LOWER_DIR", "PK-KP-MALAKAND", "PK-KP-MOHMAND", "PK-KP-UPPER_DIR"
    }  # fmt: skip
    assert "PK-KP-PESHAWAR" in spec.neighbours["PK-KP-KHYBER"]
    assert all(code not in spec.neighbours[code] for code in spec.neighbours)
    assert "PK-KP-UNPLACED" not in spec.neighbours  # a remainder has no place, so no neighbours


@pytest.mark.parametrize(
    "name", ["gtd_pakistan_sample.csv", "acled_pakistan_sample.csv", "ucdp_candidate_sample.csv"]
)
def test_every_event_source_places_precise_events_in_districts(engine: Engine, name: str) -> None:
    """GTD's specificity and ACLED's geo_precision are read on UCDP's scale: 3 or finer names
    the district."""
    from tests.conftest import DATA

    report = ingest_file(engine, DATA / name)
    with engine.connect() as conn:
        rows = conn.execute(
            select(event_rows.c.district, event_rows.c.region, event_rows.c.location_precision)
        ).all()
    placed = [(d, r) for d, r, p in rows if d is not None]
    assert placed and all(DISTRICTS.parents[d] == r for d, r in placed)
    assert all(d is None for d, _, p in rows if p is None or p > 3)
    assert sum(report.districts.values()) == len(rows)
