"""Changing and retiring alert rules: what a rule watched stops firing, with its notices."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, select, update

from service.alerts.delivery import notify
from service.alerts.rules import WATCHED, AlertRuleIn, Rule, get_rule, rule_values
from service.alerts.tables import alert_rules, alerts
from store.db import write_transaction


def update_rule(
    engine: Engine, rule_id: int, rule: AlertRuleIn, default_series: str | None = None
) -> Rule:
    """Change a rule; if what it watches changed, its firing alerts are resolved (with their
    notices): the next issue judges the rule anew."""
    before = get_rule(engine, rule_id)
    values = rule_values(rule, default_series)
    with write_transaction(engine) as conn:
        conn.execute(update(alert_rules).where(alert_rules.c.id == rule_id).values(**values))
        if any(getattr(before, name) != values[name] for name in WATCHED):
            resolve_firing(conn, before, "the rule was changed")
    return get_rule(engine, rule_id)


def delete_rule(engine: Engine, rule_id: int) -> None:
    """Retire a rule: its firing alerts are resolved and their notices still delivered; the
    rule is kept, marked deleted, until then and after."""
    rule = get_rule(engine, rule_id)
    with write_transaction(engine) as conn:
        resolve_firing(conn, rule, "the rule was deleted")
        conn.execute(
            update(alert_rules)
            .where(alert_rules.c.id == rule_id)
            .values(deleted_at=datetime.now(UTC))
        )


def resolve_firing(conn: Connection, rule: Rule, why: str) -> int:
    """Resolve every firing alert of `rule`, each with a resolved notice; returns how many."""
    now = datetime.now(UTC)
    firing = (
        conn.execute(select(alerts).where(alerts.c.rule_id == rule.id, alerts.c.state == "firing"))
        .mappings()
        .all()
    )
    for alert in firing:
        conn.execute(
            update(alerts)
            .where(alerts.c.id == alert["id"])
            .values(state="resolved", resolved_at=now, updated_at=now)
        )
        notify(conn, rule, {**alert, "resolved_at": now, "reason": why}, "resolved")
    return len(firing)
