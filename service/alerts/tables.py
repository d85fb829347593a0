"""The tables alerting owns: rules, the alerts they open, and deliveries to receivers."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    text,
)

from store.metadata import metadata

alert_rules = Table(
    "alert_rules",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(120), nullable=False),
    Column("region", String(40), nullable=True),
    Column("series", String(40), nullable=False, index=True),
    Column("freq", String(8), nullable=False),
    Column("horizon", Integer, nullable=True),
    Column("target", String(16), nullable=False),
    # The actor group whose forecast is watched (per-actor forecasts); null: all actors.
    Column("actor_group", String(16), nullable=True),
    Column("condition", String(16), nullable=False),
    Column("threshold", Float, nullable=False),
    Column("hysteresis", Float, nullable=False),
    Column("cooldown_s", Integer, nullable=False),
    Column("severity", String(10), nullable=False),
    Column("webhook_url", String(500), nullable=True),
    Column("created_by", String(120), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # A deleted rule is kept, so its alerts end with a resolved notice that reaches receivers.
    Column("deleted_at", DateTime(timezone=True), nullable=True),
)

alerts = Table(
    "alerts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("rule_id", Integer, ForeignKey("alert_rules.id", ondelete="CASCADE"), nullable=False),
    Column("region", String(40), nullable=False),
    Column("horizon", Integer, nullable=False),
    Column("state", String(10), nullable=False),
    Column("value", Float, nullable=False),
    Column("version", String(64), nullable=False),
    Column("origin", String(10), nullable=False),
    Column("period", String(10), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("resolved_at", DateTime(timezone=True), nullable=True),
    # When the alert was last pushed to the Alertmanagers (re-sent while it fires).
    Column("pushed_at", DateTime(timezone=True), nullable=True),
    Column("acknowledged_at", DateTime(timezone=True), nullable=True),
    Column("acknowledged_by", String(120), nullable=True),
    Column("ack_comment", Text, nullable=True),
    # Every change of the row sets this: the alert list's ETag is read from it.
    Column("updated_at", DateTime(timezone=True), nullable=False, index=True),
    # The same condition never opens two alerts at once.
    Index(
        "uq_alerts_one_firing",
        "rule_id",
        "region",
        "horizon",
        unique=True,
        sqlite_where=text("state = 'firing'"),
        postgresql_where=text("state = 'firing'"),
    ),
)

alert_deliveries = Table(
    "alert_deliveries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("alert_id", Integer, ForeignKey("alerts.id", ondelete="CASCADE"), nullable=False),
    # "webhook" (ThreatCast's signed payload) or "alertmanager" (its v2 API's postable alerts).
    Column("kind", String(16), nullable=False),
    Column("url", String(500), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("status", String(10), nullable=False, index=True),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("last_error", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("delivered_at", DateTime(timezone=True), nullable=True),
)
