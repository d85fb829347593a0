"""What an anonymous request may cost: a fixed set of metric labels, bounded caches keyed by the
canonical query, calendar questions outside the Hijri tables answered with a 422."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.cache import BoundedCache, TtlMemo
from service.settings import Settings
from tests.conftest import SECRET


def _settings(home: Path) -> Settings:
    return Settings(home=home, secret_key=SECRET)


def test_a_bounded_cache_keeps_what_is_asked_often_under_a_flood_of_new_keys() -> None:
    cache: BoundedCache[bytes] = BoundedCache(8, max_size=100, size=len)
    cache.put("popular", b"x" * 10)
    for n in range(1000):
        cache.put(n, b"y" * 10)
        assert cache.get("popular") is not None  # each poll keeps it recent
    assert len(cache) <= 8
    cache.put("huge", b"z" * 101)
    assert cache.get("huge") is None and cache.get("popular") is not None


def test_a_ttl_memo_computes_once_per_interval() -> None:
    calls: list[int] = []
    memo: TtlMemo[int] = TtlMemo(60.0)
    for _ in range(5):
        assert memo.get("probe", lambda: calls.append(1) or len(calls)) == 1
    assert len(calls) == 1
    assert TtlMemo[int](0.0).get("probe", lambda: 7) == 7


def test_one_question_spelled_two_ways_is_one_cached_body(sqlite_served_home: Path) -> None:
    with TestClient(create_app(_settings(sqlite_served_home))) as client:
        server = client.app.state.server  # type: ignore[attr-defined]
        a = client.get("/v1/forecasts", params={"quantiles": "0.9,0.1", "exceedance": "5,1,1"})
        b = client.get("/v1/forecasts", params={"quantiles": "0.1,0.90", "exceedance": "1,5"})
        assert a.status_code == b.status_code == 200
        assert a.headers["etag"] == b.headers["etag"]
        cached = len(server.bodies)
        # Unique questions: each body cached, plain and gzipped (the test client takes gzip),
        # and none evicts the rest at once.
        for n in range(1, 40):
            assert client.get("/v1/forecasts", params={"exceedance": str(n)}).status_code == 200
        assert len(server.bodies) == cached + 2 * 39
        assert (
            client.get("/v1/forecasts", params={"exceedance": ",".join(["1"] * 21)}).status_code
            == 422
        )


def test_an_actor_groups_thinned_law_is_computed_once_per_issue(sqlite_served_home: Path) -> None:
    with TestClient(create_app(_settings(sqlite_served_home))) as client:
        server = client.app.state.server  # type: ignore[attr-defined]
        first = client.get("/v1/forecasts", params={"actor": "ttp"})
        assert first.status_code == 200, first.text

        def thinned() -> int:
            return sum(1 for key in server.laws.held_keys() if key[-1] == "ttp")

        assert thinned() == first.json()["count"]
        again = client.get("/v1/forecasts", params={"actor": "ttp", "exceedance": "2"})
        assert again.status_code == 200 and thinned() == first.json()["count"]
        for row, other in zip(first.json()["data"], again.json()["data"], strict=True):
            assert row["actor"]["events_interval"] == other["actor"]["events_interval"]


@pytest.mark.parametrize(
    ("start", "end"), [("2077-12", "2077-12"), ("1900-01", "1949-12"), ("9999-12", "9999-12")]
)
def test_calendar_questions_outside_the_hijri_tables_are_a_422(
    sqlite_served_home: Path, start: str, end: str, caplog: pytest.LogCaptureFixture
) -> None:
    with TestClient(create_app(_settings(sqlite_served_home))) as client:
        response = client.get("/v1/calendar", params={"start": start, "end": end})
    assert response.status_code == 422, response.text
    body = response.json()["error"]
    assert (
        "1924-08-01" in body["message"]
        or "at most" in body["message"]
        or "valid" in body["message"]
    )
    assert "Traceback" not in caplog.text


def test_invented_methods_are_one_label_and_metrics_stay_small(sqlite_served_home: Path) -> None:
    with TestClient(create_app(_settings(sqlite_served_home))) as client:
        for n in range(300):
            client.request(f"X{n}METHOD", "/healthz")
        for method in ("PROPFIND", "MKCOL", "PURGE"):  # methods the HTTP parser lets through
            client.request(method, "/healthz")
        metrics = client.get("/metrics").text
    assert "METHOD" not in metrics and "PROPFIND" not in metrics
    assert 'method="other"' in metrics
    assert len(metrics) < 200_000


def test_thinning_a_very_long_law_is_bounded_and_still_a_law() -> None:
    from models.laws import MAX_THINNED_LENGTH, CountLaw

    length = 20_000
    law = CountLaw.from_json({"pmf": [1.0 / length] * length, "tail": 0.0})  # up to 20,000
    thinned = law.thinned(0.3)
    assert len(thinned.pmf) == MAX_THINNED_LENGTH + 1
    assert abs(thinned.pmf.sum() - 1.0) < 1e-9
