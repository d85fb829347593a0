"""Evaluating rules against each champion issue, and the alerts' lifecycle.

Evaluation runs inside the transaction that stores the issue (see training.issuing), under the
database write lock: an issue is served with its alerts evaluated or not at all, and each alert
opens once; a unique index backs that up.
"""

from __future__ import annotations

import logging
import math
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Connection, Engine, Select, and_, func, insert, select, update

from events.panel import region_outcomes
from events.periods import shift_period
from events.series import Series
from service.alerts.delivery import notify
from service.alerts.rules import Rule, UnknownRule, rule_from_row
from service.alerts.tables import alert_rules, alerts
from store.db import as_utc, fetch_page, write_transaction
from training.issued import ActorPart, Issue, IssuedRow, issued_forecasts

log = logging.getLogger(__name__)
TRAILING_PERIODS = 12
# Below this trailing average a region counts as quiet: one period in twelve.
_QUIET_AVERAGE = 1 / 12
Judgement = tuple[bool, bool, float]


def _now() -> datetime:
    return datetime.now(UTC)


def _rules(conn: Connection, series: str) -> list[Rule]:
    rows = conn.execute(
        select(alert_rules)
        .where(alert_rules.c.series == series, alert_rules.c.deleted_at.is_(None))
        .order_by(alert_rules.c.id)
    ).mappings()
    return [rule_from_row(row) for row in rows]


def _watched(row: IssuedRow, rule: Rule) -> float | None:
    """The value a rule watches in a forecast row: one actor group's, or all actors'; None
    when the row has no forecast for the group."""
    if rule.actor_group is None:
        return float(getattr(row, rule.target))
    return _group_value(row.actors.get(rule.actor_group), rule)


def _group_value(part: ActorPart | None, rule: Rule) -> float | None:
    # Rules on a group watch p_event or expected_events (p_severe is refused when made).
    return float(getattr(part, rule.target)) if part is not None else None


def _previous_value(conn: Connection, issue: Issue, row: IssuedRow, rule: Rule) -> float | None:
    column = "actors" if rule.actor_group is not None else rule.target
    earlier = conn.execute(
        select(issued_forecasts.c[column])
        .where(
            issued_forecasts.c.series == issue.series,
            issued_forecasts.c.region == row.region,
            issued_forecasts.c.horizon == row.horizon,
            issued_forecasts.c.origin < issue.origin,
        )
        .order_by(issued_forecasts.c.origin.desc(), issued_forecasts.c.issued_at.desc())
        .limit(1)
    ).first()
    if earlier is None or earlier[0] is None:
        return None
    if rule.actor_group is None:
        return float(earlier[0])
    stored = earlier[0].get(rule.actor_group)
    return _group_value(ActorPart(**stored) if stored is not None else None, rule)


def _trailing_average(conn: Connection, issue: Issue, region: str, target: str) -> float:
    """The region's trailing average of the target over the covered periods (NaN when none
    is covered: a missing period is not a quiet one)."""
    series = Series.parse(issue.series)
    periods = [shift_period(issue.origin, -k, series.freq) for k in range(TRAILING_PERIODS)]
    outcomes = region_outcomes(conn, series, region, periods).dropna()
    if outcomes.empty:
        return math.nan
    if target == "expected_events":
        return float(outcomes["events"].mean())
    if target == "p_event":
        return float((outcomes["events"] > 0).mean())
    if issue.severe_threshold is None:
        raise ValueError(
            f"issue {issue.version}@{issue.origin} does not carry its severe threshold"
        )
    return float((outcomes["fatalities"] >= issue.severe_threshold).mean())


def _judge(conn: Connection, rule: Rule, issue: Issue, row: IssuedRow) -> Judgement | None:
    """(condition holds, condition cleared beyond the hysteresis band, value) or None to skip."""
    watched = _watched(row, rule)
    if watched is None:
        return None
    value = watched
    if rule.condition == "above":
        level, limit = value, rule.threshold
    elif rule.condition == "rise":
        previous = _previous_value(conn, issue, row, rule)
        if previous is None:
            return None
        level, limit = value - previous, rule.threshold
    else:
        trailing = _trailing_average(conn, issue, row.region, rule.target)
        if math.isnan(trailing):
            return None
        average = max(trailing, _QUIET_AVERAGE)
        level, limit = value, rule.threshold * average
    holds = level >= limit if rule.condition == "rise" else level > limit
    return holds, level < limit - rule.hysteresis, value


def evaluate(conn: Connection, issue: Issue) -> int:
    """Open and resolve alerts for one issue, storing each change as a notice for the serving
    processes to deliver to their receivers; returns how many alerts changed state."""
    changed = 0
    for rule in _rules(conn, issue.series):
        for row in issue.rows:
            if (rule.region and row.region != rule.region) or (
                rule.horizon and row.horizon != rule.horizon
            ):
                continue
            judged = _judge(conn, rule, issue, row)
            if judged is not None:
                changed += _transition(conn, rule, issue, row, judged)
    if changed:
        log.info(
            "alerts: %d state changes for %s at origin %s", changed, issue.version, issue.origin
        )
    return changed


def _transition(
    conn: Connection, rule: Rule, issue: Issue, row: IssuedRow, judged: Judgement
) -> int:
    holds, cleared, value = judged
    key = and_(
        alerts.c.rule_id == rule.id,
        alerts.c.region == row.region,
        alerts.c.horizon == row.horizon,
    )
    firing = conn.execute(select(alerts).where(key, alerts.c.state == "firing")).mappings().first()
    facts = {
        "value": value,
        "version": issue.version,
        "origin": issue.origin,
        "period": row.period,
    }
    if firing is not None:
        now = _now()
        if not cleared:
            changed = {k: v for k, v in facts.items() if firing[k] != v}
            if changed:
                conn.execute(
                    update(alerts)
                    .where(alerts.c.id == firing["id"])
                    .values(**changed, updated_at=now)
                )
            return 0
        conn.execute(
            update(alerts)
            .where(alerts.c.id == firing["id"])
            .values(**facts, state="resolved", resolved_at=now, updated_at=now)
        )
        notify(conn, rule, {**firing, **facts, "resolved_at": now}, "resolved")
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
            region=row.region,
            horizon=row.horizon,
            state="firing",
            started_at=now,
            updated_at=now,
            **facts,
        )
    ).inserted_primary_key[0]  # type: ignore[index]
    alert = {
        "id": alert_id,
        "region": row.region,
        "horizon": row.horizon,
        "started_at": now,
        **facts,
    }
    notify(conn, rule, alert, "firing")
    return 1


def _alerts_query() -> Select[Any]:
    return (
        select(
            alerts,
            alert_rules.c.name.label("rule_name"),
            alert_rules.c.severity,
            alert_rules.c.target,
            alert_rules.c.series,
            alert_rules.c.freq,
        )
        .join(alert_rules, alert_rules.c.id == alerts.c.rule_id)
        .order_by(alerts.c.started_at.desc(), alerts.c.id.desc())
    )


def get_alert(engine: Engine, alert_id: int) -> dict[str, Any] | None:
    with engine.connect() as conn:
        row = conn.execute(_alerts_query().where(alerts.c.id == alert_id)).mappings().first()
    return dict(row) if row is not None else None


def _filtered(
    query: Select[Any], state: str | None, region: str | None, severity: str | None
) -> Select[Any]:  # also for the aggregate fingerprint query
    if state is not None:
        query = query.where(alerts.c.state == state)
    if region is not None:
        query = query.where(alerts.c.region == region)
    if severity is not None:
        query = query.where(alert_rules.c.severity == severity)
    return query


def list_alerts(
    engine: Engine,
    state: str | None = None,
    region: str | None = None,
    severity: str | None = None,
    *,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[dict[str, Any]], int]:
    """A page of alerts, newest first, and how many match."""
    return fetch_page(engine, _filtered(_alerts_query(), state, region, severity), limit, offset)


def alerts_fingerprint(
    engine: Engine, state: str | None = None, region: str | None = None, severity: str | None = None
) -> str:
    """Changes whenever the matching alerts do: one aggregate query, before any list is built."""
    aggregate = cast(
        "Select[Any]",
        select(func.count(), func.max(alerts.c.id), func.max(alerts.c.updated_at)).join(
            alert_rules, alert_rules.c.id == alerts.c.rule_id
        ),
    )
    query = _filtered(
        aggregate,
        state,
        region,
        severity,
    )
    with engine.connect() as conn:
        count, newest, changed = conn.execute(query).one()
    return f"{count}|{newest}|{changed}"


def acknowledge(engine: Engine, alert_id: int, actor: str, comment: str) -> None:
    with write_transaction(engine) as conn:
        done = conn.execute(
            update(alerts)
            .where(alerts.c.id == alert_id)
            .values(
                acknowledged_at=_now(),
                acknowledged_by=actor,
                ack_comment=comment,
                updated_at=_now(),
            )
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
