"""The canonical event row every source adapter produces."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import IntEnum


class ViolenceType(IntEnum):
    """UCDP's three types of organized violence."""

    STATE_BASED = 1
    NON_STATE = 2
    ONE_SIDED = 3


# UCDP's scales, used for every source: date_prec 1 (exact day) .. 5 (only the year known);
# where_prec 1 (exact place) .. 7 (international waters); 4 is "first-level unit".
DATE_PRECISIONS = range(1, 6)
LOCATION_PRECISIONS = range(1, 8)
PROVINCE_LEVEL_PRECISION = 4


@dataclass(frozen=True, slots=True)
class Event:
    """One event of organized violence as a source reports it, before region resolution."""

    source: str
    source_id: str
    date_start: date
    date_end: date
    date_precision: int
    country: str
    admin1: str | None
    admin2: str | None
    latitude: float | None
    longitude: float | None
    location_precision: int | None
    violence_type: ViolenceType | None
    event_type: str | None
    actor1: str | None
    actor2: str | None
    fatalities_best: int
    fatalities_low: int | None
    fatalities_high: int | None
    civilian_deaths: int | None
