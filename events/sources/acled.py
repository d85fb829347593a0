"""ACLED export CSV (the data export tool's and the API's layouts)."""

from __future__ import annotations

from collections.abc import Mapping

from events.canonical import Event, ViolenceType
from events.sources.base import (
    country_code,
    parse_coordinates,
    parse_date,
    parse_int,
    text_or_none,
)

DATE_FORMATS = ("%Y-%m-%d", "%d %B %Y", "%d-%B-%Y", "%d/%m/%Y")
# ACLED geo_precision 1 (exact) .. 3 (larger region) and time_precision 1 (day) .. 3 (month),
# on UCDP's scales.
_GEO_TO_PRECISION = {1: 1, 2: 2, 3: 4}
_TIME_TO_PRECISION = {1: 1, 2: 3, 3: 4}
_STATE_ACTOR_PREFIXES = ("Military Forces of", "Police Forces of")
# Demonstrations and strategic developments are kept but are not organized violence.
_VIOLENT_EVENT_TYPES = frozenset(
    {"Battles", "Explosions/Remote violence", "Violence against civilians"}
)


def _violence_type(event_type: str, actor1: str, actor2: str) -> ViolenceType | None:
    if event_type not in _VIOLENT_EVENT_TYPES:
        return None
    if event_type == "Violence against civilians" or actor2.startswith("Civilians"):
        return ViolenceType.ONE_SIDED
    if actor1.startswith(_STATE_ACTOR_PREFIXES) or actor2.startswith(_STATE_ACTOR_PREFIXES):
        return ViolenceType.STATE_BASED
    return ViolenceType.NON_STATE


class AcledAdapter:
    name = "acled"
    required_columns = tuple(
        frozenset({column})
        for column in (
            "event_id_cnty",
            "event_date",
            "event_type",
            "actor1",
            "actor2",
            "country",
            "admin1",
            "latitude",
            "longitude",
            "geo_precision",
            "fatalities",
        )
    )

    def parse_row(self, row: Mapping[str, str]) -> Event:
        source_id = row["event_id_cnty"].strip()
        if not source_id:
            raise ValueError("event_id_cnty is empty")
        day = parse_date(row["event_date"], "event_date", DATE_FORMATS)
        fatalities = parse_int(row["fatalities"], "fatalities")
        assert fatalities is not None
        latitude, longitude = parse_coordinates(row["latitude"], row["longitude"])
        geo = parse_int(row["geo_precision"], "geo_precision", required=False)
        time = parse_int(row.get("time_precision", ""), "time_precision", required=False)
        event_type = row["event_type"].strip()
        actor1, actor2 = row["actor1"].strip(), row["actor2"].strip()
        return Event(
            source=self.name,
            source_id=source_id,
            date_start=day,
            date_end=day,
            date_precision=_TIME_TO_PRECISION.get(time or 1, 1),
            country=country_code(row["country"], row.get("iso", "")),
            admin1=text_or_none(row["admin1"]),
            admin2=text_or_none(row.get("admin2", "")),
            latitude=latitude,
            longitude=longitude,
            location_precision=_GEO_TO_PRECISION.get(geo) if geo else None,
            violence_type=_violence_type(event_type, actor1, actor2),
            event_type=text_or_none(event_type),
            actor1=text_or_none(actor1),
            actor2=text_or_none(actor2),
            fatalities_best=fatalities,
            fatalities_low=fatalities,
            fatalities_high=fatalities,
            civilian_deaths=None,
        )
