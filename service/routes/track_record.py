"""The public track record: every issued forecast scored against what happened, beside the
reference methods' forecasts made at the same time."""

from __future__ import annotations

import hashlib
import math
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from events.periods import period_start
from models.catalog import ISSUED_REFERENCES
from service.dependencies import EngineDep, ReaderDep, ServerDep, SettingsDep
from service.errors import NOT_MODIFIED, ApiError, error_responses
from service.etags import json_response, kept_gzip, not_modified
from service.queries import chosen_series
from service.routes.forecasts import FreqQuery, SeriesQuery, SourceQuery
from service.schemas import TrackRecordPublic
from training.track_record import (
    ISSUED,
    filter_rows,
    rolling_skill,
    scored_frame,
    summarize,
    track_record_stamp,
)

router = APIRouter(prefix="/v1", tags=["track record"])
PeriodQuery = Annotated[str | None, Query(max_length=10, description="A target period label.")]


def _finite(value: Any) -> Any:
    """NaN (no score yet) as null; nested dicts and lists too."""
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


@router.get(
    "/track-record",
    response_model=TrackRecordPublic,
    responses={**NOT_MODIFIED, **error_responses(404, 422)},
)
def track_record(
    request: Request,
    engine: EngineDep,
    server: ServerDep,
    settings: SettingsDep,
    _: ReaderDep,
    series: SeriesQuery = None,
    source: SourceQuery = None,
    freq: FreqQuery = None,
    region: Annotated[str | None, Query(max_length=10)] = None,
    horizon: Annotated[int | None, Query(ge=1, le=52)] = None,
    start: Annotated[str | None, Query(alias="from", max_length=10)] = None,
    end: Annotated[str | None, Query(alias="to", max_length=10)] = None,
) -> Response:
    """Per target month and rolled up, on the first and the latest release: our Brier scores,
    pinball loss and interval coverage and the references' (climatology, the trailing-12 share,
    as they stood at each issue), our Brier skill with a bootstrap interval over months, and
    each region's rolling 12-month skill. Computed once per change of the issues and outcomes
    (and per filter): a poll costs a few indexed lookups, or a 304 with `If-None-Match`."""
    chosen = chosen_series(settings.default_series, series, source, freq)
    for label in (start, end):
        if label is not None:
            try:
                period_start(label, chosen.freq)
            except ValueError as exc:
                raise ApiError(422, str(exc)) from None
    # What the answer depends on, looked up at most every few seconds: a poll costs a lookup.
    stamp = server.checks.get(
        ("track-record", chosen.key), lambda: track_record_stamp(engine, chosen.key)
    )
    key = repr((chosen.key, region, horizon, start, end, stamp))
    etag = hashlib.sha256(f"track-record|{key}".encode()).hexdigest()[:32]
    cached = not_modified(request, etag)
    if cached is not None:
        return cached
    body = server.bodies.get(etag)
    if body is None:
        frame = server.scored.get((chosen.key, stamp))
        if frame is None:
            frame = server.scored.put((chosen.key, stamp), scored_frame(engine, chosen.key))
        rows = filter_rows(frame, region=region, horizon=horizon, start=start, end=end)
        public = TrackRecordPublic.model_validate(
            _finite(
                {
                    "series": chosen.key,
                    "models": [ISSUED, *ISSUED_REFERENCES],
                    **summarize(rows),
                    "rolling_skill": rolling_skill(rows).to_dict(orient="records"),
                }
            )
        )
        body = server.bodies.put(etag, public.model_dump_json().encode())
    return json_response(request, body, etag, kept_gzip(request, server.body, etag, body))
