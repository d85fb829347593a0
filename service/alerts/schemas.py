"""The HTTP shapes of alert rules, alerts and deliveries."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from service.alerts.rules import AlertRuleIn


class AlertRulePublic(AlertRuleIn):
    id: int
    created_by: str
    created_at: str


class AlertRulesPublic(BaseModel):
    data: list[AlertRulePublic]
    count: int


class AlertPublic(BaseModel):
    id: int
    rule_id: int
    rule_name: str
    severity: str
    target: str
    freq: str
    region: str
    horizon: int
    state: Literal["firing", "resolved"]
    value: float
    model_version: str
    origin: str
    period: str
    started_at: str
    resolved_at: str | None
    acknowledged_at: str | None
    acknowledged_by: str | None
    ack_comment: str | None


class AlertsPublic(BaseModel):
    data: list[AlertPublic]
    count: int


class AcknowledgeRequest(BaseModel):
    comment: str = Field(default="", max_length=1000, examples=["seen; analyst team informed"])


class DeliveryPublic(BaseModel):
    id: int
    alert_id: int
    url: str
    status: str
    attempts: int
    next_attempt_at: str
    last_error: str | None
    delivered_at: str | None
