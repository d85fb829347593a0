"""Risk scores to poll: the champion's latest issued forecasts, per region, and their track record."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from typing import Annotated, Any

import anyio
import anyio.to_thread
from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from events.gazetteer import RegionResolver, default_resolver
from events.levels import FIRST_LEVEL
from events.panel import region_outcomes
from events.periods import Frequency, period_end, shift_period
from events.series import Series
from service.dependencies import (
    EngineDep,
    PageDep,
    ReaderDep,
    ResolverDep,
    ServerDep,
    SettingsDep,
    reader_check,
)
from service.errors import NOT_MODIFIED, ApiError, error_responses
from service.etags import GZIPPED, gzip_body, json_response, kept_gzip, not_modified, wants_gzip
from service.freshness import today
from service.presenting import Presenter, events_interval, freshness_fields, observed, select_rows
from service.queries import cached_query, chosen_series, openapi_parameters
from service.schemas import (
    ArchivedForecastPublic,
    ArchivePublic,
    ForecastsPublic,
    RegionForecastsPublic,
)
from service.serving import IssueServer
from service.settings import Settings
from training.issued import Issue, archive_page

router = APIRouter(prefix="/v1/forecasts", tags=["forecasts"])
HISTORY_PERIODS = 24
_ERRORS = error_responses(401, 404, 422)
FreqQuery = Annotated[
    Frequency | None,
    Query(description="Monthly or weekly forecasts (of the default series' source)."),
]
SeriesQuery = Annotated[
    str | None,
    Query(
        description="The series, COUNTRY-SOURCE-FREQ (e.g. afg-acled-month); default: the configured one."
    ),
]
SourceQuery = Annotated[
    str | None, Query(description="The source family (ucdp, acled, gtd), instead of series.")
]


@functools.lru_cache(maxsize=64)
def _names(resolver: RegionResolver, series: Series) -> dict[str, str]:
    """The names of the units a series forecasts, by code (none for a country or level
    without a definition)."""
    gazetteer = resolver.gazetteers.get(series.country)
    return gazetteer.unit_names(series.level) if gazetteer is not None else {}


@functools.lru_cache(maxsize=64)
def _units_in(resolver: RegionResolver, series: Series) -> dict[str, frozenset[str]]:
    """Below the first level: each region's units and remainder, by the region's code."""
    gazetteer = resolver.gazetteers.get(series.country)
    if series.level == FIRST_LEVEL or gazetteer is None or series.level not in gazetteer.levels:
        return {}
    found: dict[str, set[str]] = {}
    for unit, parent in gazetteer.unit_parents(series.level).items():
        found.setdefault(parent, set()).add(unit)
    return {parent: frozenset(units) for parent, units in found.items()}


def _check_region(region: str, names: dict[str, str]) -> None:
    if region not in names:
        raise ApiError(404, f"unknown region {region!r}", {"valid_regions": sorted(names)})


def _selected(
    resolver: RegionResolver, series: Series, region: str | None
) -> frozenset[str] | None:
    """The units `?region=` asks for: that unit, or, at a lower level, a region's units."""
    if region is None:
        return None
    names = _names(resolver, series)
    if region in names:
        return frozenset({region})
    within = _units_in(resolver, series).get(region)
    if within is None:
        raise ApiError(
            404,
            f"unknown region {region!r}",
            {"valid_regions": sorted({*names, *_units_in(resolver, series)})},
        )
    return within


def _served(server: IssueServer, series: Series) -> Issue:
    issue: Issue | None = server.issue(series.key)
    if issue is None:
        raise ApiError(
            404,
            f"no {series.key} forecasts are published: {server.status(series.key)}",
            {"served_series": sorted(server.served())},
        )
    return issue


@functools.lru_cache(maxsize=1024)  # polled queries repeat their keys
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
    return json_response(request, body, etag, kept_gzip(request, server.body, etag, body))


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
        rendered = await _off_loop(request, lambda: render().model_dump_json().encode())
        body = server.bodies.put(etag, rendered)
    gzipped = None
    if wants_gzip(request, body):
        gzipped = server.bodies.get(etag + GZIPPED)
        if gzipped is None:
            packed = await _off_loop(request, lambda: gzip_body(body))
            gzipped = server.bodies.put(etag + GZIPPED, packed)
    return json_response(request, body, etag, gzipped)


async def _off_loop(request: Request, work: Callable[[], bytes]) -> bytes:
    # One render at a time per worker: renders compete with the event loop for the GIL, and
    # queued ones wait on the loop, not in a thread.
    limiter = getattr(request.app.state, "render_limiter", None)
    if limiter is None:
        limiter = request.app.state.render_limiter = anyio.CapacityLimiter(1)
    return await anyio.to_thread.run_sync(work, limiter=limiter)


@router.get(
    "",
    response_model=ForecastsPublic,
    responses={**NOT_MODIFIED, **_ERRORS},
    openapi_extra={"parameters": openapi_parameters()},
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
    query = cached_query(
        request.scope.get("query_string", b""), request.query_params, settings.default_series
    )
    resolver = default_resolver()
    names = _names(resolver, query.series)
    selected = _selected(resolver, query.series, query.region)
    issue = _served(server, query.series)
    presenter = Presenter(issue, names, settings, server.laws)

    def render() -> ForecastsPublic:
        data = [
            presenter.public(row, query.asked)
            for row in select_rows(issue, selected, query.horizon)
        ]
        return ForecastsPublic(
            data=data,
            count=len(data),
            series=issue.series,
            model_version=issue.version,
            **freshness_fields(issue, settings),
            issued_at=issue.issued_at,
        )

    # The age changes with the day: today is part of the cached body's key.
    key = f"{issue.etag}-{query.key}-{today().isoformat()}"
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
    chosen = chosen_series(settings.default_series, series, source, freq)
    freq = chosen.freq
    _check_region(region, _names(resolver, chosen))
    try:
        period_end(period, freq)  # validates the label
    except ValueError as exc:
        raise ApiError(422, str(exc)) from None
    archived, total = archive_page(engine, chosen.key, region, period, page.limit, page.offset)
    data = [
        ArchivedForecastPublic(
            model_version=item.version,
            origin=item.row.origin,
            horizon=item.row.horizon,
            p_event=item.row.p_event,
            expected_events=item.row.expected_events,
            events_interval=events_interval(item.row),
            p_severe=item.row.p_severe,
            issued_at=item.issued_at,
        )
        for item in archived
    ]
    outcome = observed(region_outcomes(engine, chosen, region, [period]).iloc[0].to_dict())
    return ArchivePublic(
        region=region,
        period=period,
        observed=outcome if outcome.events is not None else None,
        data=data,
        **page.of(total, len(data)),
    )


@router.get(
    "/{region}",
    response_model=RegionForecastsPublic,
    responses={**NOT_MODIFIED, **_ERRORS},
    openapi_extra={"parameters": openapi_parameters(without=("region",))},
)
def region_forecasts(
    request: Request,
    region: str,
    engine: EngineDep,
    server: ServerDep,
    resolver: ResolverDep,
    settings: SettingsDep,
    _: ReaderDep,
) -> Any:
    """One region's latest forecasts, with its observed history beside them (None where the
    source does not cover a period)."""
    query = cached_query(
        request.scope.get("query_string", b""), request.query_params, settings.default_series,
        region,
    )  # fmt: skip
    names = _names(resolver, query.series)
    _check_region(region, names)
    issue = _served(server, query.series)
    presenter = Presenter(issue, names, settings, server.laws)
    freq = query.series.freq
    # The history reads the coverage the server keeps; new data can change it without a new
    # issue, so its end is part of the body's key.
    covered = server.coverage().get(query.series.first_level.key)

    def render() -> RegionForecastsPublic:
        periods = [shift_period(issue.origin, -k, freq) for k in range(HISTORY_PERIODS - 1, -1, -1)]
        history = region_outcomes(engine, query.series, region, periods, covered)
        data = [
            presenter.public(row, query.asked)
            for row in select_rows(issue, frozenset({region}), query.horizon)
        ]
        return RegionForecastsPublic(
            region=region,
            data=data,
            count=len(data),
            series=issue.series,
            model_version=issue.version,
            **freshness_fields(issue, settings),
            issued_at=issue.issued_at,
            history=[observed(r) for r in history.to_dict(orient="records")],
        )

    key = f"{issue.etag}-{query.key}-history-{today().isoformat()}"
    key += f"-{covered.last if covered else None}"
    return _cached_json(request, server, key, render)
