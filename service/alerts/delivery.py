"""Delivery of alerts: stored first, signed, retried with exponential backoff.

Two kinds of receiver: a webhook gets ThreatCast's signed payload (Alertmanager's webhook
format, version 4); an Alertmanager gets its own v2 API's postable alerts at /api/v2/alerts,
re-sent while they fire so its resolve timeout never ends them, and with `endsAt` once resolved.

Deliveries live in the database, so a receiver that is down blocks nothing and a restart loses
nothing: whichever process runs next picks up what is due. A claim is a lease longer than a
batch can take, so two processes never send the same delivery at once; one alert's deliveries
to one receiver go in order (its firing before its resolved).

Whoever issues (a server, `threatcast forecast`, a worker) stores each change as a notice with
what it says; the serving processes, whose settings name the receivers, turn notices into
deliveries. Receivers are sent to side by side, each delivery within a total deadline, and a
receiver that fails is not tried again in the same round: one slow or broken receiver delays
no other beyond one deadline.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, and_, delete, exists, func, insert, select, update
from sqlalchemy.orm import aliased

from service.alerts.rules import Rule, rule_from_row
from service.alerts.tables import alert_deliveries, alert_rules, alerts
from service.alerts.webhooks import DEADLINE_S, STEP_TIMEOUT_S, host_of, post
from store.db import as_utc, fetch_page, write_transaction

log = logging.getLogger(__name__)
# At most PER_RECEIVER deliveries per receiver per round, BATCH in all.
PER_RECEIVER = 5
BATCH = 50
# A receiver's share of a round, each delivery within its deadline, with room to spare.
LEASE = timedelta(seconds=PER_RECEIVER * DEADLINE_S * 2)
MAX_BACKOFF_S = 3600.0
MAX_SENDERS = 32
ALERTMANAGER_PATH = "/api/v2/alerts"
NOTICE = "notice"
# Delivered Alertmanager re-sends older than this are pruned: the log keeps what was decided.
RESENT_KEPT = timedelta(days=1)


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
    """Where an installation's alerts go, how receivers link back to it, and whether internal
    addresses may receive them."""

    webhooks: list[str]
    alertmanagers: list[str]
    base_url: str
    allow_internal: bool = False


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def notify(conn: Connection, rule: Rule, alert: dict[str, Any], status: str) -> None:
    """Store an alert's change with everything its deliveries will say; the serving processes
    choose the receivers (their settings), whichever process made the change."""
    payload = {
        "status": status,
        "rule": {k: _plain(v) for k, v in asdict(rule).items()},
        "alert": {k: _plain(v) for k, v in alert.items()},
    }
    _insert(conn, alert["id"], NOTICE, "", payload)


def _restored(payload: dict[str, Any]) -> tuple[Rule, dict[str, Any], str]:
    rule = dict(payload["rule"])
    rule["created_at"] = datetime.fromisoformat(rule["created_at"])
    alert = dict(payload["alert"])
    for key in ("started_at", "resolved_at"):
        if alert.get(key):
            alert[key] = datetime.fromisoformat(alert[key])
    if payload["status"] == "firing":
        alert["resolved_at"] = None
    return Rule(**rule), alert, str(payload["status"])


def expand_notices(engine: Engine, receivers: Receivers) -> int:
    """Turn stored notices into one delivery per configured receiver, in the order they were
    made; returns how many notices were expanded."""
    pending = (alert_deliveries.c.kind == NOTICE) & (alert_deliveries.c.status == "pending")
    with engine.connect() as conn:  # a read first: the write lock only when there is work
        if conn.execute(select(alert_deliveries.c.id).where(pending).limit(1)).first() is None:
            return 0
    with write_transaction(engine) as conn:
        notices = conn.execute(
            select(alert_deliveries.c.id, alert_deliveries.c.payload)
            .where(pending)
            .order_by(alert_deliveries.c.id)
        ).all()
        for notice in notices:
            rule, alert, status = _restored(notice.payload)
            enqueue(conn, rule, alert, status, receivers.webhooks, receivers.base_url,
                    receivers.alertmanagers)  # fmt: skip
            if receivers.alertmanagers:
                conn.execute(
                    update(alerts).where(alerts.c.id == alert["id"]).values(pushed_at=_now())
                )
            conn.execute(
                update(alert_deliveries)
                .where(alert_deliveries.c.id == notice.id)
                .values(status="expanded", delivered_at=_now())
            )
    return len(notices)


def _insert(conn: Connection, alert_id: int, kind: str, url: str, payload: object) -> None:
    now = _now()
    conn.execute(
        insert(alert_deliveries).values(
            alert_id=alert_id, kind=kind, url=url, payload=payload, status="pending",
            attempts=0, next_attempt_at=now, created_at=now,
        )
    )  # fmt: skip


def _claim(engine: Engine, limit: int) -> dict[str, list[tuple[int, object, int]]]:
    """Lease the due deliveries that are each the oldest pending one of their alert and URL,
    at most PER_RECEIVER per URL, by URL."""
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
                alert_deliveries.c.kind != NOTICE,
                alert_deliveries.c.next_attempt_at <= now,
                ~waiting_behind,
            )
            .order_by(alert_deliveries.c.id)
            .limit(limit * PER_RECEIVER)
        ).all()
        by_url: dict[str, list[tuple[int, object, int]]] = {}
        taken = 0
        for d in due:
            queue = by_url.setdefault(d.url, [])
            if len(queue) < PER_RECEIVER and taken < limit:
                queue.append((d.id, d.payload, d.attempts))
                taken += 1
        ids = [delivery[0] for queue in by_url.values() for delivery in queue]
        if ids:
            conn.execute(
                update(alert_deliveries)
                .where(alert_deliveries.c.id.in_(ids))
                .values(next_attempt_at=now + LEASE)
            )
    return {url: queue for url, queue in by_url.items() if queue}


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


def _send_to(
    engine: Engine, url: str, queue: list[tuple[int, object, int]], secret: str,
    backoff_s: float, max_attempts: int, allow_internal: bool,
) -> int:  # fmt: skip
    """One receiver's deliveries in order; after one that failed slowly (a receiver that hangs
    or trickles), the rest wait for the next round, so a round costs it one deadline."""
    delivered = 0
    for position, (delivery_id, payload, attempts) in enumerate(queue):
        started = time.monotonic()
        try:
            body = json.dumps(payload, sort_keys=True).encode()
            problem = post(url, body, secret, allow_internal)
        except Exception as exc:  # post returns reasons; this is the last line of defence
            problem = f"{type(exc).__name__}"
        slow = time.monotonic() - started >= STEP_TIMEOUT_S
        values = _outcome(delivery_id, url, problem, attempts + 1, backoff_s, max_attempts)
        delivered += problem is None
        with write_transaction(engine) as conn:
            conn.execute(
                update(alert_deliveries)
                .where(alert_deliveries.c.id == delivery_id)
                .values(**values)
            )
            if problem is not None and slow:
                rest = [d[0] for d in queue[position + 1 :]]
                if rest:
                    conn.execute(
                        update(alert_deliveries)
                        .where(alert_deliveries.c.id.in_(rest))
                        .values(next_attempt_at=values.get("next_attempt_at", _now()))
                    )
                break
    return delivered


def deliver_due(
    engine: Engine,
    secret: str,
    backoff_s: float,
    max_attempts: int,
    limit: int = BATCH,
    receivers: Receivers | None = None,
) -> int:
    """Expand the stored notices for `receivers`, then send what is due, each receiver in its
    own thread; returns how many were delivered. Whatever goes wrong with one delivery is
    recorded on it (attempt, reason, backoff) and never touches another receiver's."""
    if receivers is not None:
        expand_notices(engine, receivers)
    allow_internal = receivers.allow_internal if receivers is not None else False
    claimed = _claim(engine, limit)
    if not claimed:
        return 0
    with ThreadPoolExecutor(min(len(claimed), MAX_SENDERS), "alert-send") as senders:
        results = [
            senders.submit(
                _send_to, engine, url, queue, secret, backoff_s, max_attempts, allow_internal
            )
            for url, queue in claimed.items()
        ]
        return sum(result.result() for result in results)


@dataclass(frozen=True)
class Backlog:
    """What waits to be sent, what is being retried, and what failed for good."""

    pending: int
    oldest_pending_s: float | None
    retrying: int
    failed: int


def backlog(engine: Engine) -> Backlog:
    with engine.connect() as conn:
        waiting, oldest, retrying = conn.execute(
            select(
                func.count(), func.min(alert_deliveries.c.created_at),
                func.count().filter(alert_deliveries.c.attempts > 0),
            ).where(alert_deliveries.c.status == "pending")
        ).one()  # fmt: skip
        failed = conn.execute(
            select(func.count()).where(alert_deliveries.c.status == "failed")
        ).scalar_one()
    started = as_utc(oldest)
    age = (_now() - started).total_seconds() if started is not None else None
    return Backlog(int(waiting), age, int(retrying), int(failed))


def list_deliveries(
    engine: Engine, *, limit: int = 100, offset: int = 0
) -> tuple[list[dict[str, Any]], int]:
    """A page of the delivery log, newest first, and how long the log is."""
    query = (
        select(alert_deliveries)
        .where(alert_deliveries.c.kind != NOTICE)
        .order_by(alert_deliveries.c.id.desc())
    )
    return fetch_page(engine, query, limit, offset)


def resend_firing(engine: Engine, alertmanagers: list[str], base_url: str, every_s: float) -> int:
    """Push each firing alert again to every Alertmanager when its last push is older than
    `every_s` and none of its deliveries waits; returns how many pushes were queued. Reads only
    the firing alerts (the cost does not grow with history); under the write lock only when a
    push is due, so several processes queue each push once. Delivered re-sends older than a
    day are pruned."""
    endpoints = [alertmanager_endpoint(base) for base in dict.fromkeys(alertmanagers)]
    if not endpoints:
        return 0
    due_before = _now() - timedelta(seconds=every_s)
    waiting = exists().where(
        alert_deliveries.c.alert_id == alerts.c.id,
        alert_deliveries.c.status == "pending",
        alert_deliveries.c.kind.in_(["alertmanager", NOTICE]),
    )
    due = select(alerts).where(
        alerts.c.state == "firing",
        (alerts.c.pushed_at.is_(None)) | (alerts.c.pushed_at < due_before),
        ~waiting,
    )
    with engine.connect() as conn:
        if conn.execute(due.limit(1)).first() is None:
            return 0
    queued = 0
    with write_transaction(engine) as conn:
        firing = conn.execute(due).mappings().all()
        rule_ids = {alert["rule_id"] for alert in firing}
        rules = {
            row["id"]: rule_from_row(row)
            for row in conn.execute(select(alert_rules).where(alert_rules.c.id.in_(rule_ids)))
            .mappings()
        }  # fmt: skip
        for alert in firing:
            payload = postable_alerts(rules[alert["rule_id"]], dict(alert), "firing", base_url)
            for url in endpoints:
                _insert(conn, alert["id"], "alertmanager", url, payload)
                queued += 1
        if firing:
            conn.execute(
                update(alerts)
                .where(alerts.c.id.in_([a["id"] for a in firing]))
                .values(pushed_at=_now())
            )
        conn.execute(
            delete(alert_deliveries).where(
                alert_deliveries.c.kind == "alertmanager",
                alert_deliveries.c.status == "delivered",
                alert_deliveries.c.created_at < _now() - RESENT_KEPT,
            )
        )
    return queued


def run_forever(
    engine: Engine,
    secret: str,
    backoff_s: float,
    max_attempts: int,
    interval_s: float,
    stop: threading.Event,
    keepalive: Callable[[], object] | None = None,
    receivers: Receivers | None = None,
) -> None:
    """Deliver what is due every `interval_s`, and run `keepalive` (the Alertmanager re-sends)
    before each round."""
    while not stop.wait(interval_s):
        try:
            if keepalive is not None:
                keepalive()
            deliver_due(engine, secret, backoff_s, max_attempts, receivers=receivers)
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
