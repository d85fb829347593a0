"""Delivery of alerts: stored first, signed, retried with exponential backoff.

Two kinds of receiver: a webhook gets ThreatCast's signed payload (Alertmanager's webhook
format, version 4); an Alertmanager gets its own v2 API's postable alerts at /api/v2/alerts,
re-sent while they fire so its resolve timeout never ends them, and with `endsAt` once resolved.

Deliveries live in the database, so a receiver that is down blocks nothing and a restart loses
nothing: whichever process runs next picks up what is due. A claim is a lease longer than a
batch can take, so two processes never send the same delivery at once; one alert's deliveries
to one receiver go in order (its firing before its resolved).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, and_, exists, func, insert, select, update
from sqlalchemy.orm import aliased

from service.alerts.rules import Rule
from service.alerts.tables import alert_deliveries, alert_rules, alerts
from service.alerts.webhooks import STEP_TIMEOUT_S, host_of, post
from store.db import as_utc, fetch_page, write_transaction

log = logging.getLogger(__name__)
BATCH = 10
# DNS, connect and read per delivery, for a whole batch, with room to spare.
LEASE = timedelta(seconds=BATCH * 3 * STEP_TIMEOUT_S * 2)
MAX_BACKOFF_S = 3600.0
ALERTMANAGER_PATH = "/api/v2/alerts"


def _now() -> datetime:
    return datetime.now(UTC)


# Alertmanager's webhook payload (version 4), so existing receivers work unchanged.
def alertmanager_payload(
    rule: Rule, alert: dict[str, Any], status: str, base_url: str
) -> dict[str, Any]:
    labels = {
        "alertname": rule.name, "rule_id": str(rule.id), "region": alert["region"],
        "horizon": str(alert["horizon"]), "series": rule.series, "freq": rule.freq,
        "target": rule.target,
        "severity": rule.severity, "service": "threatcast",
    }  # fmt: skip
    ends = as_utc(alert.get("resolved_at"))
    fingerprint = hashlib.sha256(
        f"{rule.id}|{alert['region']}|{alert['horizon']}".encode()
    ).hexdigest()[:16]
    return {
        "version": "4",
        "groupKey": f"threatcast:{rule.id}:{alert['region']}:{alert['horizon']}",
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "threatcast",
        "groupLabels": {"alertname": rule.name},
        "commonLabels": labels,
        "commonAnnotations": {},
        "externalURL": base_url,
        "alerts": [
            {
                "status": status,
                "labels": labels,
                "annotations": {
                    "summary": f"{rule.target} for {alert['region']} in {alert['period']} (h={alert['horizon']}) "
                    f"is {alert['value']:.3f}: {rule.condition} {rule.threshold}",
                    "value": f"{alert['value']:.6f}",
                    "model_version": alert["version"],
                    "alert_id": str(alert["id"]),
                },
                "startsAt": as_utc(alert["started_at"]).isoformat(),  # type: ignore[union-attr]
                "endsAt": ends.isoformat() if ends else "0001-01-01T00:00:00Z",
                "generatorURL": f"{base_url}/v1/alerts/{alert['id']}",
                "fingerprint": fingerprint,
            }
        ],
    }


def postable_alerts(
    rule: Rule, alert: dict[str, Any], status: str, base_url: str
) -> list[dict[str, Any]]:
    """The alert as Alertmanager's v2 API takes it. A firing alert has no `endsAt`: Alertmanager
    keeps it for its resolve timeout, and ThreatCast re-sends it before that ends."""
    region, horizon = alert["region"], str(alert["horizon"])
    posted: dict[str, Any] = {
        "labels": {
            "alertname": rule.name, "region": region, "horizon": horizon,
            "target": rule.target, "severity": rule.severity, "series": rule.series,
            "service": "threatcast", "rule_id": str(rule.id),
        },
        "annotations": {
            "summary": f"{rule.target} for {region} in {alert['period']} (h={horizon}) is "
            f"{alert['value']:.3f}: {rule.condition} {rule.threshold}",
            "value": f"{alert['value']:.6f}",
            "threshold": f"{rule.threshold:g}",
            "condition": rule.condition,
            "period": str(alert["period"]),
            "model_version": str(alert["version"]),
            "dashboard": f"{base_url}/?series={rule.series}&region={region}",
        },
        "startsAt": as_utc(alert["started_at"]).isoformat(),  # type: ignore[union-attr]
        "generatorURL": f"{base_url}/v1/alerts/{alert['id']}",
    }  # fmt: skip
    ends = as_utc(alert.get("resolved_at"))
    if status == "resolved" and ends is not None:
        posted["endsAt"] = ends.isoformat()
    return [posted]


def alertmanager_endpoint(base: str) -> str:
    return base.rstrip("/") + ALERTMANAGER_PATH


def enqueue(
    conn: Connection,
    rule: Rule,
    alert: dict[str, Any],
    status: str,
    urls: list[str],
    base_url: str,
    alertmanagers: list[str] = (),  # type: ignore[assignment]
) -> None:
    """Store one delivery per receiver: the rule's own webhook, the global ones, and every
    Alertmanager."""
    webhooks = [u for u in dict.fromkeys([rule.webhook_url, *urls]) if u]
    for url in webhooks:
        _insert(
            conn, alert["id"], "webhook", url, alertmanager_payload(rule, alert, status, base_url)
        )
    for base in dict.fromkeys(alertmanagers):
        _insert(
            conn, alert["id"], "alertmanager", alertmanager_endpoint(base),
            postable_alerts(rule, alert, status, base_url),
        )  # fmt: skip


@dataclass(frozen=True)
class Receivers:
    """Where an installation's alerts go, and how receivers link back to it."""

    webhooks: list[str]
    alertmanagers: list[str]
    base_url: str

    def enqueue(self, conn: Connection, rule: Rule, alert: dict[str, Any], status: str) -> None:
        enqueue(conn, rule, alert, status, self.webhooks, self.base_url, self.alertmanagers)


def _insert(conn: Connection, alert_id: int, kind: str, url: str, payload: object) -> None:
    now = _now()
    conn.execute(
        insert(alert_deliveries).values(
            alert_id=alert_id, kind=kind, url=url, payload=payload, status="pending",
            attempts=0, next_attempt_at=now, created_at=now,
        )
    )  # fmt: skip


def _claim(engine: Engine, limit: int) -> list[tuple[int, str, object, int]]:
    """Lease the due deliveries that are each the oldest pending one of their alert and URL."""
    now = _now()
    earlier = aliased(alert_deliveries)
    waiting_behind = exists().where(
        and_(
            earlier.c.alert_id == alert_deliveries.c.alert_id,
            earlier.c.url == alert_deliveries.c.url,
            earlier.c.status == "pending",
            earlier.c.id < alert_deliveries.c.id,
        )
    )
    with write_transaction(engine) as conn:
        due = conn.execute(
            select(
                alert_deliveries.c.id,
                alert_deliveries.c.url,
                alert_deliveries.c.payload,
                alert_deliveries.c.attempts,
            )
            .where(
                alert_deliveries.c.status == "pending",
                alert_deliveries.c.next_attempt_at <= now,
                ~waiting_behind,
            )
            .order_by(alert_deliveries.c.id)
            .limit(limit)
        ).all()
        if due:
            conn.execute(
                update(alert_deliveries)
                .where(alert_deliveries.c.id.in_([d.id for d in due]))
                .values(next_attempt_at=now + LEASE)
            )
    return [(d.id, d.url, d.payload, d.attempts) for d in due]


def _outcome(
    delivery_id: int, url: str, problem: str | None, attempts: int, backoff_s: float,
    max_attempts: int,
) -> dict[str, object]:  # fmt: skip
    values: dict[str, object] = {"attempts": attempts, "last_error": problem}
    if problem is None:
        values.update(status="delivered", delivered_at=_now())
    elif attempts >= max_attempts:
        values["status"] = "failed"
        log.error(
            "alert delivery %d to %s failed for good after %d attempts: %s",
            delivery_id, host_of(url), attempts, problem,
        )  # fmt: skip
    else:
        wait = min(backoff_s * 2 ** (attempts - 1), MAX_BACKOFF_S)
        values["next_attempt_at"] = _now() + timedelta(seconds=wait)
        log.warning(
            "alert delivery %d to %s: %s; retry %d in %.1f s",
            delivery_id, host_of(url), problem, attempts, wait,
        )  # fmt: skip
    return values


def deliver_due(
    engine: Engine, secret: str, backoff_s: float, max_attempts: int, limit: int = BATCH
) -> int:
    """Send what is due; returns how many were delivered. Whatever goes wrong with one delivery
    is recorded on it (attempt, reason, backoff) and never touches another."""
    delivered = 0
    for delivery_id, url, payload, attempts in _claim(engine, limit):
        try:
            problem = post(url, json.dumps(payload, sort_keys=True).encode(), secret)
        except Exception as exc:  # post returns reasons; this is the last line of defence
            problem = f"{type(exc).__name__}"
        values = _outcome(delivery_id, url, problem, attempts + 1, backoff_s, max_attempts)
        delivered += problem is None
        with write_transaction(engine) as conn:
            conn.execute(
                update(alert_deliveries)
                .where(alert_deliveries.c.id == delivery_id)
                .values(**values)
            )
    return delivered


def backlog(engine: Engine) -> tuple[int, float | None]:
    """How many deliveries wait to be sent, and the age in seconds of the oldest."""
    with engine.connect() as conn:
        waiting, oldest = conn.execute(
            select(func.count(), func.min(alert_deliveries.c.created_at)).where(
                alert_deliveries.c.status == "pending"
            )
        ).one()
    started = as_utc(oldest)
    return int(waiting), (_now() - started).total_seconds() if started is not None else None


def list_deliveries(
    engine: Engine, *, limit: int = 100, offset: int = 0
) -> tuple[list[dict[str, Any]], int]:
    """A page of the delivery log, newest first, and how long the log is."""
    query = select(alert_deliveries).order_by(alert_deliveries.c.id.desc())
    return fetch_page(engine, query, limit, offset)


def resend_firing(engine: Engine, alertmanagers: list[str], base_url: str, every_s: float) -> int:
    """Push each firing alert again to every Alertmanager whose last push of it is older than
    `every_s` and none waits; returns how many pushes were queued. Under the write lock, so
    several processes queue each push once."""
    endpoints = [alertmanager_endpoint(base) for base in dict.fromkeys(alertmanagers)]
    if not endpoints:
        return 0
    due_before = _now() - timedelta(seconds=every_s)
    queued = 0
    with write_transaction(engine) as conn:
        pushed = {
            (row.alert_id, row.url): (as_utc(row.last), row.waiting)
            for row in conn.execute(
                select(
                    alert_deliveries.c.alert_id, alert_deliveries.c.url,
                    func.max(alert_deliveries.c.created_at).label("last"),
                    func.count().filter(alert_deliveries.c.status == "pending").label("waiting"),
                )
                .where(alert_deliveries.c.kind == "alertmanager")
                .group_by(alert_deliveries.c.alert_id, alert_deliveries.c.url)
            )
        }  # fmt: skip
        firing = conn.execute(select(alerts).where(alerts.c.state == "firing")).mappings().all()
        if not firing:
            return 0
        rules = {
            row["id"]: Rule(**{**row, "created_at": as_utc(row["created_at"])})
            for row in conn.execute(select(alert_rules)).mappings()
        }
        for alert in firing:
            for url in endpoints:
                last, waiting = pushed.get((alert["id"], url), (None, 0))
                if waiting or (last is not None and last > due_before):
                    continue
                payload = postable_alerts(rules[alert["rule_id"]], dict(alert), "firing", base_url)
                _insert(conn, alert["id"], "alertmanager", url, payload)
                queued += 1
    return queued


def run_forever(
    engine: Engine,
    secret: str,
    backoff_s: float,
    max_attempts: int,
    interval_s: float,
    stop: threading.Event,
    keepalive: Callable[[], object] | None = None,
) -> None:
    """Deliver what is due every `interval_s`, and run `keepalive` (the Alertmanager re-sends)
    before each round."""
    while not stop.wait(interval_s):
        try:
            if keepalive is not None:
                keepalive()
            deliver_due(engine, secret, backoff_s, max_attempts)
        except Exception:  # the loop must outlive a bad moment of the database
            log.exception("alert delivery loop")


class Keepalive:
    """Calls `resend_firing` at most every tenth of the re-send interval."""

    def __init__(self, engine: Engine, receivers: Receivers, every_s: float) -> None:
        self.engine, self.receivers, self.every_s = engine, receivers, every_s
        self._next = 0.0

    def __call__(self) -> int:
        now = time.monotonic()
        if not self.receivers.alertmanagers or now < self._next:
            return 0
        self._next = now + self.every_s / 10
        return resend_firing(
            self.engine, self.receivers.alertmanagers, self.receivers.base_url, self.every_s
        )
