"""Alert rules, their evaluation (hysteresis, cooldown, no duplicates), acknowledgement, and
webhook delivery to a real receiver that fails at first, across a service restart."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from events.panel import region_outcomes
from events.periods import Frequency, shift_period
from events.series import Series
from service.alerts import evaluation, lifecycle, rules, webhooks
from service.alerts.delivery import Receivers, deliver_due, list_deliveries
from service.alerts.tables import alerts
from service.alerts.webhooks import SIGNATURE_HEADER, TIMESTAMP_HEADER
from service.app import create_app
from service.installation import installation
from service.keys import create_key
from service.settings import Settings
from store.db import make_engine, write_transaction
from tests.conftest import SECRET, SMALL_TRAINING, free_port, served_settings, wait_until
from training import issued, issuing, registry
from training.config import TrainingConfig
from training.issued import Issue
from training.train import train_version

UCDP_MONTH = Series("PAK", "ucdp", Frequency.MONTH)


def _engine(home: Path) -> Engine:
    return make_engine((home / "database_url.txt").read_text())


def _issue(engine: Engine) -> Issue:
    champion = registry.champion(engine, "pak-ucdp-month")
    assert champion is not None
    issue = issued.latest_issue(engine, champion)
    assert issue is not None
    return replace(issue, severe_threshold=25)


def _evaluate(engine: Engine, issue: Issue) -> int:
    """Evaluate as issuing does: inside a write transaction."""
    with write_transaction(engine) as conn:
        return evaluation.evaluate(conn, issue)


def _to(*urls: str, base_url: str = "") -> Receivers:
    """The receivers a server on loopback is set to (internal addresses allowed)."""
    return Receivers(list(urls), [], base_url, allow_internal=True)


def _with_value(issue: Issue, region: str, horizon: int, **values: float) -> Issue:
    rows = tuple(
        replace(row, **values) if (row.region, row.horizon) == (region, horizon) else row
        for row in issue.rows
    )
    return replace(issue, rows=rows)


def _rule(**fields: Any) -> rules.AlertRuleIn:
    return rules.AlertRuleIn.model_validate(
        {"name": "KP risk", "region": "PK-KP", "horizon": 1, "threshold": 0.5, **fields}
    )


def test_rules_crud_and_validation(served_home: Path) -> None:
    settings = served_settings(served_home)
    with TestClient(create_app(settings)) as client:
        engine = client.app.state.engine  # type: ignore[attr-defined]
        admin = {"Authorization": f"Bearer {create_key(engine, 'ops', 'admin')[1]}"}
        reader = {"Authorization": f"Bearer {create_key(engine, 'analyst', 'reader')[1]}"}
        body = {"name": "KP", "region": "PK-KP", "threshold": 0.8, "severity": "critical"}
        assert client.post("/v1/alert-rules", json=body, headers=reader).status_code == 403
        created = client.post("/v1/alert-rules", json=body, headers=admin)
        assert created.status_code == 201 and created.json()["created_by"] == "ops"
        rule_id = created.json()["id"]
        assert client.get("/v1/alert-rules").json()["count"] == 1
        changed = client.put(
            f"/v1/alert-rules/{rule_id}", json={**body, "threshold": 0.9}, headers=admin
        )
        assert changed.json()["threshold"] == 0.9
        for bad in ({"threshold": 1.5}, {"region": "PK-XX"}, {"horizon": 9}, {"condition": "rise", "threshold": 0},
                    {"target": "deaths"}, {"webhook_url": "not a url"}):  # fmt: skip
            response = client.post("/v1/alert-rules", json={**body, **bad}, headers=admin)
            assert response.status_code == 422, bad
        assert client.post(
            "/v1/alert-rules", json={**body, "region": "PK-XX"}, headers=admin
        ).json()["error"]["details"]["valid_regions"]
        assert client.delete(f"/v1/alert-rules/{rule_id}", headers=admin).status_code == 204
        assert client.get(f"/v1/alert-rules/{rule_id}").status_code == 404


def test_hysteresis_cooldown_and_no_duplicate_alerts(served_home: Path) -> None:
    engine = _engine(served_home)
    issue = _issue(engine)
    rule = rules.create_rule(engine, _rule(hysteresis=0.1, cooldown_s=3600), "cli")
    high = _with_value(issue, "PK-KP", 1, p_event=0.9)
    assert _evaluate(engine, high) == 1
    assert _evaluate(engine, high) == 0  # the same condition never opens two alerts
    assert _evaluate(engine, _with_value(issue, "PK-KP", 1, p_event=0.45)) == 0  # inside the band
    assert [a["state"] for a in evaluation.list_alerts(engine)[0]] == ["firing"]
    assert _evaluate(engine, _with_value(issue, "PK-KP", 1, p_event=0.35)) == 1  # resolved
    assert _evaluate(engine, high) == 0  # cooling down
    assert [a["state"] for a in evaluation.list_alerts(engine)[0]] == ["resolved"]
    lifecycle.update_rule(engine, rule.id, _rule(hysteresis=0.1, cooldown_s=0))
    assert _evaluate(engine, high) == 1
    assert [a["state"] for a in evaluation.list_alerts(engine)[0]] == ["firing", "resolved"]


def test_rise_and_above_average_conditions(served_home: Path) -> None:
    engine = _engine(served_home)
    issue = _issue(engine)  # origin 2021-12; the champion also issued at 2021-10
    kp = next(r for r in issue.rows if (r.region, r.horizon) == ("PK-KP", 1))
    rules.create_rule(
        engine, _rule(name="rise", condition="rise", target="expected_events", threshold=1.0), "cli"
    )
    rising = _with_value(issue, "PK-KP", 1, expected_events=kp.expected_events + 50)
    assert _evaluate(engine, rising) == 1
    rules.create_rule(
        engine,
        _rule(
            name="avg",
            region="PK-BA",
            condition="above_average",
            target="expected_events",
            threshold=3.0,
        ),
        "cli",
    )
    assert _evaluate(engine, _with_value(rising, "PK-BA", 1, expected_events=0.1)) == 0
    assert _evaluate(engine, _with_value(rising, "PK-BA", 1, expected_events=500.0)) == 1
    assert {a["rule_name"] for a in evaluation.list_alerts(engine, state="firing")[0]} == {
        "rise",
        "avg",
    }


class _Receiver(BaseHTTPRequestHandler):
    failures_left = 0
    received: ClassVar[list[tuple[dict[str, Any], str, bytes]]] = []
    timestamps: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.path == "/moved":
            self.send_response(307)
            self.send_header("Location", "/hook")
        elif _Receiver.failures_left > 0:
            _Receiver.failures_left -= 1
            self.send_response(503)
        else:
            _Receiver.received.append((json.loads(body), self.headers[SIGNATURE_HEADER], body))
            _Receiver.timestamps.append(self.headers[TIMESTAMP_HEADER])
            self.send_response(200)
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[HTTPServer, str]]:
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    _Receiver.failures_left, _Receiver.received, _Receiver.timestamps = 0, [], []
    yield server, f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.server_close()


def _serve(server: HTTPServer) -> threading.Thread:
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    return thread


def test_webhooks_retry_with_backoff_and_are_signed(
    served_home: Path, receiver: tuple[HTTPServer, str]
) -> None:
    server, url = receiver
    _serve(server)
    _Receiver.failures_left = 2
    engine = _engine(served_home)
    rules.create_rule(engine, _rule(webhook_url=url, severity="critical"), "cli")
    assert _evaluate(engine, _with_value(_issue(engine), "PK-KP", 1, p_event=0.95)) == 1
    key = "receiver-shared-secret"
    deadline = time.monotonic() + 20
    while not _Receiver.received and time.monotonic() < deadline:
        deliver_due(
            engine, key, backoff_s=0.05, max_attempts=10, receivers=_to(base_url="http://tc")
        )
        time.sleep(0.05)
    server.shutdown()
    payload, signature, body = _Receiver.received[0]
    timestamp = _Receiver.timestamps[0]
    assert abs(int(timestamp) - time.time()) < 60  # receivers refuse stale ones: no replays
    signed = timestamp.encode() + b"." + body
    assert signature == "sha256=" + hmac.new(key.encode(), signed, hashlib.sha256).hexdigest()
    assert payload["version"] == "4" and payload["status"] == "firing"
    alert = payload["alerts"][0]
    assert alert["labels"]["region"] == "PK-KP" and alert["labels"]["severity"] == "critical"
    assert (
        alert["endsAt"] == "0001-01-01T00:00:00Z" and float(alert["annotations"]["value"]) == 0.95
    )
    log = list_deliveries(engine)[0]
    assert (
        log[0]["status"] == "delivered" and log[0]["attempts"] == 3 and log[0]["last_error"] is None
    )


def test_no_alert_is_lost_while_the_receiver_is_down_across_a_restart(served_home: Path) -> None:
    port = free_port()  # nothing listens there yet: every delivery is refused
    url = f"http://127.0.0.1:{port}/hook"
    _Receiver.failures_left, _Receiver.received = 0, []
    settings = served_settings(
        served_home, alert_webhook_urls=[url], webhook_backoff_s=0.05, refresh_s=0.2,
        alert_allow_internal_receivers=True,
    )  # fmt: skip
    engine = _engine(served_home)
    rules.create_rule(engine, _rule(threshold=0.01, region=None, horizon=1), "cli")
    issuing.issue(engine, installation(settings))  # issuing evaluates the rules, once
    with TestClient(create_app(settings)) as client:
        firing = client.get("/v1/alerts", params={"state": "firing"}).json()["count"]
        assert firing == 7
        wait_until(
            lambda: (
                len(tried := list_deliveries(engine)[0]) == 7
                and all(d["attempts"] >= 1 for d in tried)
            )
        )
        assert 'threatcast_alerts_firing{horizon="1"' in client.get("/metrics").text
        metrics = client.get("/metrics").text
        assert "threatcast_alert_deliveries_pending 7.0" in metrics  # the backlog, for a pager
        pattern = r"^threatcast_alert_delivery_oldest_pending_seconds (\S+)$"
        oldest = re.search(pattern, metrics, re.M)
        assert oldest is not None and float(oldest[1]) > 0
    log = list_deliveries(engine)[0]
    assert len(log) == 7 and {d["status"] for d in log} == {"pending"}  # stored, not lost
    assert all(d["attempts"] >= 1 and "refused" in (d["last_error"] or "").lower() for d in log)

    receiver = HTTPServer(("127.0.0.1", port), _Receiver)
    _serve(receiver)
    with TestClient(create_app(settings)):  # the restarted service delivers what was stored
        deadline = time.monotonic() + 30
        while len(_Receiver.received) < firing and time.monotonic() < deadline:
            time.sleep(0.1)
    receiver.shutdown()
    receiver.server_close()
    assert sorted(p["alerts"][0]["labels"]["region"] for p, _, _ in _Receiver.received) == [
        "PK-BA", "PK-GB", "PK-IS", "PK-JK", "PK-KP", "PK-PB", "PK-SD",
    ]  # fmt: skip
    assert {d["status"] for d in list_deliveries(engine)[0]} == {"delivered"}


def test_acknowledge_and_filter(served_home: Path) -> None:
    settings = served_settings(served_home)
    engine = _engine(served_home)
    rules.create_rule(engine, _rule(severity="critical"), "cli")
    _evaluate(engine, _with_value(_issue(engine), "PK-KP", 1, p_event=0.99))
    with TestClient(create_app(settings)) as client:
        admin = {"Authorization": f"Bearer {create_key(engine, 'ops', 'admin')[1]}"}
        listed = client.get("/v1/alerts", params={"severity": "critical"})
        alert_id = listed.json()["data"][0]["id"]
        etag = listed.headers["ETag"]
        unchanged = client.get(
            "/v1/alerts", params={"severity": "critical"}, headers={"If-None-Match": etag}
        )
        assert unchanged.status_code == 304
        assert client.get("/v1/alerts", params={"region": "PK-SD"}).json()["count"] == 0
        assert (
            client.post(f"/v1/alerts/{alert_id}/acknowledge", json={"comment": "seen"}).status_code
            == 401
        )
        acked = client.post(
            f"/v1/alerts/{alert_id}/acknowledge", json={"comment": "seen"}, headers=admin
        )
        assert (
            acked.status_code == 200
            and acked.json()["acknowledged_by"] == "ops"
            and acked.json()["ack_comment"] == "seen"
        )
        assert client.post("/v1/alerts/999/acknowledge", json={}, headers=admin).status_code == 404
        changed = client.get(
            "/v1/alerts", params={"severity": "critical"}, headers={"If-None-Match": etag}
        )
        assert changed.status_code == 200  # anonymous: that it was acknowledged, not by whom
        assert changed.json()["data"][0]["acknowledged_at"] is not None
        assert changed.json()["data"][0]["acknowledged_by"] is None
        assert changed.json()["data"][0]["ack_comment"] is None
        reader = {"Authorization": f"Bearer {create_key(engine, 'analyst', 'reader')[1]}"}
        seen = client.get("/v1/alerts", params={"severity": "critical"}, headers=reader)
        assert seen.json()["data"][0]["acknowledged_by"] == "ops"
        assert seen.json()["data"][0]["ack_comment"] == "seen"
        assert client.get("/v1/alert-deliveries", headers=admin).status_code == 200


def test_p_severe_rules_count_severe_periods_with_the_models_threshold(recent_home: Path) -> None:
    """A model trained with severe_threshold 50 is alerted on at 50, not at a second 25."""
    settings = Settings(home=recent_home, secret_key=SECRET)
    engine = make_engine(settings.database_url)
    config = TrainingConfig.model_validate({**SMALL_TRAINING, "severe_threshold": 50})
    trained = train_version(
        engine, config, artifact_root=settings.artifact_root, secret=SECRET, as_of="2021-12"
    )
    setup = installation(settings)
    issuing.promote(engine, setup, trained.version.version, "cli", "threshold 50")
    issue = _issue(engine)
    value = next(r for r in issue.rows if (r.region, r.horizon) == ("PK-KP", 1)).p_severe
    months = [shift_period("2021-12", -k, "month") for k in range(12)]
    fatalities = region_outcomes(engine, UCDP_MONTH, "PK-KP", months)["fatalities"]
    share_50, share_25 = (max(float((fatalities >= t).mean()), 1 / 12) for t in (50, 25))
    assert share_50 < share_25  # KP had months of 25 to 49 deaths in 2021
    factor = value / ((share_50 + share_25) / 2)  # above 50's trailing share, below 25's
    rules.create_rule(
        engine,
        _rule(target="p_severe", condition="above_average", threshold=factor, name="severe"),
        "cli",
    )
    issuing.issue(engine, setup)  # the same forecasts again: now the rule is evaluated
    assert [a["rule_name"] for a in evaluation.list_alerts(engine, state="firing")[0]] == ["severe"]


def _listener(respond: Any) -> tuple[socket.socket, str]:
    """A loopback receiver that reads each request, then lets `respond(conn)` answer it."""
    listener = socket.create_server(("127.0.0.1", 0))

    def answer() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn, contextlib.suppress(OSError):
                conn.recv(65536)
                respond(conn)

    threading.Thread(target=answer, daemon=True).start()
    return listener, f"http://127.0.0.1:{listener.getsockname()[1]}/hook"


def _not_http_listener() -> tuple[socket.socket, str]:
    """Answers every connection with a line that is not HTTP."""
    return _listener(lambda conn: conn.sendall(b"HELLO THIS IS NOT HTTP\r\n\r\n"))


def test_one_bad_receiver_never_stops_another(
    served_home: Path, receiver: tuple[HTTPServer, str], caplog: pytest.LogCaptureFixture
) -> None:
    server, healthy = receiver
    _serve(server)
    listener, garbage = _not_http_listener()
    engine = _engine(served_home)
    rules.create_rule(engine, _rule(webhook_url=garbage), "cli")
    bad = ["http://user:secret-pw@127.0.0.1:1/x", healthy.replace("/hook", "/moved"), healthy]
    _evaluate(engine, _with_value(_issue(engine), "PK-KP", 1, p_event=0.95))
    with caplog.at_level(logging.WARNING):
        delivered = deliver_due(engine, "k", backoff_s=0.05, max_attempts=10, receivers=_to(*bad))
        assert delivered == 1  # one step
    listener.close()
    server.shutdown()
    assert len(_Receiver.received) == 1  # the healthy receiver got the alert, once
    log = {d["url"]: d for d in list_deliveries(engine)[0]}
    assert len(log) == 4 and log[healthy]["status"] == "delivered"
    for url in (garbage, *bad[:2]):
        assert log[url]["status"] == "pending" and log[url]["attempts"] == 1, url
        assert log[url]["last_error"], url
    assert "redirects are not followed" in log[bad[1]]["last_error"]
    assert "secret-pw" not in caplog.text and "/hook" not in caplog.text  # hosts only


def test_an_alerts_firing_is_delivered_before_its_resolving(
    served_home: Path, receiver: tuple[HTTPServer, str]
) -> None:
    server, url = receiver
    _serve(server)
    _Receiver.failures_left = 1
    engine = _engine(served_home)
    rules.create_rule(engine, _rule(webhook_url=url), "cli")
    issue = _issue(engine)
    assert _evaluate(engine, _with_value(issue, "PK-KP", 1, p_event=0.95)) == 1
    assert _evaluate(engine, _with_value(issue, "PK-KP", 1, p_event=0.05)) == 1  # resolved
    assert deliver_due(engine, "k", 0.01, 10, receivers=_to()) == 0  # firing refused
    pending = [d for d in list_deliveries(engine)[0] if d["status"] == "pending"]
    assert sorted(d["attempts"] for d in pending) == [0, 1]  # resolved waits behind firing

    def both_sent() -> bool:
        deliver_due(engine, "k", 0.01, 10, receivers=_to())
        return len(_Receiver.received) == 2

    wait_until(both_sent)
    server.shutdown()
    assert [p["status"] for p, _, _ in _Receiver.received] == ["firing", "resolved"]


def test_only_admins_see_webhook_urls(served_home: Path) -> None:
    settings = served_settings(served_home)
    with TestClient(create_app(settings)) as client:
        engine = client.app.state.engine  # type: ignore[attr-defined]
        admin = {"Authorization": f"Bearer {create_key(engine, 'ops', 'admin')[1]}"}
        reader = {"Authorization": f"Bearer {create_key(engine, 'analyst', 'reader')[1]}"}
        url = "https://hooks.example.org/services/T000/B000/very-secret-token"
        body = {"name": "KP", "threshold": 0.8, "webhook_url": url}
        rule_id = client.post("/v1/alert-rules", json=body, headers=admin).json()["id"]
        for headers in ({}, reader):
            for listed in (
                client.get("/v1/alert-rules", headers=headers).json()["data"][0],
                client.get(f"/v1/alert-rules/{rule_id}", headers=headers).json(),
            ):
                assert (
                    listed["webhook_url"] is None and listed["webhook_host"] == "hooks.example.org"
                )
                assert "very-secret-token" not in json.dumps(listed)
        assert client.get("/v1/alert-rules", headers=admin).json()["data"][0]["webhook_url"] == url
        too_long = {**body, "webhook_url": "https://hooks.example.org/" + "x" * 500}
        assert client.post("/v1/alert-rules", json=too_long, headers=admin).status_code == 422
        for number in ("NaN", "Infinity"):
            raw = json.dumps({**body, "webhook_url": None}).replace(
                '"threshold": 0.8', f'"threshold": {number}'
            )
            response = client.post(
                "/v1/alert-rules",
                content=raw,
                headers={**admin, "Content-Type": "application/json"},
            )
            assert response.status_code == 422, number


def test_a_name_lookup_that_hangs_is_cut_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """getaddrinfo ignores socket timeouts; the lookup runs under its own bound. (A resolver
    that hangs cannot be run on this machine, so the lookup itself is made to hang.)"""
    monkeypatch.setattr(webhooks, "STEP_TIMEOUT_S", 0.2)
    monkeypatch.setattr(webhooks.socket, "getaddrinfo", lambda *_, **__: time.sleep(2))
    started = time.monotonic()
    problem = webhooks.post("http://receiver.invalid/hook", b"{}", "k")
    assert problem is not None and "DNS lookup of receiver.invalid took over" in problem
    assert time.monotonic() - started < 1.0


def _trickling_listener() -> tuple[socket.socket, str]:
    """Sends its status line one byte every 0.4 s: each read returns in time, the answer
    never ends."""

    def trickle(conn: socket.socket) -> None:
        for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 200:
            conn.sendall(bytes([byte]))
            time.sleep(0.4)

    return _listener(trickle)


def test_a_slow_receiver_delays_no_other_beyond_its_own_deadline(
    served_home: Path, receiver: tuple[HTTPServer, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(webhooks, "DEADLINE_S", 2.0)
    monkeypatch.setattr(webhooks, "STEP_TIMEOUT_S", 1.0)
    server, healthy = receiver
    _serve(server)
    listener, slow = _trickling_listener()
    engine = _engine(served_home)
    rules.create_rule(engine, _rule(webhook_url=slow), "cli")
    rules.create_rule(engine, _rule(name="BA risk", region="PK-BA", webhook_url=healthy), "cli")
    issue = _with_value(
        _with_value(_issue(engine), "PK-KP", 1, p_event=0.95), "PK-BA", 1, p_event=0.95
    )
    assert _evaluate(engine, issue) == 2
    started = time.monotonic()
    assert deliver_due(engine, "k", 0.05, 10, receivers=_to()) == 1
    elapsed = time.monotonic() - started
    listener.close()
    server.shutdown()
    assert elapsed < 4.0  # the slow one's deadline, not its trickle
    assert len(_Receiver.received) == 1
    log = {d["url"]: d for d in list_deliveries(engine)[0]}
    assert log[healthy]["status"] == "delivered"
    assert "no answer within the 2 s deadline" in log[slow]["last_error"]


def test_failed_deliveries_are_counted_and_alerted_on(
    served_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The app's own delivery loop (every 0.5 s, 10 attempts) would race this test's calls for
    # the same delivery and leave it retrying: here only the test delivers.
    monkeypatch.setattr("service.app.DELIVERY_POLL_S", 3600.0)
    url = f"http://127.0.0.1:{free_port()}/hook"  # refused every time
    engine = _engine(served_home)
    rules.create_rule(engine, _rule(webhook_url=url), "cli")
    _evaluate(engine, _with_value(_issue(engine), "PK-KP", 1, p_event=0.95))
    deliver_due(engine, "k", 0.0, 2, receivers=_to())
    settings = served_settings(served_home)
    with TestClient(create_app(settings)) as client:
        metrics = client.get("/metrics").text
        assert "threatcast_alert_deliveries_retrying 1.0" in metrics
        assert "threatcast_alert_deliveries_failed 0.0" in metrics
        deliver_due(engine, "k", 0.0, 2, receivers=_to())
        metrics = client.get("/metrics").text
        assert "threatcast_alert_deliveries_failed 1.0" in metrics
        assert "threatcast_alert_deliveries_retrying 0.0" in metrics
    assert list_deliveries(engine)[0][0]["status"] == "failed"


def test_deliveries_reach_the_serving_receivers_whoever_issued(
    served_home: Path, receiver: tuple[HTTPServer, str]
) -> None:
    server, url = receiver
    _serve(server)
    engine = _engine(served_home)
    rules.create_rule(engine, _rule(), "cli")
    # Issued by a process with no receivers configured (`threatcast forecast` in a bare shell).
    issuing.issue(engine, installation(served_settings(served_home)))
    with engine.connect() as conn:
        firing = conn.execute(select(func.count()).where(alerts.c.state == "firing")).scalar_one()
    assert firing == 1  # KP's next-month risk is above 0.5
    assert list_deliveries(engine)[0] == []  # a notice, waiting for a serving process
    settings = served_settings(
        served_home, alert_webhook_urls=[url], alert_allow_internal_receivers=True,
        public_url="http://threatcast.test",
    )  # fmt: skip
    with TestClient(create_app(settings)):
        wait_until(lambda: len(_Receiver.received) == 1)
    server.shutdown()
    payload = _Receiver.received[0][0]
    assert payload["externalURL"] == "http://threatcast.test"
    assert payload["alerts"][0]["labels"]["region"] == "PK-KP"


def test_deleting_or_moving_a_rule_ends_its_alerts_with_a_resolved_notice(
    served_home: Path, receiver: tuple[HTTPServer, str]
) -> None:
    server, url = receiver
    _serve(server)
    engine = _engine(served_home)
    moved = rules.create_rule(engine, _rule(webhook_url=url), "cli")
    deleted = rules.create_rule(engine, _rule(name="KP again", webhook_url=url), "cli")
    assert _evaluate(engine, _with_value(_issue(engine), "PK-KP", 1, p_event=0.95)) == 2
    lifecycle.update_rule(engine, moved.id, _rule(webhook_url=url, region="PK-BA"))
    lifecycle.delete_rule(engine, deleted.id)
    wait_until(lambda: deliver_due(engine, "k", 0.01, 10, receivers=_to()) >= 0
               and len(_Receiver.received) == 4)  # fmt: skip
    server.shutdown()
    statuses = sorted(
        (p["commonLabels"]["alertname"], p["status"]) for p, _, _ in _Receiver.received
    )
    assert statuses == [("KP again", "firing"), ("KP again", "resolved"),
                        ("KP risk", "firing"), ("KP risk", "resolved")]  # fmt: skip
    with engine.connect() as conn:
        firing = conn.execute(select(func.count()).where(alerts.c.state == "firing")).scalar_one()
    assert firing == 0
    with pytest.raises(rules.UnknownRule):
        rules.get_rule(engine, deleted.id)
    assert [r.id for r in rules.list_rules(engine)[0]] == [moved.id]


def test_receivers_at_internal_addresses_are_refused_unless_allowed(served_home: Path) -> None:
    assert webhooks.internal_address("127.0.0.1") and webhooks.internal_address("169.254.169.254")
    assert webhooks.internal_address("10.1.2.3") and webhooks.internal_address("::1")
    assert not webhooks.internal_address("93.184.216.34")
    problem = webhooks.post(f"http://127.0.0.1:{free_port()}/x", b"{}", "k")
    assert problem is not None and "refused: 127.0.0.1 is a loopback" in problem
    with TestClient(create_app(served_settings(served_home))) as client:
        engine = client.app.state.engine  # type: ignore[attr-defined]
        admin = {"Authorization": f"Bearer {create_key(engine, 'ops', 'admin')[1]}"}
        body = {"name": "KP", "threshold": 0.8, "webhook_url": "http://169.254.169.254/latest"}
        refused = client.post("/v1/alert-rules", json=body, headers=admin)
        assert refused.status_code == 422 and "link-local or private" in refused.text
    allowed = served_settings(served_home, alert_allow_internal_receivers=True)
    with TestClient(create_app(allowed)) as client:
        admin = {"Authorization": f"Bearer {create_key(engine, 'ops2', 'admin')[1]}"}
        assert client.post("/v1/alert-rules", json=body, headers=admin).status_code == 201
