"""The forecasting API on a served home: forecasts, ETags, archive, keys, models, jobs, metrics."""

from __future__ import annotations

import itertools
import logging
import shutil
import threading
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from events.tables import event_rows
from service.app import create_app
from service.keys import create_key, revoke_key
from service.settings import Settings
from store.db import make_engine
from tests.conftest import DATA, SECRET, served_settings, wait_until
from training import issuing, jobs, operations
from training.installation import Installation
from training.issued import issued_forecasts
from training.manifest import MODEL_FILE
from training.registry import model_versions

REGIONS = ["PK-BA", "PK-GB", "PK-IS", "PK-JK", "PK-KP", "PK-PB", "PK-SD"]


def _settings(home: Path, **extra: Any) -> Settings:
    return served_settings(home, refresh_s=0.2, **extra)


def _versions(home: Path) -> list[str]:
    return (home / "versions.txt").read_text().split()


@pytest.fixture
def client(served_home: Path) -> Iterator[TestClient]:
    with TestClient(create_app(_settings(served_home))) as test_client:
        yield test_client


def _keys(client: TestClient) -> dict[str, str]:
    engine = client.app.state.engine  # type: ignore[attr-defined]
    return {role: create_key(engine, f"{role}-key", role)[1] for role in ("reader", "admin")}


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _run_queued(client: TestClient) -> dict[str, Any]:
    """Run the queued jobs as `threatcast worker` does, then let the web tier catch up."""
    app = client.app
    engine = app.state.engine  # type: ignore[attr-defined]
    installation = app.state.installation  # type: ignore[attr-defined]
    operations.work(engine, installation, operations.WorkerSchedule(once=True))
    app.state.server.refresh()  # type: ignore[attr-defined]
    latest = jobs.list_jobs(engine, limit=1)[0]
    return {"status": latest.status, "version": latest.version, "result": latest.result}


def test_promoting_over_http_never_loads_a_model_in_the_web_process(
    client: TestClient, served_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    champion, candidate = _versions(served_home)
    admin = _bearer(_keys(client)["admin"])

    def no_unpickling(*args: object, **kwargs: object) -> object:
        raise AssertionError("the web process unpickled a model")

    with monkeypatch.context() as patched:
        patched.setattr("joblib.load", no_unpickling)
        patched.setattr("training.artifacts.load_artifact", no_unpickling)
        queued = client.post(f"/v1/models/{candidate}/promote", json={"reason": "x"}, headers=admin)
        assert queued.status_code == 202, queued.text
        assert client.get("/v1/forecasts").json()["model_version"] == champion
    done = _run_queued(client)
    assert done["status"] == "succeeded" and done["version"] == candidate
    assert client.get("/v1/forecasts").json()["model_version"] == candidate


def test_latest_forecasts_for_every_region_and_horizon(
    client: TestClient, served_home: Path
) -> None:
    response = client.get("/v1/forecasts")
    assert response.status_code == 200
    body = response.json()
    champion = _versions(served_home)[0]
    assert body["model_version"] == champion and body["data_cutoff"] == "2021-12"
    assert body["count"] == 14
    assert [(f["region"], f["horizon"]) for f in body["data"]] == [
        (r, h) for r in REGIONS for h in (1, 2)
    ]
    kp = next(f for f in body["data"] if f["region"] == "PK-KP" and f["horizon"] == 1)
    assert kp["period"] == "2022-01" and kp["region_name"] == "Khyber Pakhtunkhwa"
    interval = kp["events_interval"]
    assert 0 <= interval["p10"] <= interval["p50"] <= interval["p90"]
    assert kp["risk_level"] == "very high" and kp["p_event"] > 0.75
    assert kp["drivers"] and all(isinstance(d["contribution"], float) for d in kp["drivers"])
    gb = next(f for f in body["data"] if f["region"] == "PK-GB" and f["horizon"] == 1)
    assert gb["risk_level"] == "low"
    assert (
        client.get("/v1/forecasts", params={"region": "PK-SD", "horizon": 2}).json()["count"] == 1
    )


def test_etag_and_not_modified(client: TestClient) -> None:
    first = client.get("/v1/forecasts", params={"region": "PK-KP"})
    etag = first.headers["ETag"]
    assert etag.startswith('"') and first.headers["Cache-Control"] == "no-cache"
    again = client.get("/v1/forecasts", params={"region": "PK-KP"}, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["ETag"] == etag
    other = client.get("/v1/forecasts", params={"region": "PK-BA"}, headers={"If-None-Match": etag})
    assert other.status_code == 200 and other.headers["ETag"] != etag
    assert client.get("/v1/forecasts", params={"region": "PK-KP"}).content == first.content


def test_clients_that_take_gzip_get_it_with_its_own_etag(client: TestClient) -> None:
    plain = client.get("/v1/forecasts", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers and plain.headers["Vary"] == "Accept-Encoding"
    packed = client.get("/v1/forecasts", headers={"Accept-Encoding": "br;q=1, gzip;q=0.5"})
    assert packed.headers["Content-Encoding"] == "gzip"
    assert int(packed.headers["Content-Length"]) < len(plain.content) / 4
    assert packed.content == plain.content  # decoded by the client
    etag = packed.headers["ETag"]
    assert etag != plain.headers["ETag"] and etag.endswith('-gz"')
    again = client.get("/v1/forecasts", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.headers["ETag"] == etag
    for refusing in ("gzip;q=0", "*, gzip;q=0", "br", ""):
        refused = client.get("/v1/forecasts", headers={"Accept-Encoding": refusing})
        assert "content-encoding" not in refused.headers, refusing
    anything = client.get("/v1/forecasts", headers={"Accept-Encoding": "*"})
    assert anything.headers["Content-Encoding"] == "gzip"
    # One region's history too.
    history = client.get("/v1/forecasts/PK-KP", headers={"Accept-Encoding": "gzip"})
    assert history.headers["Content-Encoding"] == "gzip" and history.json()["region"] == "PK-KP"


def test_bad_requests_share_one_error_shape(client: TestClient) -> None:
    unknown = client.get("/v1/forecasts/PK-XX")
    assert unknown.status_code == 404
    assert unknown.json()["error"]["details"]["valid_regions"] == REGIONS
    assert client.get("/v1/forecasts", params={"region": "XX"}).status_code == 404
    for params in ({"horizon": 7}, {"horizon": 0}, {"freq": "day"}, {"horizon": "one"}):
        response = client.get("/v1/forecasts", params=params)
        assert response.status_code == 422, params
        error = response.json()["error"]
        assert error["code"] == "invalid_request" and error["message"]
    assert (
        "between 1 and 6"
        in client.get("/v1/forecasts", params={"horizon": 7}).json()["error"]["message"]
    )
    weekly = client.get("/v1/forecasts", params={"freq": "week"})
    assert (
        weekly.status_code == 404
        and "no pak-ucdp-week champion" in weekly.json()["error"]["message"]
    )
    acled = client.get("/v1/forecasts", params={"source": "acled"})
    assert acled.status_code == 404
    assert acled.json()["error"]["details"]["served_series"] == ["pak-ucdp-month"]
    for params in ({"series": "pak"}, {"source": "rumours"}, {"series": "pak-ucdp-day"}):
        bad = client.get("/v1/forecasts", params=params)
        assert bad.status_code == 422 and bad.json()["error"]["message"], params


def test_a_series_is_named_in_full_or_by_its_parts(client: TestClient) -> None:
    default = client.get("/v1/forecasts").json()
    assert default["series"] == "pak-ucdp-month"
    for params in (
        {"series": "pak-ucdp-month"},
        {"source": "ucdp"},
        {"source": "ucdp", "freq": "month"},
    ):
        assert client.get("/v1/forecasts", params=params).json()["data"] == default["data"]
    region = client.get("/v1/forecasts/PK-KP", params={"series": "PAK-UCDP-MONTH"}).json()
    assert region["series"] == "pak-ucdp-month"


def test_region_forecasts_carry_observed_history(client: TestClient) -> None:
    body = client.get("/v1/forecasts/PK-BA").json()
    assert body["region"] == "PK-BA" and body["count"] == 2
    history = body["history"]
    assert (
        len(history) == 24
        and history[-1]["period"] == "2021-12"
        and history[0]["period"] == "2020-01"
    )
    assert sum(h["events"] for h in history) > 0


def test_archive_is_a_track_record_with_outcomes(client: TestClient, served_home: Path) -> None:
    body = client.get(
        "/v1/forecasts/archive", params={"region": "PK-KP", "period": "2021-12"}
    ).json()
    assert [(f["origin"], f["horizon"]) for f in body["data"]] == [("2021-10", 2)]
    engine = make_engine((served_home / "database_url.txt").read_text())
    with engine.connect() as conn:
        observed = conn.execute(
            select(func.count()).where(
                event_rows.c.region == "PK-KP",
                event_rows.c.date_start.between(date(2021, 12, 1), date(2021, 12, 31)),
            )
        ).scalar_one()
    assert body["observed"]["events"] == observed > 0
    future = client.get(
        "/v1/forecasts/archive", params={"region": "PK-KP", "period": "2022-01"}
    ).json()
    assert future["observed"] is None and future["count"] == 1
    bad = client.get("/v1/forecasts/archive", params={"region": "PK-KP", "period": "2022-13"})
    assert bad.status_code == 422


def test_keys_and_roles(served_home: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings = _settings(served_home, public_forecasts=False)
    with caplog.at_level(logging.INFO), TestClient(create_app(settings)) as client:
        keys = _keys(client)
        assert client.get("/v1/forecasts").status_code == 401
        assert (
            client.get("/v1/forecasts", headers={"Authorization": "Basic abc"}).status_code == 401
        )
        assert client.get("/v1/forecasts", headers=_bearer("tc_not-a-key")).status_code == 401
        assert client.get("/v1/forecasts", headers=_bearer(keys["reader"])).status_code == 200
        body = {"reason": "test"}
        assert client.post("/v1/models/rollback", json=body).status_code == 401
        forbidden = client.post("/v1/models/rollback", json=body, headers=_bearer(keys["reader"]))
        assert (
            forbidden.status_code == 403 and "needs admin" in forbidden.json()["error"]["message"]
        )
        assert client.post("/v1/training-jobs", headers=_bearer(keys["reader"])).status_code == 403
        engine = client.app.state.engine  # type: ignore[attr-defined]
        revoke_key(engine, "reader-key")
        assert client.get("/v1/forecasts", headers=_bearer(keys["reader"])).status_code == 401
    assert all(token not in caplog.text for token in keys.values())
    assert '"key": "reader-key"' in caplog.text  # the access log names the key, never shows it


def test_models_list_show_promote_and_rollback(client: TestClient, served_home: Path) -> None:
    champion, candidate = _versions(served_home)
    admin = _bearer(_keys(client)["admin"])
    listed = client.get("/v1/models").json()
    assert {m["version"]: m["status"] for m in listed["data"]} == {
        champion: "champion",
        candidate: "candidate",
    }
    detail = client.get(f"/v1/models/{candidate}").json()
    assert detail["manifest"]["sha256"] and detail["metrics"]["window"]["end"] == "2021-11"
    assert client.get("/v1/models/nope").status_code == 404
    assert (
        client.post("/v1/models/nope/promote", json={"reason": "x"}, headers=admin).status_code
        == 404
    )
    assert client.post(f"/v1/models/{candidate}/promote", json={}, headers=admin).status_code == 422

    promoted = client.post(
        f"/v1/models/{candidate}/promote", json={"reason": "newer data"}, headers=admin
    )
    assert promoted.status_code == 202 and promoted.json()["status"] == "queued"
    assert promoted.headers["location"] == f"/v1/training-jobs/{promoted.json()['id']}"
    assert client.get("/v1/forecasts").json()["model_version"] == champion  # not yet
    assert _run_queued(client)["status"] == "succeeded"
    job = client.get(promoted.headers["location"], headers=admin).json()
    assert job["status"] == "succeeded" and job["version"] == candidate
    assert client.get("/v1/forecasts").json()["model_version"] == candidate
    history = client.get(f"/v1/models/{candidate}").json()["history"]
    assert history[-1] == {
        **history[-1],
        "actor": "admin-key",
        "reason": "newer data",
        "to_status": "champion",
    }

    back = client.post("/v1/models/rollback", json={"reason": "bad"}, headers=admin)
    assert back.status_code == 202 and back.json()["kind"] == "rollback"
    assert _run_queued(client)["version"] == champion
    assert client.get("/v1/forecasts").json()["model_version"] == champion
    again = client.post(
        "/v1/models/rollback", json={"reason": "x", "series": "pak-ucdp-week"}, headers=admin
    )
    assert again.status_code == 409
    bad = client.post("/v1/models/rollback", json={"reason": "x", "series": "pak-x"}, headers=admin)
    assert bad.status_code == 422 and "not a series" in bad.json()["error"]["message"]


def test_a_tampered_candidate_is_not_promoted_and_the_champion_stays(
    client: TestClient, served_home: Path
) -> None:
    champion, candidate = _versions(served_home)
    (served_home / "artifacts" / candidate / MODEL_FILE).write_bytes(b"planted")
    admin = _bearer(_keys(client)["admin"])
    queued = client.post(f"/v1/models/{candidate}/promote", json={"reason": "x"}, headers=admin)
    assert queued.status_code == 202  # the manifest verifies; the worker checks the model
    refused = _run_queued(client)
    assert refused["status"] == "failed" and "sha256" in refused["result"]
    assert client.get("/v1/forecasts").json()["model_version"] == champion
    assert client.get(f"/v1/models/{candidate}").json()["status"] == "candidate"
    assert f"serving {champion}" in client.get("/readyz").json()["checks"]["champion"]
    assert (
        client.get(f"/v1/models/{candidate}").json()["manifest"] is not None
    )  # manifest intact, model not


def test_serving_reads_only_issued_forecasts_and_a_promotion_issues_once(
    served_home: Path, tmp_path: Path
) -> None:
    """Two app instances (two workers) serve with no artifacts on disk: they never load a model.
    A promotion made elsewhere issues once, and both switch to it."""
    champion, candidate = _versions(served_home)
    elsewhere = tmp_path / "promoter-artifacts"
    shutil.move(served_home / "artifacts", elsewhere)
    settings = _settings(served_home)
    with TestClient(create_app(settings)) as first, TestClient(create_app(settings)) as second:
        for client in (first, second):
            assert client.get("/v1/forecasts").json()["model_version"] == champion
        engine = first.app.state.engine  # type: ignore[attr-defined]
        issuing.promote(engine, Installation(elsewhere, SECRET), candidate, "cli", "newer")
        wait_until(lambda: all(
            c.get("/v1/forecasts").json()["model_version"] == candidate for c in (first, second)
        ))  # fmt: skip
        with engine.connect() as conn:
            issues = conn.execute(
                select(func.count(func.distinct(issued_forecasts.c.issued_at))).where(
                    issued_forecasts.c.version == candidate
                )
            ).scalar_one()
        assert issues == 1


def test_training_jobs_upload_validate_and_queue(served_home: Path) -> None:
    settings = _settings(served_home, max_upload_bytes=4096)
    with TestClient(create_app(settings)) as client:
        keys = _keys(client)
        admin = _bearer(keys["admin"])
        engine = client.app.state.engine  # type: ignore[attr-defined]
        with engine.connect() as conn:
            stored = conn.execute(select(func.count()).select_from(event_rows)).scalar_one()

        queued = client.post("/v1/training-jobs", headers=admin)
        assert (
            queued.status_code == 202
            and queued.json()["kind"] == "train"
            and queued.json()["status"] == "queued"
        )

        sample = (DATA / "gtd_pakistan_sample.csv").read_bytes()
        accepted = client.post(
            "/v1/training-jobs",
            headers=admin,
            files={"events": ("gtd.csv", sample, "text/csv")},
            data={"promote": "never"},
        )
        assert accepted.status_code == 202, accepted.text
        job = jobs.get(engine, accepted.json()["id"])
        assert (
            job.kind == "retrain"
            and job.params["promote"] == "never"
            and job.requested_by == "admin-key"
        )
        assert Path(job.params["events"]).read_bytes() == sample
        anonymous = client.get(f"/v1/training-jobs/{job.id}").json()
        assert anonymous["status"] == "queued" and anonymous["requested_by"] is None
        assert anonymous["result"] is None and anonymous["findings"] is None
        reader = _bearer(keys["reader"])
        known = client.get(f"/v1/training-jobs/{job.id}", headers=reader).json()
        assert known["requested_by"] == "admin-key"

        malformed = client.post(
            "/v1/training-jobs",
            headers=admin,
            files={"events": ("bad.csv", b"id,when\n1,2\n", "text/csv")},
        )
        assert malformed.status_code == 400 and "bad.csv" in malformed.json()["error"]["message"]
        oversized = client.post(
            "/v1/training-jobs",
            headers=admin,
            files={"events": ("big.csv", b"x" * 10_000, "text/csv")},
        )
        assert oversized.status_code == 413
        wrong_type = client.post(
            "/v1/training-jobs", headers=admin, files={"events": ("x.exe", b"MZ", "application/x")}
        )
        assert wrong_type.status_code == 400

        assert len(list((served_home / "uploads").iterdir())) == 1  # only the accepted file
        with engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(event_rows)).scalar_one() == stored
        shown = client.get(f"/v1/training-jobs/{job.id}")
        assert shown.status_code == 200 and shown.json()["status"] == "queued"
        assert client.get("/v1/training-jobs/999").status_code == 404


def test_metrics_expose_requests_champion_and_risk(client: TestClient, served_home: Path) -> None:
    client.get("/v1/forecasts")
    client.get("/v1/forecasts/PK-XX")
    text = client.get("/metrics").text
    champion = _versions(served_home)[0]
    assert (
        'threatcast_http_requests_total{method="GET",route="/v1/forecasts",status="200"} 1.0'
        in text
    )
    assert 'route="/v1/forecasts/{region}",status="404"' in text
    assert f'threatcast_champion_info{{series="pak-ucdp-month",version="{champion}"}} 1.0' in text
    assert (
        'threatcast_risk_probability{horizon="1",region="PK-KP",series="pak-ucdp-month",'
        'target="event"}' in text
    )
    assert "threatcast_http_request_duration_seconds_bucket" in text
    # Fatalities and actor groups, as the default model forecasts them.
    for stat in ("mean", "p10", "p50", "p90"):
        assert (
            'threatcast_forecast_fatalities{horizon="1",region="PK-KP",series="pak-ucdp-month",'
            f'stat="{stat}"}}' in text
        )
    for group in ("baloch", "iskp", "ttp"):
        assert (
            f'threatcast_actor_probability{{actor="{group}",horizon="1",region="PK-BA",'
            'series="pak-ucdp-month"}' in text
        )


def test_readiness_needs_a_verified_champion(client: TestClient, served_home: Path) -> None:
    assert client.get("/readyz").json()["status"] == "ready"
    engine = client.app.state.engine  # type: ignore[attr-defined]
    with engine.begin() as conn:
        conn.execute(model_versions.update().values(status="retired"))
    wait_until(lambda: client.get("/readyz").status_code == 503)
    ready = client.get("/readyz")
    assert (
        ready.status_code == 503
        and "no pak-ucdp-month champion" in ready.json()["checks"]["champion"]
    )


def test_hot_swap_serves_every_request_and_changes_version_once(
    client: TestClient, served_home: Path
) -> None:
    champion, candidate = _versions(served_home)
    seen: list[tuple[int, str]] = []
    stop = threading.Event()

    def poll() -> None:
        while not stop.is_set():
            response = client.get("/v1/forecasts")
            seen.append((response.status_code, response.json().get("model_version", "")))

    poller = threading.Thread(target=poll)
    poller.start()
    time.sleep(0.5)
    engine = client.app.state.engine  # type: ignore[attr-defined]
    installation = Installation(served_home / "artifacts", SECRET)
    issuing.promote(engine, installation, candidate, "cli", "hot swap")  # as another process would
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and (not seen or seen[-1][1] != candidate):
        time.sleep(0.1)
    time.sleep(0.5)
    stop.set()
    poller.join()
    assert {status for status, _ in seen} == {200}
    versions = [v for _, v in seen]
    changes = sum(1 for a, b in itertools.pairwise(versions) if a != b)
    assert versions[0] == champion and versions[-1] == candidate and changes == 1
