"""Risk scores to poll: the champion's latest issued forecasts, per region, and their track record."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import anyio
import anyio.to_thread
import pandas as pd
from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from events.actors import TRACKED_GROUPS as ACTOR_GROUPS
from events.gazetteer import RegionResolver
from events.panel import region_outcomes
from events.periods import (
    FREQUENCIES,
    Frequency,
    cadence,
    period_end,
    shift_period,
)
from events.series import SOURCE_FAMILIES, Series, choose_series
from service import distribution
from service.cache import BoundedCache
from service.dependencies import (
    EngineDep,
    PageDep,
    ReaderDep,
    ResolverDep,
    ServerDep,
    SettingsDep,
    reader_check,
)
from service.errors import ApiError, ErrorPublic
from service.etags import json_response, not_modified
from service.freshness import freshness, today
from service.schemas import (
    ActorPublic,
    ArchivedForecastPublic,
    ArchivePublic,
    DriverPublic,
    FatalitiesPublic,
    ForecastPublic,
    ForecastsPublic,
    IntervalPublic,
    ObservedPublic,
    RegionForecastsPublic,
)
from service.serving import IssueServer
from service.settings import Settings
from store.db import as_utc, fetch_page
from training.issuing import Issue, issued_forecasts

router = APIRouter(prefix="/v1/forecasts", tags=["forecasts"])
HISTORY_PERIODS = 24
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorPublic},
    404: {"model": ErrorPublic},
    422: {"model": ErrorPublic},
}
FreqQuery = Annotated[
    Frequency | None,
    Query(description="Monthly or weekly forecasts (of the default series' source)."),
]
SeriesQuery = Annotated[
    str | None,
    Query(
        description="The series, COUNTRY-SOURCE-FREQ (e.g. pak-acled-month); default: the configured one."
    ),
]
SourceQuery = Annotated[
    str | None, Query(description="The source family (ucdp, acled, gtd), instead of series.")
]


def chosen_series(
    settings: Settings, series: str | None, source: str | None, freq: str | None
) -> Series:
    """The series a request asks for: `series`, or the default series with `source` and `freq`
    replaced; 422 names what is wrong."""
    try:
        return choose_series(settings.default_series, series, source, freq)
    except ValueError as exc:
        raise ApiError(422, str(exc)) from None


def risk_level(
    p_event: float, settings: Settings
) -> Literal["low", "moderate", "high", "very high"]:
    low, moderate, high = settings.risk_cut_points
    if p_event < low:
        return "low"
    if p_event < moderate:
        return "moderate"
    return "high" if p_event < high else "very high"


@functools.cache
def _names(resolver: RegionResolver) -> dict[str, str]:
    return resolver.region_names()


def _check_region(region: str, names: dict[str, str]) -> None:
    if region not in names:
        raise ApiError(404, f"unknown region {region!r}", {"valid_regions": sorted(names)})


def _check_horizon(horizon: int | None, freq: Frequency) -> None:
    limit = cadence(freq).max_horizon
    if horizon is not None and not 1 <= horizon <= limit:
        raise ApiError(422, f"horizon must be between 1 and {limit} for freq={freq}; got {horizon}")


def _served(server: IssueServer, series: Series) -> Issue:
    issue: Issue | None = server.issue(series.key)
    if issue is None:
        raise ApiError(
            404,
            f"no {series.key} forecasts are published: {server.status(series.key)}",
            {"served_series": sorted(server.served())},
        )
    return issue


def _etag(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def _cached_json(
    request: Request, server: IssueServer, key: str, render: Callable[[], BaseModel]
) -> Response:
    """304 when the client holds this ETag; otherwise the body, serialized once per query."""
    etag = _etag(key)
    cached = not_modified(request, etag)
    if cached is not None:
        return cached
    body = server.body(etag, lambda: render().model_dump_json().encode())
    return json_response(request, body, etag)


async def _cached_json_off_loop(
    request: Request, server: IssueServer, key: str, render: Callable[[], BaseModel]
) -> Response:
    """As _cached_json, with a body not yet cached rendered in a worker thread: a query no one
    asked before never holds up the event loop."""
    etag = _etag(key)
    cached = not_modified(request, etag)
    if cached is not None:
        return cached
    body = server.bodies.get(etag)
    if body is None:
        # One render at a time per worker: renders compete with the event loop for the GIL,
        # and queued ones wait on the loop, not in a thread.
        limiter = getattr(request.app.state, "render_limiter", None)
        if limiter is None:
            limiter = request.app.state.render_limiter = anyio.CapacityLimiter(1)
        rendered = await anyio.to_thread.run_sync(
            lambda: render().model_dump_json().encode(), limiter=limiter
        )
        body = server.bodies.put(etag, rendered)
    return json_response(request, body, etag)


def _interval(row: Any) -> IntervalPublic:
    return IntervalPublic(p10=row["events_p10"], p50=row["events_p50"], p90=row["events_p90"])


@dataclass(frozen=True)
class Asked:
    """Quantile levels and counts a request asks the count law for."""

    levels: tuple[float, ...] = ()
    counts: tuple[int, ...] = ()
    fatality_counts: tuple[int, ...] = ()
    actor: str | None = None

    @property
    def key(self) -> str:
        """The same for every spelling of one question (order, repeats, 0.50 or 0.5)."""
        return (
            f"{sorted(set(self.levels))}-{sorted(set(self.counts))}-"
            f"{sorted(set(self.fatality_counts))}-{self.actor}"
        )


def _asked(
    quantiles: str | None,
    counts: str | None,
    fatality_counts: str | None = None,
    actor: str | None = None,
) -> Asked:
    if actor is not None and actor not in ACTOR_GROUPS:
        raise ApiError(422, f"unknown actor {actor[:20]!r}", {"valid_actors": list(ACTOR_GROUPS)})
    try:
        return Asked(
            tuple(distribution.parse_levels(quantiles)) if quantiles is not None else (),
            tuple(distribution.parse_counts(counts)) if counts is not None else (),
            tuple(distribution.parse_counts(fatality_counts, "fatality_exceedance"))
            if fatality_counts is not None
            else (),
            actor,
        )
    except ValueError as exc:
        raise ApiError(422, str(exc)) from None


def _public(
    row: dict[str, Any],
    issue: Issue,
    names: dict[str, str],
    settings: Settings,
    server: IssueServer,
    asked: Asked = Asked(),
) -> ForecastPublic:
    """A row as served: what every query shares built once per issue, then what this one asks
    (quantiles, exceedance, fatality exceedance, an actor group) added to a copy."""
    law = row.get("count_law")
    if (asked.levels or asked.counts) and law is None:
        raise ApiError(
            404, f"{issue.version}'s forecasts carry no count law: issue them again to ask it"
        )
    key = (issue.etag, row["region"], row["horizon"], "public")
    base = server.laws.get(key)
    if not isinstance(base, ForecastPublic):
        base = server.laws.put(key, _shared_public(row, issue, names, settings))
    assert isinstance(base, ForecastPublic)
    update: dict[str, Any] = {}
    if law is not None and (asked.levels or asked.counts):
        arrays_key = (issue.etag, row["region"], row["horizon"], "cumulative")
        arrays = server.laws.get(arrays_key)
        if arrays is None:
            arrays = server.laws.put(arrays_key, distribution.cumulative(law))
        assert isinstance(arrays, tuple)
        if asked.levels:
            update["quantiles"] = {
                f"{q:g}": distribution.quantile(law, q, arrays) for q in asked.levels
            }
        if asked.counts:
            update["exceedance"] = {
                str(k): distribution.exceedance(law, k, arrays) for k in asked.counts
            }
    if asked.fatality_counts:
        update["fatalities"] = _fatalities(row, issue, asked)
    if asked.actor is not None:
        update["actor"] = _actor(row, issue, server, asked)
    return base.model_copy(update=update) if update else base


def _shared_public(
    row: dict[str, Any], issue: Issue, names: dict[str, str], settings: Settings
) -> ForecastPublic:
    return ForecastPublic(
        region=row["region"],
        region_name=names.get(row["region"], row["region"]),
        horizon=row["horizon"],
        period=row["period"],
        p_event=row["p_event"],
        expected_events=row["expected_events"],
        events_interval=_interval(row),
        p_severe=row["p_severe"],
        risk_level=risk_level(row["p_event"], settings),
        drivers=[DriverPublic.model_validate(driver) for driver in row["drivers"]],
        model_version=issue.version,
        data_cutoff=issue.origin,
        change=row.get("change"),
        fatalities=_fatalities(row, issue, Asked()),
    )


def _actor(row: dict[str, Any], issue: Issue, server: IssueServer, asked: Asked) -> ActorPublic:
    groups = row.get("actors")
    if not groups or asked.actor not in groups:
        raise ApiError(
            404,
            f"{issue.version} forecasts no actor groups: its source names no actors, or it "
            "predates per-actor forecasts",
        )
    group = groups[asked.actor]
    counts = row.get("count_law")
    if counts is None:
        raise ApiError(404, f"{issue.version}'s forecasts carry no count law: issue them again")
    # Thinning costs the square of the law's length: once per issue, row and group.
    key = (issue.etag, row["region"], row["horizon"], asked.actor)
    law = server.laws.get(key)
    if law is None:
        law = server.laws.put(key, distribution.thinned(counts, float(group["share"])))
    assert isinstance(law, dict)
    return ActorPublic(
        group=str(asked.actor),
        share=group["share"],
        p_event=group["p_event"],
        expected_events=group["expected_events"],
        events_interval=IntervalPublic(
            p10=distribution.quantile(law, 0.1),
            p50=distribution.quantile(law, 0.5),
            p90=distribution.quantile(law, 0.9),
        ),
        exceedance={str(k): distribution.exceedance(law, k) for k in asked.counts}
        if asked.counts
        else None,
    )


def _fatalities(row: dict[str, Any], issue: Issue, asked: Asked) -> FatalitiesPublic | None:
    law = row.get("fatality_law")
    if law is None or row.get("expected_fatalities") is None:
        if asked.fatality_counts:
            raise ApiError(
                404, f"{issue.version} does not forecast fatalities: train a newer model to ask"
            )
        return None
    return FatalitiesPublic(
        expected=row["expected_fatalities"],
        interval=IntervalPublic(
            p10=row["fatalities_p10"], p50=row["fatalities_p50"], p90=row["fatalities_p90"]
        ),
        severe_threshold=int(law["threshold"]),
        p_severe=distribution.fatality_exceedance(law, int(law["threshold"])),
        exceedance={str(k): distribution.fatality_exceedance(law, k) for k in asked.fatality_counts}
        if asked.fatality_counts
        else None,
    )


def _fresh(issue: Issue, settings: Settings) -> dict[str, Any]:
    fresh = freshness(issue, settings.stale_after_days)
    return {
        "data_cutoff": fresh.data_cutoff,
        "data_age_days": fresh.age_days,
        "stale": fresh.stale,
    }


def _observed(row: Mapping[Any, Any]) -> ObservedPublic:
    """An observed period; events and fatalities are None where the source does not cover it."""
    known = not pd.isna(row["events"])
    return ObservedPublic(
        period=row["period"],
        events=int(row["events"]) if known else None,
        fatalities=int(row["fatalities"]) if known else None,
    )


def _select(issue: Issue, region: str | None, horizon: int | None) -> list[dict[str, Any]]:
    return [
        row
        for row in issue.rows
        if (region is None or row["region"] == region)
        and (horizon is None or row["horizon"] == horizon)
    ]


# The endpoint dashboards poll: its query is read by hand (documented below for OpenAPI) because
# FastAPI's generic parameter and dependency machinery cost more than the rest of the request.
_LATEST_PARAMETERS = [
    {
        "name": "region",
        "in": "query",
        "required": False,
        "description": "ISO 3166-2 code, e.g. PK-KP.",
        "schema": {"type": "string"},
    },
    {
        "name": "horizon",
        "in": "query",
        "required": False,
        "description": "Periods ahead.",
        "schema": {"type": "integer"},
    },
    {
        "name": "quantiles",
        "in": "query",
        "required": False,
        "description": "Count quantiles to answer from the count law, e.g. 0.05,0.25,0.75,0.95.",
        "schema": {"type": "string", "maxLength": 200},
    },
    {
        "name": "exceedance",
        "in": "query",
        "required": False,
        "description": "Counts k to give P(events >= k) for, e.g. 1,5,10.",
        "schema": {"type": "string", "maxLength": 200},
    },
    {
        "name": "actor",
        "in": "query",
        "required": False,
        "description": "An actor group to forecast (sources that name actors): each row gains "
        "`actor` with the group's probability, count and interval.",
        "schema": {"type": "string", "enum": list(ACTOR_GROUPS)},
    },
    {
        "name": "fatality_exceedance",
        "in": "query",
        "required": False,
        "description": "Fatality counts k to give P(fatalities >= k) for, e.g. 10,25,100.",
        "schema": {"type": "string", "maxLength": 200},
    },
    {
        "name": "series",
        "in": "query",
        "required": False,
        "description": "The series, COUNTRY-SOURCE-FREQ (e.g. pak-acled-month); default: the "
        "configured one (THREATCAST_DEFAULT_SERIES).",
        "schema": {"type": "string"},
    },
    {
        "name": "source",
        "in": "query",
        "required": False,
        "description": "The source family, instead of series.",
        "schema": {"type": "string", "enum": list(SOURCE_FAMILIES)},
    },
    {
        "name": "freq",
        "in": "query",
        "required": False,
        "description": "Monthly or weekly forecasts, instead of series.",
        "schema": {"type": "string", "enum": list(FREQUENCIES)},
    },
]


LatestQuery = tuple[str | None, int | None, Series, Asked]
# Parsed queries by their raw text: a dashboard's poll is parsed once, not on every request.
_PARSED: BoundedCache[LatestQuery] = BoundedCache(1024)


def _latest_query(request: Request, settings: Settings) -> LatestQuery:
    raw = request.scope.get("query_string", b"")
    key = (raw, settings.default_series)
    parsed = _PARSED.get(key)
    if parsed is None:
        parsed = _PARSED.put(key, _parse_latest_query(request, settings))
    return parsed


def _parse_latest_query(request: Request, settings: Settings) -> LatestQuery:
    query = request.query_params
    series = chosen_series(settings, query.get("series"), query.get("source"), query.get("freq"))
    raw = query.get("horizon")
    try:
        horizon = int(raw) if raw is not None else None
    except ValueError:
        raise ApiError(422, f"horizon must be a whole number, not {str(raw)[:20]!r}") from None
    asked = _asked(
        query.get("quantiles"),
        query.get("exceedance"),
        query.get("fatality_exceedance"),
        query.get("actor"),
    )
    return query.get("region"), horizon, series, asked


@router.get(
    "",
    response_model=ForecastsPublic,
    responses={304: {"description": "Not modified."}, **_ERRORS},
    openapi_extra={"parameters": _LATEST_PARAMETERS},
)
async def latest_forecasts(request: Request) -> Any:
    """The champion's latest forecasts per region and horizon, ordered by region then horizon."""
    if "authorization" in request.headers:
        await run_in_threadpool(reader_check, request)  # a key lookup: off the event loop
    else:
        reader_check(request)
    state = request.app.state
    server: IssueServer = state.server
    settings: Settings = state.settings
    region, horizon, series, asked = _latest_query(request, settings)
    names = _names(state.resolver)
    if region is not None:
        _check_region(region, names)
    _check_horizon(horizon, series.freq)
    issue = _served(server, series)

    def render() -> ForecastsPublic:
        data = [
            _public(row, issue, names, settings, server, asked)
            for row in _select(issue, region, horizon)
        ]
        return ForecastsPublic(
            data=data,
            count=len(data),
            series=issue.series,
            model_version=issue.version,
            **_fresh(issue, settings),
            issued_at=issue.issued_at.isoformat(),
        )

    # The age changes with the day: today is part of the cached body's key.
    key = f"{issue.etag}-{region}-{horizon}-{asked.key}-{today().isoformat()}"
    return await _cached_json_off_loop(request, server, key, render)


@router.get("/archive", response_model=ArchivePublic, responses=_ERRORS)
def forecast_archive(
    engine: EngineDep,
    resolver: ResolverDep,
    _: ReaderDep,
    page: PageDep,
    region: Annotated[str, Query(description="ISO 3166-2 code.")],
    settings: SettingsDep,
    period: Annotated[str, Query(description="Target period, YYYY-MM (or YYYY-Www for weeks).")],
    series: SeriesQuery = None,
    source: SourceQuery = None,
    freq: FreqQuery = None,
) -> ArchivePublic:
    """Everything forecast for one region and period, at each origin and by each version, and
    the observed outcome once the series' data covers it: a track record to check."""
    chosen = chosen_series(settings, series, source, freq)
    freq = chosen.freq
    _check_region(region, _names(resolver))
    try:
        period_end(period, freq)  # validates the label
    except ValueError as exc:
        raise ApiError(422, str(exc)) from None
    query = (
        select(issued_forecasts)
        .where(
            issued_forecasts.c.region == region,
            issued_forecasts.c.period == period,
            issued_forecasts.c.series == chosen.key,
        )
        .order_by(issued_forecasts.c.origin, issued_forecasts.c.version, issued_forecasts.c.id)
    )
    rows, total = fetch_page(engine, query, page.limit, page.offset)
    data = [
        ArchivedForecastPublic(
            model_version=r["version"],
            origin=r["origin"],
            horizon=r["horizon"],
            p_event=r["p_event"],
            expected_events=r["expected_events"],
            events_interval=_interval(r),
            p_severe=r["p_severe"],
            issued_at=as_utc(r["issued_at"]).isoformat(),  # type: ignore[union-attr]
        )
        for r in rows
    ]
    outcome = _observed(region_outcomes(engine, chosen, region, [period]).iloc[0].to_dict())
    observed = outcome if outcome.events is not None else None
    return ArchivePublic(
        region=region, period=period, observed=observed, data=data, **page.of(total, len(data))
    )


@router.get(
    "/{region}",
    response_model=RegionForecastsPublic,
    responses={304: {"description": "Not modified."}, **_ERRORS},
)
def region_forecasts(
    request: Request,
    region: str,
    engine: EngineDep,
    server: ServerDep,
    resolver: ResolverDep,
    settings: SettingsDep,
    _: ReaderDep,
    horizon: Annotated[int | None, Query(description="Periods ahead.")] = None,
    series: SeriesQuery = None,
    source: SourceQuery = None,
    freq: FreqQuery = None,
    quantiles: Annotated[
        str | None, Query(max_length=200, description="Count quantiles, e.g. 0.05,0.95.")
    ] = None,
    exceedance: Annotated[
        str | None, Query(max_length=200, description="Counts k for P(events >= k), e.g. 1,5.")
    ] = None,
    fatality_exceedance: Annotated[
        str | None,
        Query(max_length=200, description="Fatality counts k for P(fatalities >= k), e.g. 25,100."),
    ] = None,
    actor: Annotated[
        str | None,
        Query(
            max_length=20,
            description="An actor group to forecast (ttp, iskp or baloch; sources that name "
            "actors).",
        ),
    ] = None,
) -> Any:
    """One region's latest forecasts, with its observed history beside them (None where the
    source does not cover a period)."""
    asked = _asked(quantiles, exceedance, fatality_exceedance, actor)
    names = _names(resolver)
    _check_region(region, names)
    chosen = chosen_series(settings, series, source, freq)
    _check_horizon(horizon, chosen.freq)
    issue = _served(server, chosen)

    def render() -> RegionForecastsPublic:
        periods = [
            shift_period(issue.origin, -k, chosen.freq) for k in range(HISTORY_PERIODS - 1, -1, -1)
        ]
        history = region_outcomes(engine, chosen, region, periods)
        data = [
            _public(row, issue, names, settings, server, asked)
            for row in _select(issue, region, horizon)
        ]
        return RegionForecastsPublic(
            region=region,
            data=data,
            count=len(data),
            series=issue.series,
            model_version=issue.version,
            **_fresh(issue, settings),
            issued_at=issue.issued_at.isoformat(),
            history=[_observed(r) for r in history.to_dict(orient="records")],
        )

    key = f"{issue.etag}-{region}-{horizon}-{asked.key}-history-{today().isoformat()}"
    # New data can change the history without a new issue: the coverage is part of the key.
    covered = server.coverage().get(chosen.key)
    key += f"-{covered.last if covered else None}"
    return _cached_json(request, server, key, render)
