"""District forecasts as a user gets them: trained on their own series, issued split from the
province champion's issue, served per district or per province, watched by alert rules and
(when asked) exported as gauges."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from events.gazetteer import default_resolver
from service.app import create_app
from service.installation import installation
from service.keys import create_key
from store.db import make_engine
from tests.conftest import _served_home, served_settings
from training import issuing, registry
from training.issued import latest_issue
from training.track_record import record_outcomes

DISTRICTS = "pak-ucdp-month-adm2"
PARENTS = default_resolver().gazetteers["PAK"].unit_parents("adm2")


@pytest.fixture
def district_home(database_url: str, district_template: Path, tmp_path: Path) -> Path:
    """The district template on the test's backend (district codes are long: the columns
    must hold them on PostgreSQL too)."""
    return _served_home(database_url, district_template, tmp_path)


def _rows(client: TestClient, **params: str) -> list[dict[str, Any]]:
    response = client.get("/v1/forecasts", params={"exceedance": "1,2,5,10", **params})
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


def test_districts_are_served_coherent_with_their_province_and_watched(district_home: Path) -> None:
    settings = served_settings(district_home)
    version = (district_home / "district_version.txt").read_text()
    with TestClient(create_app(settings)) as client:
        engine = client.app.state.engine
        admin = {"Authorization": f"Bearer {create_key(engine, 'ops', 'admin')[1]}"}
        rule = {"name": "North Waziristan", "series": DISTRICTS, "threshold": 0.3,
                "region": "PK-KP-NORTH_WAZIRISTAN", "horizon": 1}  # fmt: skip
        assert client.post("/v1/alert-rules", json=rule, headers=admin).status_code == 201
        # A province is no unit of the district series, nor a district of the province one.
        for region, series in (("PK-KP", DISTRICTS), ("PK-KP-BAJAUR", "pak-ucdp-month")):
            refused = client.post(
                "/v1/alert-rules", json={**rule, "region": region, "series": series}, headers=admin
            )
            assert refused.status_code == 422, region
        issuing.promote(engine, installation(settings), version, "ops", "districts")
        client.app.state.server.refresh()

        provinces = {(r["region"], r["horizon"]): r for r in _rows(client)}
        units = _rows(client, level="adm2")
        assert len(units) == len(PARENTS) * 2  # every district and remainder, horizons 1 and 2
        # Coherent over every issued row: the units add up to their province's mean, and none
        # is likelier than its province to see an event, k events, or a severe month; nor are
        # they together.
        sums: dict[tuple[str, int], float] = defaultdict(float)
        none_severe: dict[tuple[str, int], float] = defaultdict(lambda: 1.0)
        for row in units:
            province = provinces[(PARENTS[str(row["region"])], row["horizon"])]
            sums[(PARENTS[str(row["region"])], row["horizon"])] += float(row["expected_events"])
            none_severe[(PARENTS[str(row["region"])], row["horizon"])] *= 1 - row["p_severe"]
            assert row["p_event"] <= province["p_event"]
            assert row["p_severe"] <= min(province["p_severe"], row["p_event"])
            # Its fatality law is spliced at that p_severe: P(fatalities >= 25) is the same.
            assert row["fatalities"]["p_severe"] == pytest.approx(row["p_severe"], abs=1e-9)
            for k, p in row["exceedance"].items():
                assert p <= province["exceedance"][k] + 1e-9
        for key, total in sums.items():
            assert total == pytest.approx(provinces[key]["expected_events"], rel=1e-6)
            # A severe month in any unit (read as independent) is one in the province.
            assert 1 - none_severe[key] <= provinces[key]["p_severe"] + 1e-9

        # A province's districts, one district with its history, and what is not a unit.
        kp = _rows(client, level="adm2", region="PK-KP", horizon="1")
        assert {r["region"] for r in kp} == {u for u, p in PARENTS.items() if p == "PK-KP"}
        assert sum(float(r["expected_events"]) for r in kp) == pytest.approx(
            provinces[("PK-KP", 1)]["expected_events"], rel=1e-6
        )
        one = client.get("/v1/forecasts/PK-KP-BAJAUR", params={"level": "adm2"}).json()
        assert one["region"] == "PK-KP-BAJAUR" and one["series"] == DISTRICTS
        assert len(one["history"]) == 24 and one["history"][-1]["events"] is not None
        assert (
            client.get("/v1/forecasts", params={"series": DISTRICTS, "region": "PK-XX"}).status_code
            == 404
        )
        remainder = _rows(client, series=DISTRICTS, region="PK-KP-UNPLACED")
        assert remainder[0]["region_name"] == "Khyber Pakhtunkhwa, not placed in a district"

        # The rule watched the district series' issue.
        alerts = client.get("/v1/alerts", headers=admin).json()["data"]
        assert [(a["region"], a["state"]) for a in alerts] == [("PK-KP-NORTH_WAZIRISTAN", "firing")]
        # District gauges are opt-in: 133 units x horizons is a cardinality to choose.
        assert "PK-KP-BAJAUR" not in client.get("/metrics").text
    with TestClient(create_app(served_settings(district_home, unit_gauges=True))) as client:
        assert 'region="PK-KP-BAJAUR"' in client.get("/metrics").text


def test_districts_are_issued_from_their_province_issue_and_follow_a_new_one(
    district_home: Path,
) -> None:
    settings = served_settings(district_home)
    version = (district_home / "district_version.txt").read_text()
    engine = make_engine(settings.database_url)
    issuing.promote(engine, installation(settings), version, "ops", "districts")
    with pytest.raises(ValueError, match="issue pak-ucdp-month at origin 2021-11 first"):
        issuing.issue(engine, installation(settings), series=DISTRICTS, origin="2021-11")
    # From an origin the province champion issued, the districts follow it.
    _, table = issuing.issue(engine, installation(settings), series=DISTRICTS, origin="2021-10")
    assert set(table["origin"]) == {"2021-10"} and len(table) == len(PARENTS) * 2
    # Its targets (2021-11, 2021-12) are in the data: the track record scores every unit.
    record_outcomes(engine)
    engine.dispose()
    with TestClient(create_app(settings)) as client:
        record = client.get("/v1/track-record", params={"series": DISTRICTS}).json()
    assert record["series"] == DISTRICTS
    assert [m["period"] for m in record["months"]] == ["2021-11", "2021-12"]
    first = record["overall"]["first"]
    # From 2021-10, horizon 1 reaches 2021-11 and horizon 2 2021-12: two targets per unit.
    assert first["issued"]["n"] == len(PARENTS) * 2 == first["recent"]["n"]
    engine = make_engine(settings.database_url)
    # A new province issue takes its districts along: they are split again from it.
    _, provinces = issuing.issue(engine, installation(settings), origin="2021-11")
    champion = registry.champion(engine, DISTRICTS)
    assert champion is not None and champion.version == version
    units = latest_issue(engine, champion, "2021-11")
    assert units is not None and len(units.rows) == len(PARENTS) * 2
    sums: dict[tuple[str, int], float] = defaultdict(float)
    for row in units.rows:
        sums[(PARENTS[row.region], row.horizon)] += row.expected_events
    for _, row in provinces.iterrows():
        assert sums[(row["region"], row["horizon"])] == pytest.approx(row["expected_events"])
    engine.dispose()
