"""The monitoring stack operators already run: the shipped Prometheus, Alertmanager and Grafana
files pass the real tools, and a real Prometheus and Alertmanager carry ThreatCast's alerts to a
receiver (Debian's packages, which `make test` installs)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from service.alerts import evaluation, rules
from service.alerts.delivery import Receivers, deliver_due, resend_firing
from service.alerts.tables import alert_deliveries
from service.app import create_app
from store.db import make_engine, write_transaction
from tests.conftest import free_port, served_settings, serving, wait_until
from training import issued, registry
from training.issued import Issue

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
PROMETHEUS_DIR = DEPLOY / "prometheus"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "threatcast.json"
TOOLS = {
    name: shutil.which(name)
    for name in ("promtool", "prometheus", "prometheus-alertmanager", "amtool")
}
TEMPLATE_VALUES = {"$series": "pak-ucdp-month", "$target": "event", "$region": "PK-KP"}


def _tool(name: str) -> str:
    path = TOOLS[name]
    if path is None:
        pytest.skip(f"{name} is not installed: `make test` installs Debian's prometheus and "
                    "prometheus-alertmanager (as root: apt-get install prometheus "
                    "prometheus-alertmanager)")  # fmt: skip
    return path


def _run(*command: str, cwd: Path | None = None) -> str:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def test_the_shipped_prometheus_files_pass_promtool() -> None:
    promtool = _tool("promtool")
    assert "SUCCESS" in _run(promtool, "check", "config", str(PROMETHEUS_DIR / "prometheus.yml"))
    assert "12 rules found" in _run(
        promtool, "check", "rules", str(PROMETHEUS_DIR / "threatcast-rules.yml")
    )
    # The rules' unit tests: each alert fires, and stops, where it should.
    assert "SUCCESS" in _run(
        promtool, "test", "rules", "threatcast-rules.test.yml", cwd=PROMETHEUS_DIR
    )


def test_the_shipped_alertmanager_config_passes_amtool() -> None:
    amtool = _tool("amtool")
    assert "SUCCESS" in _run(
        amtool, "check-config", str(DEPLOY / "alertmanager" / "alertmanager.yml")
    )


def _dashboard_expressions() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    found = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    for variable in dashboard["templating"]["list"]:
        query = variable.get("definition", "")
        inner = re.fullmatch(r"label_values\((.+), \w+\)", query)
        if inner:
            found.append(inner[1])
    return found


def test_every_dashboard_expression_parses_and_names_a_real_metric(
    tmp_path: Path, served_home: Path
) -> None:
    promtool = _tool("promtool")
    expressions = _dashboard_expressions()
    assert len(expressions) >= 12
    filled = []
    for expr in expressions:
        for variable, value in TEMPLATE_VALUES.items():
            expr = expr.replace(variable, value)
        filled.append(expr)
    rules_file = tmp_path / "dashboard-expressions.yml"
    rules_file.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:expression_{i}", "expr": expr} for i, expr in enumerate(filled)
    ]}]}))  # fmt: skip
    assert f"{len(filled)} rules found" in _run(promtool, "check", "rules", str(rules_file))
    # Every ThreatCast metric they read is one the service exports or a shipped rule records.
    settings = served_settings(served_home)
    with TestClient(create_app(settings)) as client:
        exported = set(re.findall(r"^# TYPE (\w+)", client.get("/metrics").text, re.MULTILINE))
    recorded = set(
        re.findall(r"record: (\S+)", (PROMETHEUS_DIR / "threatcast-rules.yml").read_text())
    )
    used = {name for expr in filled for name in re.findall(r"threatcast[:_][\w:]+", expr)}
    assert used <= exported | recorded | {f"{name}_bucket" for name in exported}, (
        used - exported - recorded
    )


class _Receiver(BaseHTTPRequestHandler):
    """Alertmanager's webhook receiver: it keeps every notification."""

    received: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Receiver.received.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@contextmanager
def _receiver() -> Iterator[str]:
    _Receiver.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/threatcast"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def _process(command: list[str], ready_url: str, log: Path) -> Iterator[None]:
    with log.open("w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(ready_url, timeout=1):
                    break
            except OSError:
                assert process.poll() is None, f"{command[0]} exited:\n{log.read_text()[-2000:]}"
                assert time.monotonic() < deadline, (
                    f"{command[0]} not ready:\n{log.read_text()[-2000:]}"
                )
                time.sleep(0.2)
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def _alertmanager_config(path: Path, receiver_url: str) -> Path:
    config = yaml.safe_load((DEPLOY / "alertmanager" / "alertmanager.yml").read_text())
    config["route"].update(group_wait="1s", group_interval="1s", repeat_interval="1h")
    for receiver in config["receivers"]:
        for hook in receiver.get("webhook_configs", []):
            hook["url"] = receiver_url
    path.write_text(yaml.safe_dump(config))
    return path


def _prometheus_config(directory: Path, threatcast: str, alertmanager: str) -> Path:
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    config["global"].update(scrape_interval="1s", evaluation_interval="1s")
    config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] = [alertmanager]
    config["scrape_configs"][0]["static_configs"][0]["targets"] = [threatcast]
    shutil.copy(PROMETHEUS_DIR / "threatcast-rules.yml", directory / "threatcast-rules.yml")
    path = directory / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def _notified(alertname: str, status: str) -> bool:
    return any(
        alert["labels"].get("alertname") == alertname and alert["status"] == status
        for note in _Receiver.received
        for alert in note["alerts"]
    )


def _active(alertmanager: str) -> set[str]:
    return {a["labels"]["alertname"] for a in _get(f"{alertmanager}/api/v2/alerts")}


def _issue_with(engine: Engine, p_event: float) -> Issue:
    champion = registry.champion(engine, "pak-ucdp-month")
    assert champion is not None
    issue = issued.latest_issue(engine, champion)
    assert issue is not None
    rows = tuple(replace(r, p_event=p_event) if (r.region, r.horizon) == ("PK-KP", 1) else r
                 for r in issue.rows)  # fmt: skip
    return replace(issue, rows=rows, severe_threshold=25)


def _pushes(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count())
                .select_from(alert_deliveries)
                .where(
                    alert_deliveries.c.kind == "alertmanager",
                    alert_deliveries.c.status == "delivered",
                )
            ).scalar_one()
        )


@pytest.mark.integration
def test_prometheus_and_alertmanager_carry_threatcast_alerts(
    sqlite_served_home: Path, tmp_path: Path
) -> None:
    prometheus, alertmanager = _tool("prometheus"), _tool("prometheus-alertmanager")
    am_port, prom_port = free_port(), free_port()
    am_url = f"http://127.0.0.1:{am_port}"
    with _receiver() as receiver_url, _process(
        [alertmanager, f"--config.file={_alertmanager_config(tmp_path / 'am.yml', receiver_url)}",
         f"--storage.path={tmp_path / 'am-data'}", f"--web.listen-address=127.0.0.1:{am_port}",
         "--cluster.listen-address="],
        f"{am_url}/-/ready", tmp_path / "alertmanager.log",
    ), serving(
        sqlite_served_home, alertmanager_urls=json.dumps([am_url]), alertmanager_resend_s="2",
        alert_allow_internal_receivers="true", public_url="http://threatcast.test",
    ) as (_, threatcast_url):  # fmt: skip
        config = _prometheus_config(
            tmp_path, threatcast_url.removeprefix("http://"), f"127.0.0.1:{am_port}"
        )
        with _process(
            [prometheus, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{prom_port}"],
            f"http://127.0.0.1:{prom_port}/-/ready", tmp_path / "prometheus.log",
        ):  # fmt: skip
            # Prometheus scrapes ThreatCast; the shipped rule fires on Khyber Pakhtunkhwa's
            # severe-month risk (0.48 > 0.4); Alertmanager routes it to the receiver.
            wait_until(lambda: _notified("ThreatCastSevereRiskHigh", "firing"), timeout_s=60)
            fired = next(a for n in _Receiver.received for a in n["alerts"]
                         if a["labels"]["alertname"] == "ThreatCastSevereRiskHigh")  # fmt: skip
            assert fired["labels"]["region"] == "PK-KP"
            assert fired["labels"]["series"] == "pak-ucdp-month"

        # An alert ThreatCast pushes itself: a rule on KP's next-month p_event, issued above it.
        engine = make_engine(f"sqlite:///{sqlite_served_home / 'threatcast.db'}")
        rules.create_rule(engine, rules.AlertRuleIn.model_validate(
            {"name": "KP attack risk", "region": "PK-KP", "horizon": 1, "threshold": 0.9,
             "severity": "critical"}), "test")  # fmt: skip
        with write_transaction(engine) as conn:  # as `threatcast forecast` would, elsewhere
            assert evaluation.evaluate(conn, _issue_with(engine, 0.97)) == 1
        wait_until(lambda: "KP attack risk" in _active(am_url), timeout_s=30)
        pushed = next(a for a in _get(f"{am_url}/api/v2/alerts")
                      if a["labels"]["alertname"] == "KP attack risk")  # fmt: skip
        assert pushed["labels"] | {"region": "PK-KP", "horizon": "1", "target": "p_event",
                                   "severity": "critical", "series": "pak-ucdp-month"} == pushed["labels"]  # fmt: skip
        assert pushed["annotations"]["value"] == "0.970000"
        # The server's receivers and its public URL, not the issuing process's settings.
        assert pushed["annotations"]["dashboard"].startswith("http://threatcast.test")
        wait_until(lambda: _notified("KP attack risk", "firing"), timeout_s=30)
        # While it fires, the server pushes it again (every 2 s here) so it never times out.
        wait_until(lambda: _pushes(engine) >= 2, timeout_s=30)
        # The forecast falls back below the band: the alert resolves in Alertmanager.
        with write_transaction(engine) as conn:
            assert evaluation.evaluate(conn, _issue_with(engine, 0.5)) == 1
        wait_until(lambda: "KP attack risk" not in _active(am_url), timeout_s=30)
        wait_until(lambda: _notified("KP attack risk", "resolved"), timeout_s=30)
        engine.dispose()


def test_pushes_to_alertmanager_use_its_v2_format_and_repeat_while_firing(
    sqlite_served_home: Path,
) -> None:
    engine = make_engine(f"sqlite:///{sqlite_served_home / 'threatcast.db'}")
    with _receiver() as receiver_url:
        base = receiver_url.removesuffix("/threatcast")
        rules.create_rule(engine, rules.AlertRuleIn.model_validate(
            {"name": "KP", "region": "PK-KP", "horizon": 1, "threshold": 0.9}), "test")  # fmt: skip
        receivers = Receivers([], [base], "http://tc", allow_internal=True)
        with write_transaction(engine) as conn:
            evaluation.evaluate(conn, _issue_with(engine, 0.97))
        assert deliver_due(engine, "key", 1.0, 3, receivers=receivers) == 1
        assert resend_firing(engine, [base], "http://tc", every_s=3600) == 0  # just pushed
        assert resend_firing(engine, [base], "http://tc", every_s=0) == 1
        assert resend_firing(engine, [base], "http://tc", every_s=0) == 0  # one waits already
        assert deliver_due(engine, "key", 1.0, 3, receivers=receivers) == 1
        with write_transaction(engine) as conn:
            evaluation.evaluate(conn, _issue_with(engine, 0.1))
        assert deliver_due(engine, "key", 1.0, 3, receivers=receivers) == 1
    firing, again, resolved = _Receiver.received
    assert isinstance(firing, list) and firing == again
    assert set(firing[0]) == {"labels", "annotations", "startsAt", "generatorURL"}  # no endsAt
    assert firing[0]["labels"]["alertname"] == "KP" and firing[0]["generatorURL"].startswith(
        "http://tc/v1/alerts/"
    )
    ends = datetime.fromisoformat(resolved[0]["endsAt"])
    assert ends <= datetime.now(UTC) and resolved[0]["labels"] == firing[0]["labels"]
    assert resend_firing(engine, [base], "http://tc", every_s=0) == 0  # resolved: no more pushes
    engine.dispose()
