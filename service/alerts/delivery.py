"""Webhook delivery of alerts: stored first, signed, retried with exponential backoff.

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
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, and_, exists, func, insert, select, update
from sqlalchemy.orm import aliased

from service.alerts.rules import Rule
from service.alerts.tables import alert_deliveries
from service.alerts.webhooks import STEP_TIMEOUT_S, host_of, post
from store.db import as_utc, fetch_page, write_transaction

log = logging.getLogger(__name__)
BATCH = 10
# DNS, connect and read per delivery, for a whole batch, with room to spare.
LEASE = timedelta(seconds=BATCH * 3 * STEP_TIMEOUT_S * 2)
MAX_BACKOFF_S = 3600.0


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


def enqueue(
    conn: Connection, rule: Rule, alert: dict[str, Any], status: str, urls: list[str], base_url: str
) -> None:
    """Store one delivery per receiver (the rule's own webhook and the global ones)."""
    targets = [u for u in dict.fromkeys([rule.webhook_url, *urls]) if u]
    now = _now()
    for url in targets:
        conn.execute(
            insert(alert_deliveries).values(
                alert_id=alert["id"],
                url=url,
                payload=alertmanager_payload(rule, alert, status, base_url),
                status="pending",
                attempts=0,
                next_attempt_at=now,
                created_at=now,
            )
        )


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


def run_forever(
    engine: Engine,
    secret: str,
    backoff_s: float,
    max_attempts: int,
    interval_s: float,
    stop: threading.Event,
) -> None:
    while not stop.wait(interval_s):
        try:
            deliver_due(engine, secret, backoff_s, max_attempts)
        except Exception:  # the loop must outlive a bad moment of the database
            log.exception("alert delivery loop")
