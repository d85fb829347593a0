"""Risk scores to poll: the champion's latest issued forecasts, per region, and their track record."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from events.gazetteer import RegionResolver
from events.inventory import newest_event_date
from events.panel import region_outcomes
from events.periods import FREQUENCIES, Frequency, cadence, period_end, shift_period
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
    ArchivedForecastPublic,
    ArchivePublic,
    DriverPublic,
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
FreqQuery = Annotated[Frequency, Query(description="Monthly or weekly forecasts.")]


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


def _served(server: IssueServer, freq: Frequency) -> Issue:
    issue: Issue | None = server.issue(freq)
    if issue is None:
        raise ApiError(404, f"no {freq} forecasts are published: {server.status(freq)}")
    return issue


def _cached_json(
    request: Request, server: IssueServer, etag: str, render: Callable[[], BaseModel]
) -> Response:
    """304 when the client holds this ETag; otherwise the body, serialized once per ETag."""
    cached = not_modified(request, etag)
    if cached is not None:
        return cached
    body = server.body(etag, lambda: render().model_dump_json().encode())
    return json_response(request, body, etag)


def _interval(row: Any) -> IntervalPublic:
    return IntervalPublic(p10=row["events_p10"], p50=row["events_p50"], p90=row["events_p90"])


def _public(
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
    )


def _fresh(issue: Issue, settings: Settings) -> dict[str, Any]:
    fresh = freshness(issue, settings.stale_after_days)
    return {
        "data_cutoff": fresh.data_cutoff,
        "data_age_days": fresh.age_days,
        "stale": fresh.stale,
    }


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
        "name": "freq",
        "in": "query",
        "required": False,
        "description": "Monthly or weekly forecasts.",
        "schema": {"type": "string", "enum": list(FREQUENCIES), "default": Frequency.MONTH},
    },
]


def _latest_query(request: Request) -> tuple[str | None, int | None, Frequency]:
    query = request.query_params
    try:
        freq = Frequency(query.get("freq", Frequency.MONTH))
    except ValueError:
        raise ApiError(
            422, f"freq must be {' or '.join(FREQUENCIES)}, not {query.get('freq')!r}"
        ) from None
    raw = query.get("horizon")
    try:
        horizon = int(raw) if raw is not None else None
    except ValueError:
        raise ApiError(422, f"horizon must be a whole number, not {raw!r}") from None
    return query.get("region"), horizon, freq


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
    region, horizon, freq = _latest_query(request)
    state = request.app.state
    server: IssueServer = state.server
    settings: Settings = state.settings
    names = _names(state.resolver)
    if region is not None:
        _check_region(region, names)
    _check_horizon(horizon, freq)
    issue = _served(server, freq)

    def render() -> ForecastsPublic:
        data = [_public(row, issue, names, settings) for row in _select(issue, region, horizon)]
        return ForecastsPublic(
            data=data,
            count=len(data),
            model_version=issue.version,
            **_fresh(issue, settings),
            issued_at=issue.issued_at.isoformat(),
        )

    # The age changes with the day: today is part of the cached body's key.
    key = f"{issue.etag}-{region}-{horizon}-{today().isoformat()}"
    return _cached_json(request, server, key, render)


@router.get("/archive", response_model=ArchivePublic, responses=_ERRORS)
def forecast_archive(
    engine: EngineDep,
    resolver: ResolverDep,
    _: ReaderDep,
    page: PageDep,
    region: Annotated[str, Query(description="ISO 3166-2 code.")],
    period: Annotated[str, Query(description="Target period, YYYY-MM (or YYYY-Www for weeks).")],
    freq: FreqQuery = Frequency.MONTH,
) -> ArchivePublic:
    """Everything forecast for one region and period, at each origin and by each version, and
    the observed outcome once the period's data is in: a track record to check."""
    _check_region(region, _names(resolver))
    try:
        last_day = period_end(period, freq)
    except ValueError as exc:
        raise ApiError(422, str(exc)) from None
    query = (
        select(issued_forecasts)
        .where(
            issued_forecasts.c.region == region,
            issued_forecasts.c.period == period,
            issued_forecasts.c.freq == freq,
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
    newest = newest_event_date(engine)
    observed = None
    if newest is not None and last_day <= newest:
        outcome = region_outcomes(engine, region, freq, [period]).iloc[0]
        observed = ObservedPublic(
            period=period, events=int(outcome["events"]), fatalities=int(outcome["fatalities"])
        )
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
    freq: FreqQuery = Frequency.MONTH,
) -> Any:
    """One region's latest forecasts, with its observed history beside them."""
    names = _names(resolver)
    _check_region(region, names)
    _check_horizon(horizon, freq)
    issue = _served(server, freq)

    def render() -> RegionForecastsPublic:
        periods = [shift_period(issue.origin, -k, freq) for k in range(HISTORY_PERIODS - 1, -1, -1)]
        history = region_outcomes(engine, region, freq, periods)
        data = [_public(row, issue, names, settings) for row in _select(issue, region, horizon)]
        return RegionForecastsPublic(
            region=region,
            data=data,
            count=len(data),
            model_version=issue.version,
            **_fresh(issue, settings),
            issued_at=issue.issued_at.isoformat(),
            history=[
                ObservedPublic(period=r.period, events=r.events, fatalities=r.fatalities)
                for r in history.itertuples()
            ],
        )

    key = f"{issue.etag}-{region}-{horizon}-history-{today().isoformat()}"
    return _cached_json(request, server, key, render)
