"""Global Terrorism Database (GTD codebook layout); users bring their own licensed file."""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from datetime import date

from events.canonical import Event, ViolenceType
from events.sources.base import country_code, parse_coordinates, parse_int, text_or_none

# GTD `specificity` (1 exact city .. 5 unknown) on UCDP's where_prec scale.
_SPECIFICITY_TO_PRECISION = {1: 1, 2: 2, 3: 3, 4: 4, 5: 6}
# Attacks on these targets are fighting with the state; others are one-sided violence.
_STATE_TARGETS = frozenset({"Military", "Police"})


def _event_dates(year: int, month: int, day: int) -> tuple[date, date, int]:
    """Start, end and UCDP date precision; GTD writes 0 for an unknown month or day."""
    if not 1 <= month <= 12:
        if month != 0:
            raise ValueError(f"imonth must be 0 (unknown) to 12, got {month}")
        return date(year, 1, 1), date(year, 12, 31), 5
    last_day = calendar.monthrange(year, month)[1]
    if day == 0:
        return date(year, month, 1), date(year, month, last_day), 4
    if not 1 <= day <= last_day:
        raise ValueError(f"iday {day} does not exist in {year}-{month:02d}")
    return date(year, month, day), date(year, month, day), 1


class GtdAdapter:
    name = "gtd"
    required_columns = tuple(
        frozenset({column})
        for column in (
            "eventid",
            "iyear",
            "imonth",
            "iday",
            "country_txt",
            "provstate",
            "latitude",
            "longitude",
            "targtype1_txt",
            "attacktype1_txt",
            "gname",
            "nkill",
        )
    )

    def parse_row(self, row: Mapping[str, str]) -> Event:
        source_id = row["eventid"].strip()
        if not source_id:
            raise ValueError("eventid is empty")
        year = parse_int(row["iyear"], "iyear", minimum=1900)
        month = parse_int(row["imonth"], "imonth")
        day = parse_int(row["iday"], "iday")
        assert year is not None and month is not None and day is not None
        start, end, precision = _event_dates(year, month, day)
        latitude, longitude = parse_coordinates(row["latitude"], row["longitude"])
        specificity = parse_int(row.get("specificity", ""), "specificity", required=False)
        # An empty nkill means the toll is unknown: no known deaths, no known upper bound.
        killed = parse_int(row["nkill"], "nkill", required=False)
        target = row["targtype1_txt"].strip()
        return Event(
            source=self.name,
            source_id=source_id,
            date_start=start,
            date_end=end,
            date_precision=precision,
            country=country_code(row["country_txt"]),
            admin1=text_or_none(row["provstate"]),
            admin2=None,
            latitude=latitude,
            longitude=longitude,
            location_precision=_SPECIFICITY_TO_PRECISION.get(specificity) if specificity else None,
            violence_type=ViolenceType.STATE_BASED
            if target in _STATE_TARGETS
            else ViolenceType.ONE_SIDED,
            event_type=text_or_none(row["attacktype1_txt"]),
            actor1=text_or_none(row["gname"]),
            actor2=text_or_none(target),
            fatalities_best=killed or 0,
            fatalities_low=killed or 0,
            fatalities_high=killed,
            civilian_deaths=None,
        )
