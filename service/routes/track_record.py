"""The public track record: every issued forecast scored against what happened, beside the
reference methods' forecasts made at the same time."""

from __future__ import annotations

import math
from typing import Annotated, Any

from fastapi import APIRouter, Query

from events.periods import period_start
from service.dependencies import EngineDep, ReaderDep, SettingsDep
from service.errors import ApiError, ErrorPublic
from service.routes.forecasts import FreqQuery, SeriesQuery, SourceQuery, chosen_series
from service.schemas import TrackRecordPublic
from training.issuing import REFERENCE_MODELS
from training.track_record import ISSUED, rolling_skill, scored_rows, summarize

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
    responses={404: {"model": ErrorPublic}, 422: {"model": ErrorPublic}},
)
def track_record(
    engine: EngineDep,
    settings: SettingsDep,
    _: ReaderDep,
    series: SeriesQuery = None,
    source: SourceQuery = None,
    freq: FreqQuery = None,
    region: Annotated[str | None, Query(max_length=10)] = None,
    horizon: Annotated[int | None, Query(ge=1, le=52)] = None,
    start: Annotated[str | None, Query(alias="from", max_length=10)] = None,
    end: Annotated[str | None, Query(alias="to", max_length=10)] = None,
) -> TrackRecordPublic:
    """Per target month and rolled up, on the first and the latest release: our Brier scores,
    pinball loss and interval coverage and the references' (climatology, the trailing-12 share,
    as they stood at each issue), our Brier skill with a bootstrap interval over months, and
    each region's rolling 12-month skill."""
    chosen = chosen_series(settings, series, source, freq)
    for label in (start, end):
        if label is not None:
            try:
                period_start(label, chosen.freq)
            except ValueError as exc:
                raise ApiError(422, str(exc)) from None
    rows = scored_rows(engine, chosen.key, region=region, horizon=horizon, start=start, end=end)
    summary = summarize(rows)
    rolling = rolling_skill(rows)
    return TrackRecordPublic.model_validate(
        _finite(
            {
                "series": chosen.key,
                "models": [ISSUED, *REFERENCE_MODELS],
                **summary,
                "rolling_skill": rolling.to_dict(orient="records"),
            }
        )
    )
