"""Alert rules as operators write them, and their storage."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AnyUrl, BaseModel, Field, UrlConstraints, model_validator
from sqlalchemy import Engine, insert, select

from events.actors import GROUP_KEY
from events.gazetteer import RegionResolver
from events.periods import Frequency, cadence
from events.series import Series, choose_series, default_series
from service.alerts.tables import alert_rules
from store.db import as_utc, fetch_page, write_transaction

Target = Literal["p_event", "p_severe", "expected_events"]
Condition = Literal["above", "rise", "above_average"]
Severity = Literal["info", "warning", "critical"]
PROBABILITIES = ("p_event", "p_severe")
# The alert_rules and alert_deliveries columns hold 500 characters.
WebhookUrl = Annotated[
    AnyUrl, UrlConstraints(max_length=500, allowed_schemes=["http", "https"], host_required=True)
]


class AlertRuleIn(BaseModel):
    """A rule as operators write it."""

    name: str = Field(min_length=1, max_length=120, examples=["KP attack risk"])
    region: str | None = Field(default=None, description="ISO 3166-2 code; null for every region.")
    series: str | None = Field(
        default=None,
        max_length=40,
        description="Whose forecasts, COUNTRY-SOURCE-FREQ; null: the default series at freq.",
    )
    freq: Frequency = Frequency.MONTH
    horizon: int | None = Field(default=None, description="Periods ahead; null for any.")
    target: Target = "p_event"
    actor_group: str | None = Field(
        default=None,
        pattern=f"^{GROUP_KEY.pattern}$",
        description="Watch one actor group the series' country tracks (p_event or "
        "expected_events; sources that name actors), e.g. iskp; null: all actors.",
    )
    condition: Condition = "above"
    threshold: float = Field(
        allow_inf_nan=False,
        description="above: the level; rise: the increase since the previous issue; "
        "above_average: the factor over the region's trailing-12-period average.",
    )
    hysteresis: float = Field(
        default=0.0, ge=0, allow_inf_nan=False, description="Resolve only below threshold - this."
    )
    cooldown_s: int = Field(
        default=0, ge=0, le=30 * 86400, description="Quiet time after resolving."
    )
    severity: Severity = "warning"
    webhook_url: WebhookUrl | None = None

    @model_validator(mode="after")
    def _sensible(self) -> AlertRuleIn:
        if self.series is not None:
            parsed = Series.parse(self.series)
            self.series, self.freq = parsed.key, parsed.freq
        limit = cadence(self.freq).max_horizon
        if self.horizon is not None and not 1 <= self.horizon <= limit:
            raise ValueError(f"horizon must be between 1 and {limit} for {self.freq}")
        if self.actor_group is not None and self.target == "p_severe":
            raise ValueError("per-actor forecasts give p_event and expected_events, not p_severe")
        if self.actor_group is not None and self.condition == "above_average":
            raise ValueError("above_average compares with all actors' history; use above or rise")
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
    series: str
    freq: str
    horizon: int | None
    target: str
    actor_group: str | None
    condition: str
    threshold: float
    hysteresis: float
    cooldown_s: int
    severity: str
    webhook_url: str | None
    created_by: str
    created_at: datetime


def rule_from_row(row: Any) -> Rule:
    """A stored rule's row (less its deletion mark) as a Rule."""
    values = {k: v for k, v in dict(row).items() if k != "deleted_at"}
    return Rule(**{**values, "created_at": as_utc(values["created_at"])})


class UnknownRule(LookupError):
    """No rule (or alert) with the id asked for."""


def rule_values(rule: AlertRuleIn, default: str | None) -> dict[str, object]:
    """The stored row: a rule that names no series watches the default one at its frequency."""
    values = rule.model_dump(mode="json")
    values["series"] = rule_series(rule, default).key
    return values


def rule_series(rule: AlertRuleIn, default: str | None) -> Series:
    if rule.series:
        return Series.parse(rule.series)
    return choose_series(default or default_series(), freq=rule.freq)


def rule_problem(rule: AlertRuleIn, default: str | None, resolver: RegionResolver) -> str | None:
    """Why a rule cannot watch what it names: a country without a definition, a region of
    another country, an actor group its country does not track; None if it can."""
    series = rule_series(rule, default)
    country = resolver.gazetteers.get(series.country)
    if country is None:
        return f"no country definition for {series.key}"
    if rule.region is not None and rule.region not in country.unit_names(series.level):
        return f"{rule.region!r} is not a unit of {country.name} ({series.key})"
    if rule.actor_group is not None and rule.actor_group not in country.actors.tracked:
        tracked = ", ".join(country.actors.tracked) or "none"
        return f"{country.name} tracks no actor group {rule.actor_group!r}; its groups: {tracked}"
    return None


def create_rule(engine: Engine, rule: AlertRuleIn, actor: str, default: str | None = None) -> Rule:
    values = rule_values(rule, default)
    with write_transaction(engine) as conn:
        rule_id = conn.execute(
            insert(alert_rules).values(**values, created_by=actor, created_at=datetime.now(UTC))
        ).inserted_primary_key[0]  # type: ignore[index]
    return get_rule(engine, int(rule_id))


# What a rule watches: changing any of these ends the alerts it opened under the old ones.
WATCHED = (
    "region",
    "series",
    "freq",
    "horizon",
    "target",
    "actor_group",
    "condition",
    "threshold",
)


def get_rule(engine: Engine, rule_id: int) -> Rule:
    with engine.connect() as conn:
        row = (
            conn.execute(
                select(alert_rules).where(
                    alert_rules.c.id == rule_id, alert_rules.c.deleted_at.is_(None)
                )
            )
            .mappings()
            .first()
        )
    if row is None:
        raise UnknownRule(f"no alert rule {rule_id}")
    return rule_from_row(row)


def list_rules(engine: Engine, *, limit: int = 1000, offset: int = 0) -> tuple[list[Rule], int]:
    """A page of rules in id order, and how many there are."""
    query = select(alert_rules).where(alert_rules.c.deleted_at.is_(None)).order_by(alert_rules.c.id)
    rows, total = fetch_page(engine, query, limit, offset)
    return [rule_from_row(row) for row in rows], total
