"""Regions resolve by ISO 3166-2 code from any name variant, or by point where precise."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from datetime import date
from pathlib import Path

import pycountry
import pytest

from events.bundled import COUNTRIES_DIR
from events.canonical import Event
from events.gazetteer import RegionResolver, default_resolver, load_gazetteers

PAKISTAN = default_resolver().gazetteers["PAK"]


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("Khyber Pakhtunkwa province", "PK-KP"),
        ("Khyber Pakhtunkwa Province", "PK-KP"),
        ("North-West Frontier Province", "PK-KP"),
        ("NWFP", "PK-KP"),
        ("Federally Administered Tribal Areas", "PK-KP"),
        ("FATA", "PK-KP"),
        ("Balochistan province", "PK-BA"),
        ("Baluchistan", "PK-BA"),
        ("Punjab province", "PK-PB"),
        ("Sindh Province", "PK-SD"),
        ("Sind", "PK-SD"),
        ("Islamabad Capital territory", "PK-IS"),
        ("Federal Capital Territory", "PK-IS"),
        ("F.C.T.", "PK-IS"),
        ("Gilgit-Baltistan", "PK-GB"),
        ("Northern Areas", "PK-GB"),
        ("Azad Jammu & Kashmir", "PK-JK"),
        ("Azad Kashmir", "PK-JK"),
        ("AJK", "PK-JK"),
        ("  azad   JAMMU and kashmir ", "PK-JK"),
    ],
)
def test_every_name_variant_resolves_to_its_code(name: str, code: str) -> None:
    assert PAKISTAN.code_for_name(name) == code


def test_unknown_names_do_not_resolve() -> None:
    assert PAKISTAN.code_for_name("Kashmir Valley") is None
    assert PAKISTAN.code_for_name("") is None


def test_gazetteer_codes_are_the_iso_3166_2_units() -> None:
    official = {s.code for s in pycountry.subdivisions.get(country_code="PK")}
    assert set(PAKISTAN.codes) == official


def test_boundaries_give_one_shape_per_region_with_kp_merged() -> None:
    shapes = PAKISTAN.shapes
    assert set(shapes) == set(PAKISTAN.codes)
    assert shapes["PK-KP"].geom_type == "Polygon"  # NWFP and FATA merged into one
    assert all(shape.is_valid and not shape.is_empty for shape in shapes.values())


@pytest.mark.parametrize(
    ("lon", "lat", "code"),
    [
        (67.86126, 26.42495, "PK-SD"),  # Sehwan
        (66.9750, 30.1830, "PK-BA"),  # Quetta
        (70.100119, 33.899675, "PK-KP"),  # Parachinar, former FATA
        (71.5249, 34.0151, "PK-KP"),  # Peshawar
        (74.3587, 31.5204, "PK-PB"),  # Lahore
        (73.0479, 33.6844, "PK-IS"),  # Islamabad
        (74.3080, 35.9208, "PK-GB"),  # Gilgit
        (73.4710, 34.3700, "PK-JK"),  # Muzaffarabad
        (77.2090, 28.6139, None),  # New Delhi
    ],
)
def test_points_fall_in_the_right_province(lon: float, lat: float, code: str | None) -> None:
    assert PAKISTAN.code_for_point(lon, lat) == code


def _event(**changes: object) -> Event:
    base = Event(
        source="ucdp", source_id="1", date_start=date(2017, 2, 16), date_end=date(2017, 2, 16),
        date_precision=1, country="PAK", admin1=None, admin2=None, latitude=26.42495,
        longitude=67.86126, location_precision=1, violence_type=None, event_type=None,
        actor1=None, actor2=None, fatalities_best=1, fatalities_low=1, fatalities_high=1,
        civilian_deaths=None,
    )  # fmt: skip
    return replace(base, **changes)  # type: ignore[arg-type]


def test_events_are_placed_by_name_first_then_by_precise_point() -> None:
    resolver = default_resolver()
    assert resolver.place(_event(admin1="Punjab province")).region == "PK-PB"  # name wins
    assert resolver.place(_event()).region == "PK-SD"
    assert resolver.place(_event()).method == "point"
    assert resolver.place(_event(location_precision=4)).region == "PK-SD"
    # A centroid of a larger area (LoC, the whole country) is not a place.
    assert resolver.place(_event(location_precision=5)).region is None
    assert resolver.place(_event(location_precision=None)).region is None
    assert resolver.place(_event(latitude=None, longitude=None)).region is None
    assert resolver.place(_event(country="IND", admin1="Kerala")).region is None


def test_adding_a_country_is_adding_a_file(tmp_path: Path) -> None:
    shutil.copy(COUNTRIES_DIR / "PAK.json", tmp_path / "PAK.json")
    spec = {
        "country": "NPL",
        "name": "Nepal",
        "regions": [{"code": "NP-P3", "name": "Bagmati", "aliases": ["Bagmati Province"]}],
    }
    (tmp_path / "NPL.json").write_text(json.dumps(spec))

    resolver = RegionResolver(load_gazetteers(tmp_path))

    assert set(resolver.gazetteers) == {"NPL", "PAK"}
    assert resolver.place(_event(country="NPL", admin1="Bagmati province")).region == "NP-P3"
    assert resolver.region("NP-P3").name == "Bagmati"
    # Without boundaries a unit is known by its names alone; coordinates place nothing.
    assert resolver.place(_event(country="NPL", admin1=None)).region is None
    assert resolver.gazetteers["NPL"].actors.tracked == ()


def test_an_empty_country_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no country definitions"):
        load_gazetteers(tmp_path)


def test_a_later_folder_replaces_a_country_of_an_earlier_one(tmp_path: Path) -> None:
    spec = json.loads((COUNTRIES_DIR / "PAK.json").read_text())
    spec["regions"][0]["aliases"].append("Pakhtunkhwa")
    (tmp_path / "PAK.json").write_text(json.dumps(spec))
    resolver = RegionResolver(load_gazetteers(COUNTRIES_DIR, tmp_path))
    assert resolver.gazetteers["PAK"].code_for_name("Pakhtunkhwa") == "PK-KP"
    assert "AFG" in resolver.gazetteers


def test_a_name_given_to_two_regions_is_refused(tmp_path: Path) -> None:
    spec = json.loads((COUNTRIES_DIR / "PAK.json").read_text())
    spec["regions"][1]["aliases"].append("FATA")
    (tmp_path / "PAK.json").write_text(json.dumps(spec))
    with pytest.raises(ValueError, match="'FATA' is given to two regions"):
        load_gazetteers(tmp_path)


@pytest.mark.parametrize(
    ("actors", "group"),
    [
        (("Government of Pakistan", "TTP"), "ttp"),
        (("TTP - TA", "Lashkar-e-Islam"), "ttp"),
        (("Government of Pakistan", "Jamaat-ul-Ahrar"), "ttp"),
        (("Tehrik-i-Taliban Pakistan (TTP)", None), "ttp"),
        (("IS", "Civilians"), "iskp"),
        (("Islamic State (Pakistan)", "Civilians (Pakistan)"), "iskp"),
        (("Government of Pakistan", "BLA"), "baloch"),
        (("Government of Pakistan", "BRAS"), "baloch"),
        (("BLA: Baloch Liberation Army", None), "baloch"),
        (("Government of India", "Government of Pakistan"), "state"),
        (("Government of United States of America", "al-Qaida"), "state"),
        (("LeJ", "Civilians"), "other"),
        (("MQM", "MQM-H"), "other"),
        ((None, None), "other"),
    ],
)
def test_actor_groups(actors: tuple[str | None, str | None], group: str) -> None:
    assert PAKISTAN.actors.classify(actors) == group
