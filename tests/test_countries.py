"""Countries as data: Afghanistan shipped beside Pakistan, one file feeding a series per
country, countries a user brings, and packages that name no country."""

from __future__ import annotations

import csv
import gzip
import json
import re
import time
from collections import Counter
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from shapely.geometry import Point
from typer.testing import CliRunner

from events.bundled import COUNTRIES_DIR, EVENTS_DIR
from events.gazetteer import default_resolver, use_country_folders
from events.ingest import ingest_file
from events.panel import build_panel
from events.periods import Frequency
from events.series import Series
from service.app import create_app
from service.cli import app
from service.settings import get_settings
from store.db import make_engine, migrate
from tests.conftest import DATA, SOUTH_ASIA, served_settings

AFGHANISTAN = COUNTRIES_DIR.parent / "boundaries" / "afghanistan_adm1_geoboundaries.topo.json"
# ACLED's spellings of Afghanistan's provinces, written out here rather than read from the
# definition, so the counts below are checked against an independent table.
ACLED_AFGHAN_CODES = {
    "Badakhshan": "AF-BDS", "Badghis": "AF-BDG", "Baghlan": "AF-BGL", "Balkh": "AF-BAL",
    "Bamyan": "AF-BAM", "Daykundi": "AF-DAY", "Farah": "AF-FRA", "Faryab": "AF-FYB",
    "Ghazni": "AF-GHA", "Ghor": "AF-GHO", "Helmand": "AF-HEL", "Herat": "AF-HER",
    "Jowzjan": "AF-JOW", "Kabul": "AF-KAB", "Kandahar": "AF-KAN", "Kapisa": "AF-KAP",
    "Khost": "AF-KHO", "Kunar": "AF-KNR", "Kunduz": "AF-KDZ", "Laghman": "AF-LAG",
    "Logar": "AF-LOG", "Nangarhar": "AF-NAN", "Nimruz": "AF-NIM", "Nuristan": "AF-NUR",
    "Paktia": "AF-PIA", "Paktika": "AF-PKA", "Panjshir": "AF-PAN", "Parwan": "AF-PAR",
    "Samangan": "AF-SAM", "Sar-e Pol": "AF-SAR", "Takhar": "AF-TAK", "Urozgan": "AF-URU",
    "Wardak": "AF-WAR", "Zabul": "AF-ZAB",
}  # fmt: skip
ACLED_PAKISTAN_CODES = {
    "Khyber Pakhtunkhwa": "PK-KP", "Balochistan": "PK-BA", "Punjab": "PK-PB", "Sindh": "PK-SD",
    "Federal Capital Territory": "PK-IS", "Gilgit-Baltistan": "PK-GB",
    "Azad Jammu and Kashmir": "PK-JK",
}  # fmt: skip


def _counted(country: str, codes: dict[str, str]) -> Counter[tuple[str, str]]:
    """Events per (region, month of the week's first day), read straight from the file."""
    counted: Counter[tuple[str, str]] = Counter()
    with gzip.open(SOUTH_ASIA, "rt", newline="") as handle:
        for row in csv.DictReader(handle):
            if row["COUNTRY"] == country:
                counted[(codes[row["ADMIN1"]], row["WEEK"][:7])] += int(row["EVENTS"])
    return counted


def _panel_counts(engine: object, series: Series) -> Counter[tuple[str, str]]:
    panel = build_panel(engine, series)  # type: ignore[arg-type]
    return Counter(
        {(r.region, r.period): int(r.events) for r in panel.itertuples() if r.events > 0}
    )


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[tuple[CliRunner, dict[str, str]]]:
    get_settings.cache_clear()
    yield CliRunner(), {"THREATCAST_HOME": str(tmp_path / "home"), "THREATCAST_DATABASE_URL": ""}
    get_settings.cache_clear()
    use_country_folders()


def _run(cli: tuple[CliRunner, dict[str, str]], *args: str) -> tuple[int, str]:
    runner, env = cli
    get_settings.cache_clear()
    result = runner.invoke(app, list(args), env=env)
    return result.exit_code, result.stdout + result.stderr


def test_afghanistan_is_34_provinces_by_iso_code_with_the_files_quirks_mapped() -> None:
    afghanistan = default_resolver().gazetteers["AFG"]
    codes = set(afghanistan.codes)
    assert len(codes) == 34 and all(re.fullmatch(r"AF-[A-Z]{3}", c) for c in codes)
    # geoBoundaries' AF_KAN, AF-BDN and "Ghanzi" are Kandahar, Badakhshan and Ghazni.
    assert set(afghanistan.shapes) == codes
    assert afghanistan.shapes["AF-KAN"].contains(Point(65.71, 31.61))  # Kandahar city
    assert afghanistan.shapes["AF-BDS"].contains(Point(70.58, 37.12))  # Faizabad
    assert afghanistan.shapes["AF-GHA"].contains(Point(68.42, 33.55))  # Ghazni city
    assert afghanistan.code_for_point(69.18, 34.53) == "AF-KAB"  # Kabul
    for spelling, code in [("Urozgan", "AF-URU"), ("Oruzgan province", "AF-URU"),
                           ("Hilmand", "AF-HEL"), ("Nimroz", "AF-NIM"), ("Sar-e Pul", "AF-SAR"),
                           ("Sar-e Pol", "AF-SAR"), ("Kunarha", "AF-KNR"), ("Ghanzi", "AF-GHA"),
                           ("Daykundi", "AF-DAY"), ("Panjshir", "AF-PAN"), ("Wardak", "AF-WAR")]:  # fmt: skip
        assert afghanistan.code_for_name(spelling) == code, spelling
    # Border provinces touch Pakistan's: Kunar and Nangarhar touch Khyber Pakhtunkhwa.
    kp = default_resolver().gazetteers["PAK"].shapes["PK-KP"].buffer(0.02)
    touching = {c for c, s in afghanistan.shapes.items() if s.intersects(kp)}
    assert {"AF-KNR", "AF-NAN", "AF-KHO", "AF-PKA", "AF-PIA", "AF-NUR"} <= touching
    assert "AF-HER" not in touching


@pytest.mark.parametrize(
    ("actors", "day", "group"),
    [
        (("Government of Afghanistan", "Taleban"), date(2019, 5, 1), "taliban"),
        (("Government of Afghanistan", "IS"), date(2022, 5, 1), "iskp"),
        (("Government of Afghanistan", "Civilians"), date(2022, 5, 1), "taliban"),
        (("Government of Afghanistan", "Civilians"), date(2020, 5, 1), "state"),
        (("Government of Afghanistan", "NRF"), date(2022, 5, 1), "taliban"),
        (("National Resistance Front", "Civilians"), date(2022, 5, 1), "resistance"),
        (("Tehrik-i-Taliban Pakistan (TTP)", None), date(2022, 5, 1), "other"),
        # GTD's group names (gname).
        (("Taliban", None), date(2017, 5, 1), "taliban"),
        (("Khorasan Chapter of the Islamic State", None), date(2018, 5, 1), "iskp"),
        (("National Resistance Front (NRF)", None), date(2022, 5, 1), "resistance"),
        ((None, None), None, "other"),
    ],
)
def test_afghan_actor_groups(
    actors: tuple[str | None, str | None], day: date | None, group: str
) -> None:
    afghanistan = default_resolver().gazetteers["AFG"]
    assert afghanistan.actors.classify(actors, day) == group
    assert afghanistan.actors.tracked == ("taliban", "iskp", "resistance")


def test_one_file_feeds_a_series_per_defined_country(engine: object) -> None:
    report = ingest_file(engine, SOUTH_ASIA)  # type: ignore[arg-type]
    # India has no definition: its rows are counted and reported, never stored.
    assert report.ignored_countries == {"IND": 609}
    assert set(report.covers) == {"AFG", "PAK"}
    for country, codes in (("Afghanistan", ACLED_AFGHAN_CODES), ("Pakistan", ACLED_PAKISTAN_CODES)):
        series = Series("AFG" if country == "Afghanistan" else "PAK", "acled", Frequency.MONTH)
        assert _panel_counts(engine, series) == _counted(country, codes)
    weekly = build_panel(engine, Series("AFG", "acled", Frequency.WEEK))  # type: ignore[arg-type]
    assert weekly["region"].nunique() == 34
    assert int(weekly["events"].sum()) == sum(_counted("Afghanistan", ACLED_AFGHAN_CODES).values())


def test_a_country_a_user_brings_from_its_data(cli: tuple[CliRunner, dict[str, str]]) -> None:
    code, out = _run(cli, "ingest", str(SOUTH_ASIA))
    assert code == 0 and "609 rows of IND left out" in out
    code, out = _run(cli, "countries", "add", "IND", "--from-data", str(SOUTH_ASIA))
    assert code == 0, out
    assert "IND (India): 3 units, without boundaries" in out
    code, out = _run(cli, "countries", "add", "IND", "--from-data", str(SOUTH_ASIA))
    assert code == 2 and "already defined" in out
    code, out = _run(cli, "ingest", str(SOUTH_ASIA))
    assert code == 0 and "left out" not in out
    code, out = _run(cli, "events", "coverage")
    assert "ind-acled-month: 2013-01..2021-12" in out and "afg-acled-month" in out
    home = Path(cli[1]["THREATCAST_HOME"])
    spec = json.loads((home / "countries" / "IND.json").read_text())
    # Names matched ISO 3166-2 subdivisions (pycountry): Chhattīsgarh is IN-CG.
    assert [r["code"] for r in spec["regions"]] == ["IN-CG", "IN-JK", "IN-MN"]
    engine = make_engine(f"sqlite:///{home / 'threatcast.db'}")
    counted = Counter()
    with gzip.open(SOUTH_ASIA, "rt", newline="") as handle:
        for row in csv.DictReader(handle):
            if row["COUNTRY"] == "India":
                counted[row["ADMIN1"]] += int(row["EVENTS"])
    panel = build_panel(engine, Series("IND", "acled", Frequency.MONTH))
    names = {"IN-CG": "Chhattisgarh", "IN-JK": "Jammu and Kashmir", "IN-MN": "Manipur"}
    assert {names[r]: int(n) for r, n in panel.groupby("region")["events"].sum().items()} == counted
    engine.dispose()


def test_a_country_from_a_geoboundaries_file(
    cli: tuple[CliRunner, dict[str, str]], tmp_path: Path
) -> None:
    aliases = tmp_path / "aliases.csv"
    aliases.write_text("name,code\nQandahar Wilayat,AF-KAN\n")
    code, out = _run(cli, "countries", "add", "AFG", "--boundaries", str(AFGHANISTAN))
    assert code == 2 and "already defined" in out
    code, out = _run(cli, "countries", "add", "AFG", "--boundaries", str(AFGHANISTAN),
                     "--aliases", str(aliases), "--replace")  # fmt: skip
    assert code == 0, out
    assert "34 units, with boundaries" in out and "match no ISO" not in out
    folder = Path(cli[1]["THREATCAST_HOME"]) / "countries"
    use_country_folders(folder)
    added = default_resolver().gazetteers["AFG"]
    assert sorted(added.codes) == sorted(ACLED_AFGHAN_CODES.values())
    assert added.code_for_name("Qandahar Wilayat") == "AF-KAN"
    assert added.code_for_point(69.18, 34.53) == "AF-KAB"
    bad = tmp_path / "bad.topo.json"
    bad.write_text('{"type": "Topology"}')
    code, out = _run(cli, "countries", "add", "NPL", "--boundaries", str(bad))
    assert code == 2 and "not a TopoJSON file" in out
    code, out = _run(cli, "countries", "add", "XXX", "--boundaries", str(AFGHANISTAN))
    assert code == 2 and "not an ISO 3166-1 alpha-3" in out


def test_afghan_forecasts_are_served_per_province(south_asia_home: Path) -> None:
    settings = served_settings(south_asia_home)
    with TestClient(create_app(settings)) as client:
        body = client.get("/v1/forecasts", params={"series": "afg-acled-month"}).json()
        regions = {row["region"] for row in body["data"]}
        assert regions == set(ACLED_AFGHAN_CODES.values())
        assert {row["region_name"] for row in body["data"]} >= {"Kunar", "Nangarhar", "Zabul"}
        one = client.get("/v1/forecasts/AF-KNR", params={"series": "afg-acled-month"})
        assert one.status_code == 200 and one.json()["data"][0]["region"] == "AF-KNR"
        # A Pakistani code is not a region of the Afghan series.
        wrong = client.get("/v1/forecasts", params={"series": "afg-acled-month", "region": "PK-KP"})
        assert wrong.status_code == 404
        assert "AF-KNR" in wrong.json()["error"]["details"]["valid_regions"]
        countries = {c["code"]: c for c in client.get("/v1/countries").json()["data"]}
        assert countries["AFG"]["units"] == 34 and countries["AFG"]["boundaries"]
        groups = [g["group"] for g in countries["AFG"]["actor_groups"]]
        assert groups == ["taliban", "iskp", "resistance"]
        shapes = client.get("/v1/regions.geojson", params={"country": "AFG"}).json()
        assert len(shapes["features"]) == 34
        assert client.get("/v1/regions", params={"country": "ZZZ"}).status_code == 422
        # Aggregated counts name no actors: no per-actor forecasts for this series.
        actor = client.get("/v1/forecasts", params={"series": "afg-acled-month", "actor": "iskp"})
        assert actor.status_code == 404


def test_packages_name_no_country_outside_the_country_data() -> None:
    root = Path(__file__).resolve().parent.parent
    names = json.loads((COUNTRIES_DIR / "PAK.json").read_text())
    words = {"Pakistan", "pakistan", "pak-"}
    for region in names["regions"]:
        words.add(region["code"])
        words.update(n for n in (region["name"], *region["aliases"]) if len(n) > 4)
    pattern = re.compile("|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)))
    found = []
    for package in ("events", "features", "models", "training", "service", "store"):
        for path in (root / package).rglob("*"):
            if not path.is_file() or path.suffix not in {".py", ".js", ".html", ".css", ".txt"}:
                continue
            # Migrations are history: they name the series that existed when they ran.
            if "migrations" in path.parts:
                continue
            for number, line in enumerate(path.read_text().splitlines(), start=1):
                if pattern.search(line):
                    found.append(f"{path.relative_to(root)}:{number}: {line.strip()}")
    assert not found, "\n".join(found)
    assert EVENTS_DIR.is_dir()


def test_a_ucdp_extract_of_several_countries(engine: object) -> None:
    report = ingest_file(engine, DATA / "ucdp_candidate_afghanistan_pakistan_sample.csv")  # type: ignore[arg-type]
    assert report.ignored_countries == {"IND": 1}
    assert (report.added, report.unresolved) == (13, 0)
    from sqlalchemy import select

    from events.panel import load_events
    from events.tables import event_rows as e

    with engine.connect() as conn:  # type: ignore[attr-defined]
        stored = conn.execute(
            select(e.c.source_id, e.c.region, e.c.actor_group).where(e.c.country == "AFG")
        ).all()
    placed = {sid: (region, group) for sid, region, group in stored}
    assert placed == {
        "9900001": ("AF-KNR", "taliban"),
        "9900002": ("AF-HEL", "taliban"),
        "9900003": ("AF-NIM", "taliban"),
        "9900004": ("AF-NAN", "iskp"),
        "9900005": ("AF-KAB", "iskp"),
        "9900006": ("AF-KAB", "taliban"),  # by its coordinates; the government is the Taliban's
    }
    pakistani = load_events(engine, "PAK")  # type: ignore[arg-type]
    assert len(pakistani) == 7 and set(pakistani["actor_group"]) <= {
        "ttp", "iskp", "baloch", "state", "other"
    }  # fmt: skip
    panel = build_panel(engine, Series("AFG", "ucdp", Frequency.MONTH))  # type: ignore[arg-type]
    kabul = panel.set_index(["region", "period"])
    assert kabul.loc[("AF-KAB", "2022-06"), "events_iskp"] == 1
    assert kabul.loc[("AF-KAB", "2022-09"), "events_taliban"] == 1


def test_alert_rules_watch_a_region_and_group_of_their_series_country(
    south_asia_home: Path,
) -> None:
    from service.keys import create_key

    settings = served_settings(south_asia_home)
    engine = make_engine(settings.database_url)
    admin = create_key(engine, "countries-admin", "admin")[1]
    engine.dispose()
    headers = {"Authorization": f"Bearer {admin}"}
    rule = {"name": "Kunar", "series": "afg-acled-month", "region": "AF-KNR", "threshold": 0.9}
    with TestClient(create_app(settings)) as client:
        made = client.post("/v1/alert-rules", json=rule, headers=headers)
        assert made.status_code == 201, made.text
        assert made.json()["series"] == "afg-acled-month"
        wrong = client.post("/v1/alert-rules", json={**rule, "region": "PK-KP"}, headers=headers)
        assert wrong.status_code == 422 and "not a unit of Afghanistan" in wrong.text
        group = {**rule, "actor_group": "baloch"}
        refused = client.post("/v1/alert-rules", json=group, headers=headers)
        assert refused.status_code == 422 and "tracks no actor group 'baloch'" in refused.text


def test_a_model_pools_countries_while_its_series_stays_one_country(
    south_asia_home: Path, tmp_path: Path
) -> None:
    """Afghanistan's model also learns from Pakistan's provinces; it is scored, registered and
    issued for Afghanistan's 34 alone."""
    from tests.conftest import SECRET, SMALL_TRAINING
    from training import issuing
    from training.config import TrainingConfig
    from training.installation import Installation
    from training.train import TrainingError, train_version

    store = make_engine(f"sqlite:///{tmp_path / 'pooled.db'}")
    migrate(store)
    ingest_file(store, SOUTH_ASIA)
    config = TrainingConfig.model_validate(
        {**SMALL_TRAINING, "country": "AFG", "source": "acled", "pool_with": ["pak"]}
    )
    assert config.pool_with == ("PAK",)
    result = train_version(store, config, artifact_root=tmp_path / "artifacts", secret=SECRET)
    assert result.version.series == "afg-acled-month"
    scored = result.manifest["metrics"]["models"]["ensemble"]["1"]["n"]
    assert scored == 34 * SMALL_TRAINING["backtest_origins"]  # Afghan units only
    installation = Installation(tmp_path / "artifacts", SECRET)
    _, table = issuing.issue(store, installation, version=result.version.version)
    assert set(table["region"]) == set(ACLED_AFGHAN_CODES.values())
    # The UCDP extract's Afghan and Pakistani panels track different actor groups.
    ingest_file(store, DATA / "ucdp_candidate_afghanistan_pakistan_sample.csv")
    ucdp = TrainingConfig.model_validate(
        {**SMALL_TRAINING, "country": "AFG", "source": "ucdp", "pool_with": ["PAK"]}
    )
    with pytest.raises(TrainingError):
        train_version(store, ucdp, artifact_root=tmp_path / "artifacts", secret=SECRET)
    store.dispose()


def test_a_file_of_undefined_countries_only_says_so(engine: object, tmp_path: Path) -> None:
    from events.ingest import IngestError

    rows = (DATA / "ucdp_candidate_afghanistan_pakistan_sample.csv").read_text().splitlines()
    only = tmp_path / "india_only.csv"
    only.write_text("\n".join([rows[0], *(r for r in rows if ",India," in r)]) + "\n")
    with pytest.raises(IngestError) as refused:
        ingest_file(engine, only)  # type: ignore[arg-type]
    message = str(refused.value)
    assert "IND (1 rows) have no definition" in message and "countries add" in message
    assert "rows are invalid" not in message and "nothing was stored" in message


def test_a_country_written_by_another_process_is_read_within_seconds(tmp_path: Path) -> None:
    """Servers look at the user folders at most once a second; this process's own writes are
    read at once."""
    from events.countries import from_data, write_definition

    watched, elsewhere = tmp_path / "watched", tmp_path / "elsewhere"
    watched.mkdir()
    elsewhere.mkdir()
    draft = from_data("IND", SOUTH_ASIA)
    use_country_folders(watched)
    try:
        assert "IND" not in default_resolver().gazetteers
        # This process's own write is read at the next call, within the second just looked.
        write_definition(draft, watched)
        assert "IND" in default_resolver().gazetteers
        # Another process's rename out of the folder: seen once the folder is looked at again.
        (watched / "IND.json").replace(elsewhere / "IND.json")
        deadline = time.monotonic() + 5
        while "IND" in default_resolver().gazetteers and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "IND" not in default_resolver().gazetteers
    finally:
        use_country_folders()
