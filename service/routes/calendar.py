"""Calendar facts to mark on charts: elections, Ashura, Ramadan, by period."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from events.calendar import HIJRI_SUPPORTED, OutsideCalendar, calendar_features, check_supported
from events.periods import Frequency, period_range, period_start
from events.series import Series
from service.dependencies import ResolverDep, SettingsDep
from service.errors import ApiError, error_responses
from service.etags import model_response
from service.schemas import CalendarPeriodPublic, CalendarPublic

router = APIRouter(prefix="/v1", tags=["calendar"])
MAX_PERIODS = 600


@router.get("/calendar", response_model=CalendarPublic, responses=error_responses(422))
def calendar(
    request: Request,
    resolver: ResolverDep,
    settings: SettingsDep,
    start: Annotated[str, Query(description="First period, YYYY-MM (or YYYY-Www).")],
    end: Annotated[str, Query(description="Last period.")],
    freq: Annotated[Frequency, Query()] = Frequency.MONTH,
    country: Annotated[
        str | None,
        Query(max_length=3, description="ISO 3166-1 alpha-3; default: the default series'."),
    ] = None,
) -> Response:
    """Which periods hold an election (the country's), its window, Ashura and Ramadan days."""
    country = (country or Series.parse(settings.default_series).country).upper()
    gazetteer = resolver.gazetteers.get(country)
    if gazetteer is None:
        raise ApiError(
            422, f"unknown country {country!r}", {"valid_countries": sorted(resolver.gazetteers)}
        )
    try:
        periods = period_range(start, end, freq, limit=MAX_PERIODS)
    except ValueError as exc:
        raise ApiError(422, str(exc)) from None
    try:
        check_supported(period_start(periods[0], freq), period_start(periods[-1], freq))
        frame = calendar_features(periods, freq, gazetteer.elections)
    except OutsideCalendar as exc:
        low, high = HIJRI_SUPPORTED
        raise ApiError(
            422, str(exc), {"supported_from": low.isoformat(), "supported_to": high.isoformat()}
        ) from None
    except ValueError as exc:  # a period at the end of the calendar, say
        raise ApiError(422, str(exc)) from None
    data = [
        CalendarPeriodPublic(
            period=row["period"],
            election=bool(row["election"]),
            election_window=bool(row["election_window"]),
            ashura=bool(row["ashura"]),
            ramadan_days=int(row["ramadan_days"]),
        )
        for row in frame.to_dict(orient="records")
    ]
    return model_response(request, CalendarPublic(data=data, count=len(data)))
