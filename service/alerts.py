"""Alert rules on forecasts, their evaluation, and the alerts' lifecycle.

Rules are evaluated against the champion's latest issue whenever it changes (a new issue, a
promotion, a rollback). Evaluation runs under the database write lock, so several server
processes evaluating the same issue open each alert once; a unique index backs that up.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field, HttpUrl, model_validator
from sqlalchemy import Connection, Engine, and_, delete, func, insert, select, update

from features.panel import region_outcomes
from features.periods import shift_period
from features.store.db import as_utc, write_transaction
from features.store.schema import alert_deliveries, alert_rules, alerts, issued_forecasts
from service.serving import Issue, latest_issue
from training import registry
from training.pipeline import MAX_HORIZON

log = logging.getLogger(__name__)
Target = Literal["p_event", "p_severe", "expected_events"]
Condition = Literal["above", "rise", "above_average"]
Severity = Literal["info", "warning", "critical"]
PROBABILITIES = ("p_event", "p_severe")
TRAILING_PERIODS = 12
SEVERE_FATALITIES = 25
# Below this trailing average a region counts as quiet: one period in twelve.
_QUIET_AVERAGE = 1 / 12


class AlertRuleIn(BaseModel):
    """A rule as operators write it."""

    name: str = Field(min_length=1, max_length=120, examples=["KP attack risk"])
    region: str | None = Field(default=None, description="ISO 3166-2 code; null for every region.")
    freq: Literal["month", "week"] = "month"
    horizon: int | None = Field(default=None, description="Periods ahead; null for any.")
    target: Target = "p_event"
    condition: Condition = "above"
    threshold: float = Field(
        description="above: the level; rise: the increase since the previous issue; "
        "above_average: the factor over the region's trailing-12-period average."
    )
    hysteresis: float = Field(default=0.0, ge=0, description="Resolve only below threshold - this.")
    cooldown_s: int = Field(
        default=0, ge=0, le=30 * 86400, description="Quiet time after resolving."
    )
    severity: Severity = "warning"
    webhook_url: HttpUrl | None = None

    @model_validator(mode="after")
    def _sensible(self) -> AlertRuleIn:
        if self.horizon is not None and not 1 <= self.horizon <= MAX_HORIZON[self.freq]:
            raise ValueError(
                f"horizon must be between 1 and {MAX_HORIZON[self.freq]} for {self.freq}"
            )
        probability = self.target in PROBABILITIES
        if self.condition == "above" and probability and not 0 <= self.threshold <= 1:
            raise ValueError(f"a {self.target} threshold is a probability in [0, 1]")
        if self.condition == "rise" and (
            self.threshold <= 0 or (probability and self.threshold > 1)
        ):
            raise ValueError("a rise threshold must be positive (and at most 1 for probabilities)")
        if self.condition == "above_average" and self.threshold <= 0:
            raise ValueError("an above_average factor must be positive")
        if self.condition == "above" and self.threshold < 0:
            raise ValueError("an expected_events threshold cannot be negative")
        if probability and self.hysteresis > 1:
            raise ValueError("hysteresis on a probability must be at most 1")
        return self


@dataclass(frozen=True)
class Rule:
    id: int
    name: str
    region: str | None
    freq: str
    horizon: int | None
    target: str
    condition: str
    threshold: float
    hysteresis: float
    cooldown_s: int
    severity: str
    webhook_url: str | None
    created_by: str
    created_at: datetime


def _now() -> datetime:
    return datetime.now(UTC)


def create_rule(engine: Engine, rule: AlertRuleIn, actor: str) -> Rule:
    values = rule.model_dump(mode="json")
    with write_transaction(engine) as conn:
        rule_id = conn.execute(
            insert(alert_rules).values(**values, created_by=actor, created_at=_now())
        ).inserted_primary_key[0]  # type: ignore[index]
    return get_rule(engine, int(rule_id))


def update_rule(engine: Engine, rule_id: int, rule: AlertRuleIn) -> Rule:
    get_rule(engine, rule_id)
    with write_transaction(engine) as conn:
        conn.execute(
            update(alert_rules)
            .where(alert_rules.c.id == rule_id)
            .values(**rule.model_dump(mode="json"))
        )
    return get_rule(engine, rule_id)


def delete_rule(engine: Engine, rule_id: int) -> None:
    get_rule(engine, rule_id)
    with write_transaction(engine) as conn:
        ids = select(alerts.c.id).where(alerts.c.rule_id == rule_id)
        conn.execute(delete(alert_deliveries).where(alert_deliveries.c.alert_id.in_(ids)))
        conn.execute(delete(alerts).where(alerts.c.rule_id == rule_id))
        conn.execute(delete(alert_rules).where(alert_rules.c.id == rule_id))


class UnknownRule(LookupError):
    pass


def get_rule(engine: Engine, rule_id: int) -> Rule:
    with engine.connect() as conn:
        row = (
            conn.execute(select(alert_rules).where(alert_rules.c.id == rule_id)).mappings().first()
        )
    if row is None:
        raise UnknownRule(f"no alert rule {rule_id}")
    return Rule(**{**row, "created_at": as_utc(row["created_at"])})


def list_rules(engine: Engine) -> list[Rule]:
    with engine.connect() as conn:
        rows = conn.execute(select(alert_rules).order_by(alert_rules.c.id)).mappings().all()
    return [Rule(**{**row, "created_at": as_utc(row["created_at"])}) for row in rows]


# Alertmanager's webhook payload (version 4), so existing receivers work unchanged.
def alertmanager_payload(
    rule: Rule, alert: dict[str, Any], status: str, base_url: str
) -> dict[str, Any]:
    labels = {
        "alertname": rule.name, "rule_id": str(rule.id), "region": alert["region"],
        "horizon": str(alert["horizon"]), "freq": rule.freq, "target": rule.target,
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


def _enqueue(
    conn: Connection, rule: Rule, alert: dict[str, Any], status: str, urls: list[str], base_url: str
) -> None:
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


def _previous_value(
    conn: Connection, issue: Issue, row: dict[str, Any], target: str
) -> float | None:
    earlier = conn.execute(
        select(issued_forecasts.c[target])
        .where(
            issued_forecasts.c.freq == issue.freq,
            issued_forecasts.c.region == row["region"],
            issued_forecasts.c.horizon == row["horizon"],
            issued_forecasts.c.origin < issue.origin,
        )
        .order_by(issued_forecasts.c.origin.desc(), issued_forecasts.c.issued_at.desc())
        .limit(1)
    ).first()
    return float(earlier[0]) if earlier is not None else None


def _trailing_average(engine: Engine, issue: Issue, region: str, target: str) -> float:
    periods = [shift_period(issue.origin, -k, issue.freq) for k in range(TRAILING_PERIODS)]  # type: ignore[arg-type]
    outcomes = region_outcomes(engine, region, issue.freq, periods)  # type: ignore[arg-type]
    if target == "expected_events":
        return float(outcomes["events"].mean())
    if target == "p_event":
        return float((outcomes["events"] > 0).mean())
    return float((outcomes["fatalities"] >= SEVERE_FATALITIES).mean())


def _judge(
    engine: Engine, conn: Connection, rule: Rule, issue: Issue, row: dict[str, Any]
) -> tuple[bool, bool, float] | None:
    """(condition holds, condition cleared beyond the hysteresis band, value) or None to skip."""
    value = float(row[rule.target])
    if rule.condition == "above":
        level = value
        limit = rule.threshold
    elif rule.condition == "rise":
        previous = _previous_value(conn, issue, row, rule.target)
        if previous is None:
            return None
        level, limit = value - previous, rule.threshold
    else:
        average = max(_trailing_average(engine, issue, row["region"], rule.target), _QUIET_AVERAGE)
        level, limit = value, rule.threshold * average
    return (
        level >= limit if rule.condition == "rise" else level > limit,
        level < limit - rule.hysteresis,
        value,
    )


def evaluate(engine: Engine, issue: Issue, webhook_urls: list[str], base_url: str = "") -> int:
    """Open and resolve alerts for one issue; returns how many alerts changed state."""
    changed = 0
    rules = [r for r in list_rules(engine) if r.freq == issue.freq]
    with write_transaction(engine) as conn:
        for rule in rules:
            for row in issue.rows:
                if (rule.region and row["region"] != rule.region) or (
                    rule.horizon and row["horizon"] != rule.horizon
                ):
                    continue
                judged = _judge(engine, conn, rule, issue, row)
                if judged is not None:
                    changed += _transition(conn, rule, issue, row, judged, webhook_urls, base_url)
    if changed:
        log.info(
            "alerts: %d state changes for %s at origin %s", changed, issue.version, issue.origin
        )
    return changed


def _transition(
    conn: Connection, rule: Rule, issue: Issue, row: dict[str, Any],
    judged: tuple[bool, bool, float], urls: list[str], base_url: str,
) -> int:  # fmt: skip
    holds, cleared, value = judged
    key = and_(
        alerts.c.rule_id == rule.id,
        alerts.c.region == row["region"],
        alerts.c.horizon == row["horizon"],
    )
    firing = conn.execute(select(alerts).where(key, alerts.c.state == "firing")).mappings().first()
    facts = {
        "value": value,
        "version": issue.version,
        "origin": issue.origin,
        "period": row["period"],
    }
    if firing is not None:
        if not cleared:
            conn.execute(update(alerts).where(alerts.c.id == firing["id"]).values(**facts))
            return 0
        now = _now()
        conn.execute(
            update(alerts)
            .where(alerts.c.id == firing["id"])
            .values(**facts, state="resolved", resolved_at=now)
        )
        _enqueue(conn, rule, {**firing, **facts, "resolved_at": now}, "resolved", urls, base_url)
        return 1
    if not holds:
        return 0
    last_resolved = as_utc(
        conn.execute(select(func.max(alerts.c.resolved_at)).where(key)).scalar_one()
    )
    if last_resolved is not None and _now() - last_resolved < timedelta(seconds=rule.cooldown_s):
        return 0
    now = _now()
    alert_id = conn.execute(
        insert(alerts).values(
            rule_id=rule.id,
            region=row["region"],
            horizon=row["horizon"],
            state="firing",
            started_at=now,
            **facts,
        )
    ).inserted_primary_key[0]  # type: ignore[index]
    alert = {
        "id": alert_id,
        "region": row["region"],
        "horizon": row["horizon"],
        "started_at": now,
        **facts,
    }
    _enqueue(conn, rule, alert, "firing", urls, base_url)
    return 1


def evaluate_champion(
    engine: Engine, freq: str, webhook_urls: list[str], base_url: str = ""
) -> int:
    """Evaluate the rules against the champion's latest issue, if there is one."""
    champion = registry.champion(engine, freq)
    if champion is None:
        return 0
    issue = latest_issue(engine, champion.version, champion.freq, champion.as_of)
    return evaluate(engine, issue, webhook_urls, base_url) if issue is not None else 0


def list_alerts(
    engine: Engine, state: str | None = None, region: str | None = None, severity: str | None = None
) -> list[dict[str, Any]]:
    query = (
        select(
            alerts,
            alert_rules.c.name.label("rule_name"),
            alert_rules.c.severity,
            alert_rules.c.target,
            alert_rules.c.freq,
        )
        .join(alert_rules, alert_rules.c.id == alerts.c.rule_id)
        .order_by(alerts.c.started_at.desc(), alerts.c.id.desc())
    )
    if state is not None:
        query = query.where(alerts.c.state == state)
    if region is not None:
        query = query.where(alerts.c.region == region)
    if severity is not None:
        query = query.where(alert_rules.c.severity == severity)
    with engine.connect() as conn:
        return [dict(row) for row in conn.execute(query).mappings()]


def acknowledge(engine: Engine, alert_id: int, actor: str, comment: str) -> None:
    with write_transaction(engine) as conn:
        done = conn.execute(
            update(alerts)
            .where(alerts.c.id == alert_id)
            .values(acknowledged_at=_now(), acknowledged_by=actor, ack_comment=comment)
        ).rowcount
    if not done:
        raise UnknownRule(f"no alert {alert_id}")


def firing_counts(engine: Engine) -> list[dict[str, Any]]:
    query = (
        select(alert_rules.c.name, alert_rules.c.severity, alerts.c.region, alerts.c.horizon)
        .join(alert_rules, alert_rules.c.id == alerts.c.rule_id)
        .where(alerts.c.state == "firing")
    )
    with engine.connect() as conn:
        return [dict(row) for row in conn.execute(query).mappings()]
