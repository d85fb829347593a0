"""Aggregated counts as users can download them: ACLED's aggregated data (weekly counts per
admin-1 unit, event type and sub-event type) and HDX's monthly admin-1 files of ACLED data.

Rows are read as counts, never turned into invented event rows. A bad row is a RowError with
its line; a file whose layout is neither is a SourceFormatError.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from events.sources.base import (
    DEFAULT_LIMITS,
    FileLimits,
    RowError,
    RowErrors,
    SourceFormatError,
    country_code,
    excerpt,
    parse_date,
    parse_int,
    text_or_none,
)
from events.sources.reader import data_rows, future_date_error, table_rows

# The same event types ACLED's event-level adapter counts as organized violence.
VIOLENT_EVENT_TYPES = frozenset(
    {"Battles", "Explosions/Remote violence", "Violence against civilians"}
)
_ACLED_COLUMNS = ("week", "country", "admin1", "event_type", "sub_event_type", "events",
                  "fatalities")  # fmt: skip
_HDX_COLUMNS = ("country", "admin1", "month", "year", "events", "fatalities")
_MONTHS = {name.lower(): number for number, name in enumerate(calendar.month_name) if name}
_MONTHS.update({name.lower(): number for number, name in enumerate(calendar.month_abbr) if name})
SATURDAY = 5
_WEEK_FORMATS = ("%Y-%m-%d", "%d %B %Y", "%d/%m/%Y", "%m/%d/%Y")


@dataclass(frozen=True, slots=True)
class CountRow:
    """One aggregated cell as the file gives it, before its admin-1 name is resolved."""

    country: str
    period_start: date
    admin1: str
    event_type: str
    sub_event_type: str
    events: int
    fatalities: int

    @property
    def violent(self) -> bool:
        return self.event_type in VIOLENT_EVENT_TYPES or self.event_type == HDX_VIOLENCE


@dataclass(slots=True)
class ParsedCounts:
    source: str
    layout: str
    # How the file counts time: "week" (ACLED's Saturday weeks) or "month".
    unit: str
    rows: list[tuple[int, CountRow]] = field(default_factory=list)
    errors: RowErrors = field(default_factory=RowErrors)
    rows_read: int = 0
    # The event types the file is authoritative for: those its rows have, or, for HDX files
    # (one type each), the type its name declares.
    event_types: frozenset[str] = frozenset()


# HDX publishes political violence, civilian targeting (a part of it) and demonstrations as
# separate files of one layout; the file name says which.
HDX_VIOLENCE = "Political violence"
_HDX_OTHER = {"demonstration": "Demonstrations", "civilian_targeting": "Civilian targeting"}


def aggregated_layout(header: Sequence[str]) -> str | None:
    """'acled-aggregated', 'hdx-monthly' or None for the file's (any-case) column names."""
    names = {name.strip().lower() for name in header}
    if set(_ACLED_COLUMNS) <= names:
        return "acled-aggregated"
    if set(_HDX_COLUMNS) <= names and "week" not in names:
        return "hdx-monthly"
    return None


def _hdx_event_type(path: Path) -> str:
    name = path.name.lower().replace("-", "_")
    for marker, event_type in _HDX_OTHER.items():
        if marker in name:
            return event_type
    return HDX_VIOLENCE


def _week(text: str) -> date:
    """The Saturday a week starts on: of the day/month orders a slashed date allows, the one
    that is a Saturday."""
    days = []
    for fmt in _WEEK_FORMATS:
        try:
            days.append(parse_date(text, "WEEK", (fmt,)))
        except ValueError:
            continue
    if not days:
        raise ValueError(f"WEEK is not a date in a known format: {excerpt(text.strip())}")
    return next((day for day in days if day.weekday() == SATURDAY), days[0])


def _acled_row(row: Mapping[str, str]) -> CountRow:
    week = _week(row["week"])
    if week.weekday() != SATURDAY:
        raise ValueError(f"WEEK {week.isoformat()} is a {week:%A}; ACLED weeks start on Saturday")
    return CountRow(
        country=country_code(row["country"]),
        period_start=week,
        admin1=_required(row["admin1"], "ADMIN1"),
        event_type=_required(row["event_type"], "EVENT_TYPE"),
        sub_event_type=row["sub_event_type"].strip(),
        events=_count(row["events"], "EVENTS"),
        fatalities=_count(row["fatalities"], "FATALITIES"),
    )


def _hdx_row(row: Mapping[str, str], event_type: str) -> CountRow:
    year = parse_int(row["year"], "Year", minimum=1900)
    month_text = row["month"].strip()
    month = _MONTHS.get(month_text.lower())
    if month is None and month_text.isdigit() and 1 <= int(month_text) <= 12:
        month = int(month_text)
    if month is None or year is None or year > 9999:
        raise ValueError(
            f"Month {excerpt(month_text)} of Year {excerpt(row['year'].strip())} is not a month"
        )
    iso3 = row.get("iso3", "").strip()
    return CountRow(
        country=country_code(iso3 if len(iso3) == 3 else row["country"]),
        period_start=date(year, month, 1),
        admin1=_required(row["admin1"], "Admin1"),
        event_type=event_type,
        sub_event_type="",
        events=_count(row["events"], "Events"),
        fatalities=_count(row["fatalities"], "Fatalities"),
    )


def _required(value: str, name: str) -> str:
    text = text_or_none(value)
    if text is None:
        raise ValueError(f"{name} is empty")
    return text


def _count(value: str, name: str) -> int:
    number = parse_int(value, name)
    assert number is not None  # required
    return number


def read_counts(path: Path, limits: FileLimits = DEFAULT_LIMITS) -> ParsedCounts:
    """Every row of an aggregated file; bad rows become RowErrors, never exceptions."""
    with table_rows(path, limits) as rows:
        return _parse_counts(path, rows, limits)


def _parse_counts(
    path: Path, rows: Iterator[tuple[int, list[str]]], limits: FileLimits
) -> ParsedCounts:
    try:
        _, first = next(rows)
    except StopIteration:
        raise SourceFormatError("the file is empty") from None
    header = [name.strip().lower() for name in first]
    layout = aggregated_layout(header)
    if layout is None:
        raise SourceFormatError("not ACLED aggregated data or an HDX monthly admin-1 file")
    parsed = ParsedCounts(
        "acled", layout, "week" if layout == "acled-aggregated" else "month",
        errors=RowErrors(limits.kept_errors),
    )  # fmt: skip
    hdx_type = _hdx_event_type(path)
    types: set[str] = {hdx_type} if layout == "hdx-monthly" else set()
    width = len(header)
    for line, row in data_rows(rows, width):
        parsed.rows_read += 1
        if len(row) != width:
            parsed.errors.append(RowError(line, f"row has {len(row)} fields, header has {width}"))
            continue
        cells = dict(zip(header, row, strict=True))
        try:
            count = _acled_row(cells) if layout == "acled-aggregated" else _hdx_row(cells, hdx_type)
        except ValueError as exc:
            parsed.errors.append(RowError(line, str(exc)))
            continue
        future = future_date_error(count.period_start, "the period starting")
        if future is not None:
            parsed.errors.append(RowError(line, future))
            continue
        types.add(count.event_type)
        parsed.rows.append((line, count))
    if parsed.rows_read == 0:
        raise SourceFormatError("the file has a header but no rows")
    parsed.event_types = frozenset(types)
    return parsed
