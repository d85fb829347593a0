"""The HTTP shapes of alert rules, alerts and deliveries."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from events.periods import Frequency
from service.alerts.rules import Condition, Severity, Target
from service.schemas import PagePublic, Timestamp


class AlertRulePublic(BaseModel):
    id: int
    name: str
    region: str | None
    series: str
    freq: Frequency
    horizon: int | None
    target: Target
    actor_group: str | None
    condition: Condition
    threshold: float
    hysteresis: float
    cooldown_s: int
    severity: Severity
    webhook_url: str | None = Field(description="Shown to admins only: a webhook URL is a secret.")
    webhook_host: str | None = Field(description="The webhook's host, for everyone.")
    created_by: str
    created_at: Timestamp


class AlertRulesPublic(PagePublic):
    data: list[AlertRulePublic]


class AlertPublic(BaseModel):
    id: int
    rule_id: int
    rule_name: str
    severity: str
    target: str
    series: str
    freq: str
    region: str
    horizon: int
    state: Literal["firing", "resolved"]
    value: float
    model_version: str
    origin: str
    period: str
    started_at: Timestamp
    resolved_at: Timestamp | None
    acknowledged_at: Timestamp | None
    acknowledged_by: str | None
    ack_comment: str | None


class AlertsPublic(PagePublic):
    data: list[AlertPublic]


class AcknowledgeRequest(BaseModel):
    comment: str = Field(default="", max_length=1000, examples=["seen; analyst team informed"])


class DeliveryPublic(BaseModel):
    id: int
    alert_id: int
    kind: str = Field(description="webhook, or alertmanager (its v2 API).")
    url: str
    status: str
    attempts: int
    next_attempt_at: Timestamp
    last_error: str | None
    delivered_at: Timestamp | None


class DeliveriesPublic(PagePublic):
    data: list[DeliveryPublic]
