"""Public response shapes of the HTTP API."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field, PlainSerializer


def _utc(moment: datetime) -> datetime:
    """Stored times are UTC; SQLite hands them back without a zone."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


# A moment in UTC, written as ISO 8601 with its offset (2026-12-04T18:28:06.123456+00:00).
Timestamp = Annotated[
    datetime,
    AfterValidator(_utc),
    PlainSerializer(lambda moment: moment.isoformat(), return_type=str, when_used="json"),
]


class PagePublic(BaseModel):
    """A page of a longer list: `count` items here, `total` in all, from `offset` on."""

    count: int
    total: int
    limit: int
    offset: int


class RegionPublic(BaseModel):
    code: str = Field(
        examples=["AF-KNR"], description="ISO 3166-2 code (a district: its province's and name)."
    )
    name: str = Field(examples=["Kunar"])
    country: str = Field(examples=["AFG"], description="ISO 3166-1 alpha-3 code.")
    level: str = Field(default="adm1", description="adm1 (provinces) or adm2 (districts).")
    parent: str | None = Field(default=None, description="A district's province.")


class RegionsPublic(BaseModel):
    data: list[RegionPublic]
    count: int


class ActorGroupPublic(BaseModel):
    group: str = Field(examples=["iskp"], description="The key `?actor=` takes.")
    label: str = Field(examples=["ISKP / Islamic State"])


class CountryPublic(BaseModel):
    code: str = Field(examples=["AFG"], description="ISO 3166-1 alpha-3 code.")
    name: str = Field(examples=["Afghanistan"])
    units: int = Field(description="First-level units forecast.")
    boundaries: bool = Field(description="Whether /v1/regions.geojson has its units' shapes.")
    actor_groups: list[ActorGroupPublic] = Field(description="The groups it forecasts one by one.")


class CountriesPublic(BaseModel):
    data: list[CountryPublic]
    count: int


class HealthPublic(BaseModel):
    status: Literal["ok"] = "ok"


class ReadinessPublic(BaseModel):
    status: Literal["ready", "not ready"]
    checks: dict[str, str]


class GeoJsonFeatureCollection(BaseModel):
    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[dict[str, Any]]


class DriverPublic(BaseModel):
    feature: str = Field(examples=["log_events_mean_3"], description="The model input.")
    label: str = Field(examples=["events per period over the last 3 months"])
    contribution: float = Field(
        examples=[0.41], description="Signed effect on the log expected count."
    )


class IntervalPublic(BaseModel):
    p10: float
    p50: float
    p90: float


class ContributionPublic(BaseModel):
    source: Literal["revision", "model", "data", "calendar"]
    feature: str | None = Field(description="The input moved (as in drivers); null for a step.")
    label: str = Field(examples=["events per period over the last 3 months"])
    delta: float = Field(description="Its part of the change in p_event.")


class ChangePublic(BaseModel):
    previous_origin: str
    previous_version: str
    previous_p_event: float
    delta_p_event: float = Field(description="p_event now minus at the previous issue.")
    contributions: list[ContributionPublic] = Field(
        description="Where the change came from; the deltas add up to delta_p_event."
    )
    facts: list[str] = Field(examples=[["23 more events in the last 3 months"]])


class FatalitiesPublic(BaseModel):
    expected: float = Field(examples=[23.5], description="Expected fatalities in the period.")
    interval: IntervalPublic = Field(description="80% predictive interval and median.")
    severe_threshold: int = Field(
        examples=[25], description="Fatalities that make a period severe."
    )
    p_severe: float = Field(
        examples=[0.31], description="P(fatalities >= severe_threshold); equals p_severe."
    )
    exceedance: dict[str, float] | None = Field(
        default=None,
        description="P(fatalities >= k) for the counts asked for (?fatality_exceedance=10,100).",
    )


class ActorPublic(BaseModel):
    group: str = Field(examples=["ttp"], description="The actor group asked for (?actor=).")
    share: float = Field(examples=[0.62], description="The group's share of the events.")
    p_event: float = Field(
        examples=[0.9], description="Probability of at least one event involving the group."
    )
    expected_events: float = Field(examples=[5.2])
    events_interval: IntervalPublic = Field(
        description="The 10%, 50% and 90% quantiles of the group's count."
    )
    exceedance: dict[str, float] | None = Field(
        default=None, description="P(group events >= k) for the counts asked (?exceedance=)."
    )


class ForecastPublic(BaseModel):
    region: str = Field(examples=["AF-KNR"])
    region_name: str = Field(examples=["Kunar"])
    horizon: int = Field(examples=[1])
    period: str = Field(examples=["2022-01"], description="The period forecast.")
    p_event: float = Field(examples=[0.97], description="Probability of at least one event.")
    expected_events: float = Field(examples=[8.4])
    events_interval: IntervalPublic = Field(description="80% predictive interval and median.")
    p_severe: float = Field(examples=[0.31], description="Probability of a severe period.")
    risk_level: Literal["low", "moderate", "high", "very high"]
    drivers: list[DriverPublic]
    model_version: str = Field(examples=["m20261128T071112-fe39ed"])
    data_cutoff: str = Field(
        examples=["2021-12"], description="Last period whose events were used."
    )
    change: ChangePublic | None = Field(
        default=None,
        description="Why p_event moved since the previous issue for this region and horizon.",
    )
    quantiles: dict[str, float] | None = Field(
        default=None, description="The count quantiles asked for (?quantiles=0.05,0.95)."
    )
    exceedance: dict[str, float] | None = Field(
        default=None, description="P(events >= k) for the counts asked for (?exceedance=1,5)."
    )
    fatalities: FatalitiesPublic | None = Field(
        default=None,
        description="The fatality forecast, from models that make one (null from older ones).",
    )
    actor: ActorPublic | None = Field(
        default=None, description="The forecast for one actor group, when asked (?actor=ttp)."
    )


class ForecastsPublic(BaseModel):
    data: list[ForecastPublic]
    count: int
    series: str = Field(description="The series: country, source family and frequency.")
    model_version: str
    data_cutoff: str = Field(description="The last period whose data the forecasts used.")
    data_age_days: int = Field(description="Days from the end of that period to today.")
    stale: bool = Field(
        description="True when the data end more than THREATCAST_STALE_AFTER_DAYS ago: "
        "these are not forecasts of the present."
    )
    issued_at: Timestamp


class ObservedPublic(BaseModel):
    period: str
    events: int | None = Field(description="None where the source does not cover the period.")
    fatalities: int | None


class SpanPublic(BaseModel):
    first: str
    last: str


class SeriesPublic(BaseModel):
    series: str
    country: str
    source: str
    freq: str
    level: str = Field(
        description="adm1: the country's regions; adm2: their districts (split from them)."
    )
    first_period: str
    last_period: str = Field(description="The newest covered period.")
    covered_until: str = Field(description="The last day of the newest covered period.")
    data_age_days: int
    stale: bool
    spans: dict[str, list[SpanPublic]] = Field(
        description="The days each kind of record covers (day: events; week, month: counts)."
    )
    gaps: list[SpanPublic] = Field(description="Missing periods between the first and the last.")
    champion: str | None
    served_origin: str | None


class SeriesListPublic(BaseModel):
    data: list[SeriesPublic]
    count: int
    default_series: str


class RegionForecastsPublic(ForecastsPublic):
    region: str
    history: list[ObservedPublic] = Field(description="Observed events, most recent periods.")


class ArchivedForecastPublic(BaseModel):
    model_version: str
    origin: str
    horizon: int
    p_event: float
    expected_events: float
    events_interval: IntervalPublic
    p_severe: float
    issued_at: Timestamp


class ArchivePublic(PagePublic):
    region: str
    period: str
    observed: ObservedPublic | None = Field(description="Null until the period's data is in.")
    data: list[ArchivedForecastPublic]


class StatusChangePublic(BaseModel):
    from_status: str | None
    to_status: str
    actor: str
    reason: str
    changed_at: Timestamp


class ModelPublic(BaseModel):
    version: str
    series: str
    freq: str
    status: str
    created_at: Timestamp
    as_of: str
    brier: float | None
    calibration_error: float | None


class ModelsPublic(PagePublic):
    data: list[ModelPublic]


class ModelDetailPublic(ModelPublic):
    manifest: dict[str, Any] | None = Field(
        description="Null when the artifact fails verification."
    )
    manifest_problem: str | None = None
    metrics: dict[str, Any]
    history: list[StatusChangePublic]


class StatusChangeRequest(BaseModel):
    reason: str = Field(min_length=1, max_length=500, examples=["better backtest Brier"])


class RollbackRequest(StatusChangeRequest):
    series: str | None = Field(
        default=None, max_length=40, description="Whose champion; default: the configured series."
    )


class JobPublic(BaseModel):
    id: int
    kind: str
    status: str
    requested_by: str | None
    created_at: Timestamp
    started_at: Timestamp | None
    finished_at: Timestamp | None
    version: str | None
    result: str | None
    findings: list[dict[str, str]] | None


class CalendarPeriodPublic(BaseModel):
    period: str
    election: bool
    election_window: bool
    ashura: bool
    ramadan_days: int


class CalendarPublic(BaseModel):
    data: list[CalendarPeriodPublic]
    count: int


class ScoresPublic(BaseModel):
    n: int
    brier: float | None = Field(description="Brier score of p_event.")
    severe_brier: float | None = Field(description="Brier score of p_severe.")
    pinball: float | None = Field(description="Mean pinball loss of p10, p50 and p90.")
    coverage_p10_p90: float | None = Field(description="Share of whole counts within p10..p90.")
    pit_coverage_p10_p90: float | None = Field(
        None, description="Share of randomized PITs between the interval's levels (0.8 if true)."
    )
    rps: float | None = Field(description="Ranked probability score of the whole count law.")


class TrackMonthPublic(BaseModel):
    period: str = Field(description="The target period.")
    first: dict[str, ScoresPublic] = Field(description="Scored on the first release, by model.")
    latest: dict[str, ScoresPublic] = Field(description="Scored on the latest release.")


class SkillPublic(BaseModel):
    release: Literal["first", "latest"]
    reference: str
    brier_skill: float | None = Field(description="1 - our Brier / the reference's (p_event).")
    interval_low: float | None = Field(description="5th percentile over resampled months.")
    interval_high: float | None = Field(description="95th percentile over resampled months.")


class RollingSkillPublic(BaseModel):
    region: str
    period: str
    skill: float | None = Field(
        description="Brier skill against the trailing-12 share, last 12 months."
    )


class TrackRecordPublic(BaseModel):
    series: str
    models: list[str] = Field(description="issued (ThreatCast's forecasts) and the references.")
    months: list[TrackMonthPublic]
    overall: dict[str, dict[str, ScoresPublic]] = Field(description="By release, then model.")
    skill: list[SkillPublic]
    rolling_skill: list[RollingSkillPublic]
    revised_targets: int = Field(description="Scored targets a newer release revised.")
