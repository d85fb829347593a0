"""UCDP Georeferenced Event Dataset: GED releases, the web export and Candidate Events files."""

from __future__ import annotations

from collections.abc import Mapping

from events.canonical import DATE_PRECISIONS, LOCATION_PRECISIONS, Event, ViolenceType
from events.sources.base import (
    country_code,
    first_present,
    parse_choice,
    parse_coordinates,
    parse_date,
    parse_int,
    text_or_none,
)

# GED/HDX: 2021-03-04 00:00:00.000; web export: 03/04/2021 00:00:00; candidate files: 2021-03-04.
DATE_FORMATS = (
    "%Y-%m-%d %H:%M:%S.%f",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d",
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y",
)


class UcdpAdapter:
    name = "ucdp"
    required_columns = tuple(
        frozenset(options)
        for options in (
            {"id"},
            {"date_start"},
            {"date_end"},
            {"date_prec"},
            {"type_of_violence"},
            {"side_a"},
            {"side_b"},
            {"adm_1"},
            {"where_prec"},
            {"latitude"},
            {"longitude"},
            {"country"},
            {"best", "best_est"},
        )
    )

    def parse_row(self, row: Mapping[str, str]) -> Event:
        source_id = row["id"].strip()
        if not source_id:
            raise ValueError("id is empty")
        start = parse_date(row["date_start"], "date_start", DATE_FORMATS)
        end = parse_date(row["date_end"], "date_end", DATE_FORMATS)
        if end < start:
            raise ValueError(f"date_end {end} is before date_start {start}")
        best = parse_int(first_present(row, "best", "best_est"), "best")
        low = parse_int(row.get("low", row.get("low_est", "")), "low", required=False)
        high = parse_int(row.get("high", row.get("high_est", "")), "high", required=False)
        # Real releases have rows with low > high or best outside [low, high]; kept as given.
        assert best is not None
        latitude, longitude = parse_coordinates(row["latitude"], row["longitude"])
        iso3 = row.get("iso3", "").strip()
        return Event(
            source=self.name,
            source_id=source_id,
            date_start=start,
            date_end=end,
            date_precision=parse_choice(row["date_prec"], "date_prec", DATE_PRECISIONS),
            country=iso3 if len(iso3) == 3 else country_code(row["country"]),
            admin1=text_or_none(row["adm_1"]),
            admin2=text_or_none(row.get("adm_2", "")),
            latitude=latitude,
            longitude=longitude,
            location_precision=parse_choice(row["where_prec"], "where_prec", LOCATION_PRECISIONS),
            violence_type=ViolenceType(
                parse_choice(row["type_of_violence"], "type_of_violence", range(1, 4))
            ),
            event_type=None,
            actor1=text_or_none(row["side_a"]),
            actor2=text_or_none(row["side_b"]),
            fatalities_best=best,
            fatalities_low=low,
            fatalities_high=high,
            civilian_deaths=parse_int(
                row.get("deaths_civilians", ""), "deaths_civilians", required=False
            ),
        )
