"""What every source adapter shares: its contract, its errors and field parsers."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Protocol

import pycountry

from events.canonical import Event

_ISO_DATE_PREFIX = re.compile(r"^\d{4}-\d{2}-\d{2}(?:$|[ T])")


class SourceFormatError(ValueError):
    """The file as a whole cannot be read (unknown layout, empty, not text)."""

    def __init__(self, reason: str, line: int = 1) -> None:
        super().__init__(f"line {line}: {reason}")
        self.line = line
        self.reason = reason


class FileTooLarge(SourceFormatError):
    """The file is larger than a limit allows (its inflated text, rows, cells or strings)."""


@dataclass(frozen=True)
class FileLimits:
    """What one file may cost to read: its text after decompression, its rows (blank ones
    included), its cells, an Excel string table, and how many bad rows are kept to report."""

    text_bytes: int | None = 512 * 2**20
    rows: int = 1_000_000
    cells: int = 25_000_000
    shared_strings: int = 250_000
    kept_errors: int = 100


DEFAULT_LIMITS = FileLimits()
_UNPRINTABLE = re.compile(r"[^\x20-\x7e]")


def excerpt(value: object, limit: int = 40) -> str:
    """A short, printable form of file content for an error message: never more than `limit`
    characters, control and non-ASCII characters escaped."""
    text = _UNPRINTABLE.sub("?", str(value))
    return repr(text if len(text) <= limit else text[:limit] + "...")


def future_limit() -> date:
    """The last day a data file may name: tomorrow (UTC), for time zones ahead of ours."""
    return datetime.now(UTC).date() + timedelta(days=1)


@dataclass(frozen=True, slots=True)
class RowError:
    """A row that could not be turned into an event, with its line in the file."""

    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


class RowErrors:
    """The bad rows of a file: the first `keep` kept to report (by line), all counted."""

    def __init__(self, keep: int = DEFAULT_LIMITS.kept_errors, errors: Iterable[RowError] = ()):
        self.keep = keep
        self.count = 0
        self._kept: list[RowError] = []
        for error in errors:
            self.append(error)

    def append(self, error: RowError) -> None:
        self.count += 1
        if len(self._kept) < self.keep:
            self._kept.append(error)

    def extend(self, errors: Iterable[RowError]) -> None:
        for error in errors:
            self.append(error)

    def kept(self) -> list[RowError]:
        return sorted(self._kept, key=lambda e: e.line)

    def __iter__(self) -> Iterator[RowError]:
        return iter(self.kept())

    def __len__(self) -> int:
        return self.count

    def __bool__(self) -> bool:
        return self.count > 0

    def __eq__(self, other: object) -> bool:
        if isinstance(other, RowErrors):
            return (self.count, self.kept()) == (other.count, other.kept())
        if isinstance(other, list):
            return self.count == len(other) and self.kept() == sorted(other, key=lambda e: e.line)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]


@dataclass(slots=True)
class ParsedFile:
    """Everything read from one file: valid events with their lines, and the bad rows."""

    source: str
    events: list[tuple[int, Event]] = field(default_factory=list)
    errors: RowErrors = field(default_factory=RowErrors)
    rows_read: int = 0


class SourceAdapter(Protocol):
    """Reads one source's rows; raises ValueError with a readable reason for a bad row."""

    @property
    def name(self) -> str: ...

    @property
    def required_columns(self) -> Sequence[frozenset[str]]: ...

    def parse_row(self, row: Mapping[str, str]) -> Event: ...


def missing_columns(adapter: SourceAdapter, header: Sequence[str]) -> list[str]:
    """Columns the adapter needs that the header lacks (alternatives joined by '|')."""
    present = set(header)
    return [
        "|".join(sorted(options)) for options in adapter.required_columns if not options & present
    ]


def first_present(row: Mapping[str, str], *names: str) -> str:
    """The value of the first of `names` that the row has (layouts rename columns)."""
    for name in names:
        if name in row:
            return row[name]
    raise ValueError(f"missing column {' or '.join(names)}")


def text_or_none(value: str) -> str | None:
    value = value.strip()
    return value or None


# The store's integer columns are 32-bit (PostgreSQL INTEGER).
MAX_STORED_INT = 2**31 - 1


def parse_int(
    value: str, name: str, *, required: bool = True, minimum: int | None = 0
) -> int | None:
    """An integer field; '3.0' is accepted, '3.5', text, values below `minimum` and values the
    store cannot hold are not."""
    value = value.strip()
    if not value:
        if required:
            raise ValueError(f"{name} is empty")
        return None
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"{name} is not a number: {excerpt(value)}") from None
    if not math.isfinite(number) or number != int(number):
        raise ValueError(f"{name} is not a whole number: {excerpt(value)}")
    if minimum is not None and number < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value[:40]}")
    if abs(number) > MAX_STORED_INT:
        raise ValueError(f"{name} is too large to store: {value[:40]}")
    return int(number)


def parse_float(value: str, name: str, low: float, high: float) -> float | None:
    """A bounded float field; empty means unknown."""
    value = value.strip()
    if not value:
        return None
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"{name} is not a number: {excerpt(value)}") from None
    if not low <= number <= high:
        raise ValueError(f"{name} must be between {low} and {high}, got {value[:40]}")
    return number


def parse_coordinates(lat: str, lon: str) -> tuple[float | None, float | None]:
    latitude = parse_float(lat, "latitude", -90.0, 90.0)
    longitude = parse_float(lon, "longitude", -180.0, 180.0)
    if (latitude is None) != (longitude is None):
        raise ValueError("latitude and longitude must both be given or both be empty")
    return latitude, longitude


def parse_date(value: str, name: str, formats: Sequence[str]) -> date:
    """A date in one of `formats`; trailing time-of-day parts are ignored."""
    value = value.strip()
    if not value:
        raise ValueError(f"{name} is empty")
    if _ISO_DATE_PREFIX.match(value):
        # Fast path for ISO dates (most files); strptime is slow on large files.
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            raise ValueError(f"{name} is not a valid date: {excerpt(value)}") from None
    for fmt in formats:
        try:
            return datetime.strptime(value, fmt).date()
        except ValueError:
            continue
    raise ValueError(f"{name} is not a date in a known format: {excerpt(value)}")


def parse_choice(value: str, name: str, allowed: range) -> int:
    number = parse_int(value, name, minimum=None)
    assert number is not None  # required=True
    if number not in allowed:
        raise ValueError(
            f"{name} must be between {allowed.start} and {allowed.stop - 1}, got {number}"
        )
    return number


@lru_cache(maxsize=512)
def country_code(name: str = "", numeric: str = "") -> str:
    """ISO 3166-1 alpha-3 for a country name ('Nepal', 'Yemen (North Yemen)') or numeric code."""
    if numeric.strip():
        found = pycountry.countries.get(numeric=numeric.strip().zfill(3))
        if found is not None:
            return str(found.alpha_3)
    cleaned = name.split("(")[0].strip()
    if cleaned:
        try:
            return str(pycountry.countries.lookup(cleaned).alpha_3)
        except LookupError:
            pass
    raise ValueError(f"unknown country: {excerpt(name or numeric)}")
