"""`threatcast alerts`: rules, alerts, acknowledgement and webhook delivery from the shell."""

from __future__ import annotations

from typing import Annotated

import typer
from pydantic import ValidationError

from events.gazetteer import default_resolver
from events.periods import Frequency
from service.alerts import evaluation, lifecycle, rules
from service.alerts.delivery import deliver_due
from service.cli.support import CLI_ACTOR, SERIES_HELP, fail, open_engine, settings_of

alerts_app = typer.Typer(help="Alert rules on forecasts, and their alerts.", no_args_is_help=True)
rules_app = typer.Typer(help="Alert rules.", no_args_is_help=True)
alerts_app.add_typer(rules_app, name="rules")


@rules_app.command("list")
def rules_list(ctx: typer.Context) -> None:
    """Every rule."""
    listed, _ = rules.list_rules(open_engine(ctx), limit=100_000)
    for rule in listed:
        where = f"{rule.region or 'all regions'}, {'h=' + str(rule.horizon) if rule.horizon else 'any horizon'}"
        typer.echo(
            f"{rule.id:>4}  {rule.name}: {rule.target}{f' of {rule.actor_group}' if rule.actor_group else ''} "
            f"{rule.condition} {rule.threshold} ({where}, "
            f"{rule.series}, {rule.severity}, hysteresis {rule.hysteresis}, cooldown {rule.cooldown_s} s)"
        )


@rules_app.command("add")
def rules_add(
    ctx: typer.Context,
    name: Annotated[str, typer.Option()],
    threshold: Annotated[
        float, typer.Option(help="Level, rise, or factor over the trailing average.")
    ],
    region: Annotated[
        str | None, typer.Option(help="ISO 3166-2 code (default: every region).")
    ] = None,
    horizon: Annotated[int | None, typer.Option(help="Periods ahead (default: any).")] = None,
    freq: Annotated[Frequency, typer.Option()] = Frequency.MONTH,
    series: Annotated[str | None, typer.Option(help=SERIES_HELP)] = None,
    target: Annotated[str, typer.Option(help="p_event, p_severe or expected_events.")] = "p_event",
    actor_group: Annotated[
        str | None,
        typer.Option(help="Watch one actor group the series' country tracks (default: all)."),
    ] = None,
    condition: Annotated[str, typer.Option(help="above, rise or above_average.")] = "above",
    hysteresis: Annotated[float, typer.Option()] = 0.0,
    cooldown: Annotated[int, typer.Option(help="Seconds of quiet after a resolve.")] = 0,
    severity: Annotated[str, typer.Option(help="info, warning or critical.")] = "warning",
    webhook: Annotated[str | None, typer.Option(help="This rule's own webhook URL.")] = None,
) -> None:
    """Add a rule; it is evaluated whenever forecasts are issued."""
    try:
        rule = rules.AlertRuleIn.model_validate(
            {
                "name": name,
                "threshold": threshold,
                "region": region,
                "horizon": horizon,
                "freq": freq,
                "series": series,
                "target": target,
                "actor_group": actor_group,
                "condition": condition,
                "hysteresis": hysteresis,
                "cooldown_s": cooldown,
                "severity": severity,
                "webhook_url": webhook,
            }
        )
    except ValidationError as exc:
        raise fail(
            "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'rule'}: {e['msg']}" for e in exc.errors()
            ),
            2,
        ) from None
    codes = default_resolver().region_names()
    if region is not None and region not in codes:
        raise fail(f"unknown region {region!r}; known: {', '.join(sorted(codes))}", 2)
    problem = rules.rule_problem(rule, settings_of(ctx).default_series, default_resolver())
    if problem is not None:
        raise fail(problem, 2)
    created = rules.create_rule(open_engine(ctx), rule, CLI_ACTOR, settings_of(ctx).default_series)
    typer.echo(f"rule {created.id} created")


@rules_app.command("remove")
def rules_remove(ctx: typer.Context, rule_id: int) -> None:
    """Delete a rule and its alerts."""
    try:
        lifecycle.delete_rule(open_engine(ctx), rule_id)
    except rules.UnknownRule as exc:
        raise fail(str(exc)) from None
    typer.echo(f"rule {rule_id} removed")


@alerts_app.command("list")
def alerts_list(
    ctx: typer.Context,
    state: Annotated[str | None, typer.Option(help="firing or resolved.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100_000, help="At most this many.")] = 100,
) -> None:
    """Alerts, newest first."""
    listed, total = evaluation.list_alerts(open_engine(ctx), state, limit=limit)
    if total > len(listed):
        typer.echo(f"the newest {len(listed)} of {total} alerts (--limit to see more)")
    for a in listed:
        ack = f", acknowledged by {a['acknowledged_by']}" if a["acknowledged_at"] else ""
        typer.echo(
            f"{a['id']:>4}  {a['state']:<8} {a['severity']:<8} {a['rule_name']}: {a['region']} {a['period']} "
            f"h={a['horizon']} {a['target']}={a['value']:.3f}{ack}"
        )


@alerts_app.command("ack")
def alerts_ack(
    ctx: typer.Context, alert_id: int, comment: Annotated[str, typer.Option()] = ""
) -> None:
    """Acknowledge an alert."""
    try:
        evaluation.acknowledge(open_engine(ctx), alert_id, CLI_ACTOR, comment)
    except rules.UnknownRule as exc:
        raise fail(str(exc)) from None
    typer.echo(f"alert {alert_id} acknowledged")


@alerts_app.command("deliver")
def alerts_deliver(ctx: typer.Context) -> None:
    """Send the webhook deliveries that are due now (the server does this on its own)."""
    settings = settings_of(ctx)
    sent = deliver_due(
        open_engine(ctx),
        settings.webhook_signing_key,
        settings.webhook_backoff_s,
        settings.webhook_max_attempts,
    )
    typer.echo(f"{sent} deliveries sent")


@alerts_app.command("webhook-secret")
def alerts_webhook_secret(ctx: typer.Context) -> None:
    """Print the key receivers use to check the X-ThreatCast-Signature header."""
    typer.echo(settings_of(ctx).webhook_signing_key)
