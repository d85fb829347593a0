"""The HTTP API's health probes and regions, through a fresh app per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from shapely.geometry import Point, shape

from service.app import create_app
from service.settings import Settings
from store.db import make_engine, migrate


@pytest.fixture
def client(database_url: str, tmp_path: Path) -> Iterator[TestClient]:
    migrate(make_engine(database_url))
    with TestClient(create_app(Settings(home=tmp_path, database_url=database_url))) as test_client:
        yield test_client


def test_health_and_readiness(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")  # the database is fine, but there is nothing to serve yet
    assert ready.status_code == 503
    assert ready.json()["checks"] == {
        "database": "ok",
        "champion": "no pak-ucdp-month champion: train one and promote it",
        "data": "no series is served yet",
    }


def test_readiness_fails_on_an_unmigrated_database(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    with TestClient(create_app(settings)) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    assert "threatcast db upgrade" in response.json()["checks"]["database"]


def test_regions_are_the_seven_units_by_code(client: TestClient) -> None:
    body = client.get("/v1/regions", params={"country": "PAK"}).json()
    assert body["count"] == 7
    assert {r["code"] for r in body["data"]} == {
        "PK-KP",
        "PK-BA",
        "PK-PB",
        "PK-SD",
        "PK-IS",
        "PK-GB",
        "PK-JK",
    }
    kp = {
        "code": "PK-KP",
        "name": "Khyber Pakhtunkhwa",
        "country": "PAK",
        "level": "adm1",
        "parent": None,
    }
    assert kp in body["data"]


def test_region_boundaries_are_geojson_with_kp_merged(client: TestClient) -> None:
    body = client.get("/v1/regions.geojson", params={"country": "PAK"}).json()
    features = {f["id"]: f for f in body["features"]}
    assert body["type"] == "FeatureCollection" and len(features) == 7
    kp = shape(features["PK-KP"]["geometry"])
    assert kp.geom_type == "Polygon"
    assert kp.contains(Point(70.100119, 33.899675))  # Parachinar, former FATA
    assert kp.contains(Point(71.5249, 34.0151))  # Peshawar
