"""Alert rules (operators' thresholds), the alerts they open, and the webhook delivery log."""

from __future__ import annotations

import hashlib
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response, status

from service.alerts import evaluation, lifecycle, rules
from service.alerts.delivery import list_deliveries
from service.alerts.rules import AlertRuleIn, Severity
from service.alerts.schemas import (
    AcknowledgeRequest,
    AlertPublic,
    AlertRulePublic,
    AlertRulesPublic,
    AlertsPublic,
    DeliveriesPublic,
    DeliveryPublic,
)
from service.alerts.webhooks import host_of, internal_address
from service.dependencies import (
    AdminDep,
    EngineDep,
    PageDep,
    ReaderDep,
    ResolverDep,
    SettingsDep,
)
from service.errors import ApiError, error_responses
from service.etags import json_response, not_modified
from service.keys import ApiKey
from service.settings import Settings

router = APIRouter(prefix="/v1", tags=["alerts"])
_ERRORS = error_responses(401, 403, 404, 422)
RuleId = Annotated[int, Path(ge=1, le=2**31 - 1)]


def _rule_public(rule: rules.Rule, caller: ApiKey | None) -> AlertRulePublic:
    """A rule as `caller` may see it: only admins see webhook URLs, which are credentials."""
    admin = caller is not None and caller.role == "admin"
    values = {
        **rule.__dict__,
        "created_at": rule.created_at,
        "webhook_url": rule.webhook_url if admin else None,
        "webhook_host": host_of(rule.webhook_url) if rule.webhook_url else None,
    }
    return AlertRulePublic.model_validate(values)


def _check_receiver(rule: AlertRuleIn, settings: Settings) -> None:
    """A webhook at a literal internal address is refused now (names are checked when
    delivering: they can resolve anywhere)."""
    if rule.webhook_url is None or settings.alert_allow_internal_receivers:
        return
    host = (rule.webhook_url.host or "").strip("[]")
    try:
        internal = internal_address(host)
    except ValueError:  # a name, not an address
        return
    if internal:
        raise ApiError(
            422,
            f"webhook_url points at {host}, a loopback, link-local or private address; "
            "set THREATCAST_ALERT_ALLOW_INTERNAL_RECEIVERS to allow it",
        )


def _check_region(rule: AlertRuleIn, resolver: Any, default_series: str) -> None:
    series = rules.rule_series(rule, default_series)
    country = resolver.gazetteers.get(series.country)
    codes = country.unit_names(series.level) if country is not None else resolver.region_names()
    if (
        rule.region is not None
        and rule.region not in codes
        and rule.region not in resolver.region_names()
    ):
        raise ApiError(422, f"unknown region {rule.region!r}", {"valid_regions": list(codes)})
    problem = rules.rule_problem(rule, default_series, resolver)
    if problem is not None:
        raise ApiError(422, problem)


def _rule(engine: Any, rule_id: int) -> rules.Rule:
    try:
        return rules.get_rule(engine, rule_id)
    except rules.UnknownRule as exc:
        raise ApiError(404, str(exc)) from None


@router.get("/alert-rules", response_model=AlertRulesPublic, responses=_ERRORS)
def list_rules(engine: EngineDep, caller: ReaderDep, page: PageDep) -> AlertRulesPublic:
    """Alert rules, a page at a time."""
    listed, total = rules.list_rules(engine, limit=page.limit, offset=page.offset)
    data = [_rule_public(r, caller) for r in listed]
    return AlertRulesPublic(data=data, **page.of(total, len(data)))


@router.post(
    "/alert-rules",
    response_model=AlertRulePublic,
    status_code=status.HTTP_201_CREATED,
    responses=_ERRORS,
)
def create_rule(
    rule: AlertRuleIn,
    engine: EngineDep,
    resolver: ResolverDep,
    admin: AdminDep,
    settings: SettingsDep,
) -> AlertRulePublic:
    """Create a rule (admin). It is evaluated whenever its series' forecasts are issued."""
    _check_region(rule, resolver, settings.default_series)
    _check_receiver(rule, settings)
    return _rule_public(rules.create_rule(engine, rule, admin.name, settings.default_series), admin)


@router.get("/alert-rules/{rule_id}", response_model=AlertRulePublic, responses=_ERRORS)
def show_rule(rule_id: RuleId, engine: EngineDep, caller: ReaderDep) -> AlertRulePublic:
    return _rule_public(_rule(engine, rule_id), caller)


@router.put("/alert-rules/{rule_id}", response_model=AlertRulePublic, responses=_ERRORS)
def replace_rule(
    rule_id: RuleId,
    rule: AlertRuleIn,
    engine: EngineDep,
    resolver: ResolverDep,
    admin: AdminDep,
    settings: SettingsDep,
) -> AlertRulePublic:
    """Replace a rule (admin). If what it watches changes, its firing alerts are resolved."""
    _rule(engine, rule_id)
    _check_region(rule, resolver, settings.default_series)
    _check_receiver(rule, settings)
    return _rule_public(
        lifecycle.update_rule(engine, rule_id, rule, settings.default_series), admin
    )


@router.delete("/alert-rules/{rule_id}", status_code=status.HTTP_204_NO_CONTENT, responses=_ERRORS)
def delete_rule(rule_id: RuleId, engine: EngineDep, _: AdminDep) -> Response:
    """Delete a rule (admin): its firing alerts are resolved, and receivers hear of it."""
    _rule(engine, rule_id)
    lifecycle.delete_rule(engine, rule_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _alert_public(row: dict[str, Any], caller: ApiKey | None) -> AlertPublic:
    """An alert as `caller` may see it: who acknowledged it and why only with a key."""
    if caller is None:
        row = {**row, "acknowledged_by": None, "ack_comment": None}
    return AlertPublic(
        **{
            k: row[k]
            for k in (
                "id",
                "rule_id",
                "rule_name",
                "severity",
                "target",
                "series",
                "freq",
                "region",
                "horizon",
                "state",
                "value",
                "origin",
                "period",
                "acknowledged_by",
                "ack_comment",
            )
        },
        model_version=row["version"],
        started_at=row["started_at"],
        resolved_at=row["resolved_at"],
        acknowledged_at=row["acknowledged_at"],
    )


@router.get("/alerts", response_model=AlertsPublic, responses=_ERRORS)
def list_alerts(
    request: Request,
    engine: EngineDep,
    caller: ReaderDep,
    page: PageDep,
    state: Annotated[Literal["firing", "resolved"] | None, Query()] = None,
    region: Annotated[str | None, Query(max_length=10)] = None,
    severity: Annotated[Severity | None, Query()] = None,
) -> Response:
    """Alerts, newest first, a page at a time (with an ETag, known before the list is built:
    polling an unchanged list costs one aggregate query and a 304)."""
    changed = evaluation.alerts_fingerprint(engine, state, region, severity)
    key = f"{changed}|{state}|{region}|{severity}|{page.limit}|{page.offset}|{caller is None}"
    etag = hashlib.sha256(key.encode()).hexdigest()[:32]
    cached = not_modified(request, etag)
    if cached is not None:
        return cached
    listed, total = evaluation.list_alerts(
        engine, state, region, severity, limit=page.limit, offset=page.offset
    )
    data = [_alert_public(row, caller) for row in listed]
    body = AlertsPublic(data=data, **page.of(total, len(data)))
    return json_response(request, body.model_dump_json().encode(), etag)


@router.post("/alerts/{alert_id}/acknowledge", response_model=AlertPublic, responses=_ERRORS)
def acknowledge(
    alert_id: RuleId, body: AcknowledgeRequest, engine: EngineDep, admin: AdminDep
) -> AlertPublic:
    """Acknowledge an alert with a comment (admin)."""
    try:
        evaluation.acknowledge(engine, alert_id, admin.name, body.comment)
    except rules.UnknownRule as exc:
        raise ApiError(404, str(exc)) from None
    found = evaluation.get_alert(engine, alert_id)
    if found is None:  # deleted with its rule meanwhile
        raise ApiError(404, f"no alert {alert_id}")
    return _alert_public(found, admin)


@router.get("/alert-deliveries", response_model=DeliveriesPublic, responses=_ERRORS)
def deliveries(engine: EngineDep, _: AdminDep, page: PageDep) -> DeliveriesPublic:
    """The delivery log (webhooks and Alertmanagers), newest first, a page at a time (admin)."""
    listed, total = list_deliveries(engine, limit=page.limit, offset=page.offset)
    data = [
        DeliveryPublic(
            id=d["id"],
            alert_id=d["alert_id"],
            kind=d["kind"],
            url=d["url"],
            status=d["status"],
            attempts=d["attempts"],
            next_attempt_at=d["next_attempt_at"],
            last_error=d["last_error"],
            delivered_at=d["delivered_at"],
        )
        for d in listed
    ]
    return DeliveriesPublic(data=data, **page.of(total, len(data)))
