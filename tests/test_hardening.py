"""What an outside review found, against a live server on loopback: anonymous bodies, the event
loop under a held write lock, and other bounded costs."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from typer.testing import CliRunner

from service.app import create_app
from service.cli import app
from service.keys import create_key
from service.settings import Settings, get_settings
from store.db import make_engine, migrate, write_transaction
from tests.conftest import DATA, SECRET, served_settings, serving
from training import issued, issuing, registry
from training.installation import Installation
from training.manifest import ArtifactError
from training.registry import model_versions


@dataclass(frozen=True)
class LiveServer:
    home: Path
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def rss_kib(self) -> int:
        """Resident memory of the server process and its children."""
        total = 0
        for pid in [self.process.pid, *_children(self.process.pid)]:
            status = Path(f"/proc/{pid}/status").read_text()
            total += int(
                next(ln for ln in status.splitlines() if ln.startswith("VmRSS")).split()[1]
            )
        return total


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().split(") ")[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if parent == pid:
                found.append(int(entry.name))
    return found


@pytest.fixture
def live(sqlite_served_home: Path) -> Iterator[LiveServer]:
    with serving(sqlite_served_home, log_level="WARNING") as (process, url):
        yield LiveServer(sqlite_served_home, int(url.rsplit(":", 1)[1]), process)


def _raw(port: int, head: str, body: bytes = b"", read_timeout: float = 5.0) -> tuple[int, float]:
    """Send a request by hand; the status and how long the answer took."""
    with socket.create_connection(("127.0.0.1", port), timeout=read_timeout) as sock:
        started = time.monotonic()
        sock.sendall(head.encode() + b"\r\n" + body)
        reply = sock.recv(4096)
        elapsed = time.monotonic() - started
    return int(reply.split(b" ", 2)[1]), elapsed


def _admin_token(home: Path) -> str:
    engine = make_engine(f"sqlite:///{home / 'threatcast.db'}")
    token = create_key(engine, f"admin-{time.monotonic_ns()}", "admin")[1]
    engine.dispose()
    return token


@pytest.mark.integration  # a live server process
def test_an_anonymous_gigabyte_body_is_refused_at_once(live: LiveServer) -> None:
    before = live.rss_kib()
    head = (
        "POST /v1/alert-rules HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Content-Length: 1000000000\r\n"
    )
    status, elapsed = _raw(live.port, head, b"{" + b" " * 65536)
    assert status == 413 and elapsed < 1.0
    # Without a Content-Length, streamed: refused for want of a key before the body is read.
    chunked = "POST /v1/training-jobs HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
    status, elapsed = _raw(live.port, chunked, b"10000\r\n" + b"x" * 65536 + b"\r\n")
    assert status == 401 and elapsed < 1.0
    assert live.rss_kib() - before < 50 * 1024
    assert not (live.home / "uploads").exists()


@pytest.mark.integration  # a live server process
def test_an_admin_body_over_the_limit_is_cut_off_while_streaming(live: LiveServer) -> None:
    token = _admin_token(live.home)
    head = (
        f"POST /v1/alert-rules HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
    )
    body = b"".join(b"4000\r\n" + b" " * 0x4000 + b"\r\n" for _ in range(8))  # 128 KiB
    status, _ = _raw(live.port, head, body)
    assert status == 413


@pytest.mark.integration  # a live server process
def test_the_event_loop_never_waits_for_the_write_lock(live: LiveServer) -> None:
    engine = make_engine(f"sqlite:///{live.home / 'threatcast.db'}")
    reader = create_key(engine, "reader-under-lock", "reader")[1]
    held, release = threading.Event(), threading.Event()

    def hold_lock() -> None:
        with write_transaction(engine):
            held.set()
            release.wait(10)

    holder = threading.Thread(target=hold_lock)
    holder.start()
    assert held.wait(10)
    try:
        timings = {}
        for name, headers in (("health", {}), ("keyed", {"Authorization": f"Bearer {reader}"})):
            path = "/healthz" if name == "health" else "/v1/forecasts"
            request = urllib.request.Request(f"{live.url}{path}", headers=headers)
            started = time.monotonic()
            with urllib.request.urlopen(request, timeout=10) as response:
                assert response.status == 200
                json.load(response)
            timings[name] = time.monotonic() - started
        assert timings["health"] < 0.5 and timings["keyed"] < 1.0, timings
    finally:
        release.set()
        holder.join()
        engine.dispose()


def _gzip_bomb(header: bytes, inflated_bytes: int) -> bytes:
    """A gzip of a CSV header and `inflated_bytes` of blank-ish lines, built without holding them."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: gzip framing
    parts = [compressor.compress(header + b"\n")]
    block = (b" " * 1023 + b"\n") * 1024  # a MiB
    parts += [compressor.compress(block) for _ in range(inflated_bytes >> 20)]
    return b"".join([*parts, compressor.flush()])


def _upload(client: TestClient, admin: dict[str, str], name: str, data: bytes) -> Any:
    return client.post(
        "/v1/training-jobs", headers=admin, files={"events": (name, data, "application/gzip")}
    )


def test_uploads_are_bounded_validated_as_stored_and_cleaned_up(served_home: Path) -> None:
    settings = served_settings(
        served_home, max_upload_bytes=2 * 2**20, max_inflated_bytes=16 * 2**20
    )
    with TestClient(create_app(settings)) as client:
        engine = client.app.state.engine  # type: ignore[attr-defined]
        admin = {"Authorization": f"Bearer {create_key(engine, 'ops', 'admin')[1]}"}
        header = (DATA / "gtd_pakistan_sample.csv").read_bytes().split(b"\n")[0]
        bomb = _gzip_bomb(header, 2**28)  # 256 MiB of text in a quarter of a megabyte
        assert len(bomb) < settings.max_upload_bytes
        started = time.monotonic()
        refused = _upload(client, admin, "events.csv.gz", bomb)
        assert refused.status_code == 413, refused.text
        assert time.monotonic() - started < 10  # read up to the bound, not the whole bomb
        assert "larger than 16777216 bytes" in refused.json()["error"]["message"]

        corrupt = _upload(client, admin, "events.csv.gz", b"\x1f\x8b\x08\x00" + b"\xff" * 200)
        assert corrupt.status_code == 400 and "damaged gzip" in corrupt.json()["error"]["message"]
        long_name = _upload(client, admin, "x" * 300 + ".csv", b"a,b\n1,2\n")
        assert long_name.status_code == 400 and len(long_name.json()["error"]["message"]) < 300

        sample = (DATA / "gtd_pakistan_sample.csv").read_text().splitlines()
        header, first = sample[0].split(","), sample[1].split(",")
        for column, value, reason in (("nkill", "1e30", "too large to store"),
                                      ("gname", "x" * 300, "longer than 200 characters")):  # fmt: skip
            row = [*first]
            row[header.index(column)] = value
            body = "\n".join([sample[0], ",".join(row), *sample[2:]]).encode()
            refused = _upload(client, admin, "gtd.csv", body)
            assert refused.status_code == 400 and "line 2" in refused.text, refused.text
            assert reason in refused.json()["error"]["message"]
        assert list((served_home / "uploads").iterdir()) == []  # nothing refused is kept


def test_server_errors_found_by_reading_are_client_errors(sqlite_served_home: Path) -> None:
    home = sqlite_served_home
    settings = Settings(home=home, secret_key=SECRET)
    with TestClient(create_app(settings)) as client:
        # The first request of a route pays for loading what it serves (the served issue, the
        # calendar's facts); the bound is on refusing.
        client.get("/v1/forecasts/archive", params={"region": "PK-KP", "period": "2021-12"})
        client.get("/v1/calendar", params={"start": "2021-01", "end": "2021-02"})
        for params in (
            {"region": "PK-KP", "period": "9999-12"},
            {"region": "PK-KP", "period": "9999-W52", "freq": "week"},
            {"region": "PK-KP", "period": "2021-1\n"},
            {"region": "PK-KP", "period": "٢٠٢١-١٢"},  # non-ASCII digits
        ):
            started = time.monotonic()
            response = client.get("/v1/forecasts/archive", params=params)
            assert response.status_code == 422, (params, response.text)
            assert time.monotonic() - started < 0.1
        for start, end in (("2021-W01", "2021-W02\n"), ("0001-01", "9999-12")):
            started = time.monotonic()
            response = client.get("/v1/calendar", params={"start": start, "end": end,
                                                          "freq": "week" if "W" in start else "month"})  # fmt: skip
            assert response.status_code == 422 and time.monotonic() - started < 0.1, response.text


def test_security_headers_and_docs_without_a_cdn(sqlite_served_home: Path) -> None:
    with TestClient(create_app(Settings(home=sqlite_served_home, secret_key=SECRET))) as client:
        page = client.get("/")
        assert "default-src 'self'" in page.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        for response in (page, client.get("/v1/forecasts"), client.get("/healthz")):
            assert response.headers["x-content-type-options"] == "nosniff"
            assert response.headers["x-frame-options"] == "DENY"
        docs = client.get("/docs").text
        assets = re.findall(r'(?:src|href)="([^"]+)"', docs)
        assert assets and all(a.startswith("/") for a in assets), assets
        assert all(client.get(a).status_code == 200 for a in assets)


def test_bad_settings_never_repeat_the_secret_they_were_given(tmp_path: Path) -> None:
    env = {**os.environ, "THREATCAST_HOME": str(tmp_path),
           "THREATCAST_DATABASE_URL": "postgresql://ops:hunter2-secret@db:notaport/x"}  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "service", "serve"], env=env, capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2 and "THREATCAST_DATABASE_URL" in done.stderr
    assert "hunter2" not in done.stderr + done.stdout


def test_only_db_upgrade_migrates_and_newer_schemas_keep_serving(
    sqlite_served_home: Path, tmp_path: Path
) -> None:
    home = sqlite_served_home
    engine = make_engine(f"sqlite:///{home / 'threatcast.db'}")
    with engine.begin() as conn:  # a newer release migrated the database
        conn.execute(text("UPDATE alembic_version SET version_num = '9999_from_the_future'"))
    engine.dispose()
    with TestClient(create_app(Settings(home=home, secret_key=SECRET))) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["checks"]["database"] == "ok"
    older = tmp_path / "older"  # a store an older release made: commands refuse to migrate it
    migrate(make_engine(f"sqlite:///{older / 'threatcast.db'}"), "0004")
    cli = CliRunner()
    env = {
        "THREATCAST_HOME": str(older),
        "THREATCAST_DATABASE_URL": "",
        "THREATCAST_SECRET_KEY": SECRET,
    }
    get_settings.cache_clear()
    refused = cli.invoke(app, ["events", "summary"], env=env)
    assert refused.exit_code == 1 and "threatcast db upgrade" in refused.stderr
    get_settings.cache_clear()
    assert cli.invoke(app, ["db", "upgrade"], env=env).exit_code == 0
    get_settings.cache_clear()
    assert cli.invoke(app, ["events", "summary"], env=env).exit_code == 0
    get_settings.cache_clear()


def test_metrics_follow_the_read_policy(sqlite_served_home: Path) -> None:
    settings = Settings(
        home=sqlite_served_home, secret_key=SECRET, public_forecasts=False,
        metrics_token="a-scrape-token-for-prometheus-only",
    )  # fmt: skip
    with TestClient(create_app(settings)) as client:
        engine = client.app.state.engine  # type: ignore[attr-defined]
        reader = create_key(engine, "grafana", "reader")[1]
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
        for token in ("a-scrape-token-for-prometheus-only", reader):
            response = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 200 and "threatcast_risk_probability" in response.text
    with TestClient(create_app(Settings(home=sqlite_served_home, secret_key=SECRET))) as client:
        assert client.get("/metrics").status_code == 200  # public forecasts, public metrics


def test_lists_come_in_bounded_pages_with_totals(sqlite_served_home: Path) -> None:
    with TestClient(create_app(Settings(home=sqlite_served_home, secret_key=SECRET))) as client:
        engine = client.app.state.engine  # type: ignore[attr-defined]
        admin = {"Authorization": f"Bearer {create_key(engine, 'ops', 'admin')[1]}"}
        for n in range(3):
            body = {"name": f"rule {n}", "threshold": 0.01, "region": "PK-KP", "horizon": 1}
            assert client.post("/v1/alert-rules", json=body, headers=admin).status_code == 201
        page = client.get("/v1/alert-rules", params={"limit": 2, "offset": 1}).json()
        assert (page["count"], page["total"], page["limit"], page["offset"]) == (2, 3, 2, 1)
        assert [r["name"] for r in page["data"]] == ["rule 1", "rule 2"]
        for path in ("/v1/alert-rules", "/v1/models", "/v1/alerts", "/v1/alert-deliveries"):
            too_many = client.get(path, params={"limit": 501}, headers=admin)
            assert too_many.status_code == 422, path
            assert client.get(path, params={"limit": 1}, headers=admin).json()["count"] <= 1
        models = client.get("/v1/models", params={"limit": 1}).json()
        assert models["count"] == 1 and models["total"] == 2
        archive = client.get(
            "/v1/forecasts/archive", params={"region": "PK-KP", "period": "2022-01", "limit": 1}
        ).json()
        assert archive["count"] == 1 and archive["total"] >= 1

        # The alert list's ETag is known from one aggregate query; a change makes a new one.
        first = client.get("/v1/alerts")
        etag = first.headers["ETag"]
        assert client.get("/v1/alerts", headers={"If-None-Match": etag}).status_code == 304
        subprocess.run(  # issuing evaluates the three rules: alerts open
            [sys.executable, "-m", "service", "forecast", "--output", str(sqlite_served_home / "f.csv")],
            env={**os.environ, "THREATCAST_HOME": str(sqlite_served_home),
                 "THREATCAST_DATABASE_URL": "", "THREATCAST_SECRET_KEY": SECRET},
            check=True, capture_output=True,
        )  # fmt: skip
        changed = client.get("/v1/alerts", headers={"If-None-Match": etag})
        assert changed.status_code == 200 and changed.json()["total"] == 3


def test_after_a_key_rotation_readiness_says_the_champion_needs_resigning(
    sqlite_served_home: Path,
) -> None:
    rotated = Settings(home=sqlite_served_home, secret_key="a-rotated-key-that-signed-nothing-123")
    with TestClient(create_app(rotated)) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 200  # the issued forecasts are still served
        assert "threatcast models resign" in ready.json()["checks"]["artifact"]
    with TestClient(create_app(Settings(home=sqlite_served_home, secret_key=SECRET))) as client:
        assert client.get("/readyz").json()["checks"]["artifact"] == "ok"


def test_an_issue_whose_alert_evaluation_fails_is_not_served(sqlite_served_home: Path) -> None:
    home = sqlite_served_home
    champion, candidate = (home / "versions.txt").read_text().split()
    engine = make_engine(f"sqlite:///{home / 'threatcast.db'}")

    def failing(conn: object, issue: object) -> None:
        raise RuntimeError("alert evaluation failed")

    broken = Installation(home / "artifacts", SECRET, failing)
    with pytest.raises(RuntimeError, match="alert evaluation failed"):
        issuing.promote(engine, broken, candidate, "cli", "newer")
    # One transaction: neither the promotion nor the issued rows happened.
    assert registry.champion(engine, "pak-ucdp-month").version == champion  # type: ignore[union-attr]
    assert issued.latest_issue_key(engine, candidate) is None
    engine.dispose()


def test_an_artifact_moved_under_another_version_is_refused(sqlite_served_home: Path) -> None:
    home = sqlite_served_home
    champion, candidate = (home / "versions.txt").read_text().split()
    engine = make_engine(f"sqlite:///{home / 'threatcast.db'}")
    theirs = registry.get(engine, champion)
    with engine.begin() as conn:  # the candidate's row now names the champion's signed files
        conn.execute(
            model_versions.update()
            .where(model_versions.c.version == candidate)
            .values(
                artifact_dir=theirs.artifact_dir,
                sha256=theirs.sha256,
                manifest_hmac=theirs.manifest_hmac,
            )
        )
    with pytest.raises(ArtifactError, match="written for version"):
        issuing.load_version(engine, Installation(home / "artifacts", SECRET), version=candidate)
    engine.dispose()


@pytest.mark.integration  # a live server process
def test_bad_periods_answer_fast_on_a_live_server(live: LiveServer) -> None:
    # The first request pays for the process's first route calls; the bound is on refusing.
    urllib.request.urlopen(f"{live.url}/v1/calendar?start=2021-01&end=2021-02", timeout=5)
    for path in (
        "/v1/calendar?freq=week&start=2021-W01&end=2021-W02%0A",
        "/v1/calendar?start=0001-01&end=9999-12",
        "/v1/forecasts/archive?region=PK-KP&period=9999-12",
        "/v1/forecasts/archive?region=PK-KP&period=9999-W52&freq=week",
    ):
        started = time.monotonic()
        try:
            urllib.request.urlopen(f"{live.url}{path}", timeout=5)
            status = 200
        except urllib.error.HTTPError as exc:
            status = exc.code
        assert status == 422 and time.monotonic() - started < 0.1, path


def test_every_surface_says_how_old_the_data_is(sqlite_served_home: Path) -> None:
    """The served issue's data end in 2021-12: stale on /v1/forecasts, /readyz and /metrics."""
    with TestClient(create_app(Settings(home=sqlite_served_home, secret_key=SECRET))) as client:
        body = client.get("/v1/forecasts").json()
        expected_age = (datetime.now(UTC).date() - date(2021, 12, 31)).days
        assert (body["data_cutoff"], body["data_age_days"], body["stale"]) == (
            "2021-12", expected_age, True,
        )  # fmt: skip
        assert client.get("/v1/forecasts/PK-KP").json()["stale"] is True
        ready = client.get("/readyz")
        assert ready.status_code == 200  # stale is not down
        data = ready.json()["checks"]["data"]
        assert data.startswith(
            "stale series: pak-ucdp-month; pak-ucdp-month stale: data end 2021-12"
        )
        metrics = client.get("/metrics").text
        assert (
            f'threatcast_data_age_days{{series="pak-ucdp-month"}} {float(expected_age)}' in metrics
        )
        # 2021-12-31, end of day
        assert 'threatcast_data_covered_until{series="pak-ucdp-month"} 1.6409951' in metrics
    lenient = Settings(home=sqlite_served_home, secret_key=SECRET, stale_after_days=10**5)
    with TestClient(create_app(lenient)) as client:
        assert client.get("/v1/forecasts").json()["stale"] is False
        assert (
            client.get("/readyz")
            .json()["checks"]["data"]
            .startswith("every served series is fresh")
        )


@pytest.mark.integration
def test_with_two_workers_a_scrape_counts_every_workers_requests(
    sqlite_served_home: Path,
) -> None:
    with serving(sqlite_served_home, workers=2, log_level="WARNING") as (_, url):
        sent = 0
        for _ in range(60):
            with urllib.request.urlopen(f"{url}/v1/regions", timeout=5):
                sent += 1
        for _ in range(5):  # whichever worker answers the scrape, it reports both
            text = urllib.request.urlopen(f"{url}/metrics", timeout=5).read().decode()
            counted = sum(
                float(line.rsplit(" ", 1)[1])
                for line in text.splitlines()
                if line.startswith("threatcast_http_requests_total{")
                and 'route="/v1/regions"' in line
            )
            assert counted == sent == 60
