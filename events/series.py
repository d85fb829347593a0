"""A forecast series: one country x one source family x one frequency. Sources are never added
together: each series' panel is built from its own source's records alone."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from events.bundled import bundle
from events.periods import Frequency, check_frequency

SOURCE_FAMILIES = ("ucdp", "acled", "gtd")
# The source family a series is built from, and what a data file may be read as (or detected).
SeriesSource = StrEnum("SeriesSource", {name: name for name in SOURCE_FAMILIES})  # type: ignore[misc]
FileSource = StrEnum("FileSource", {"auto": "auto", **{name: name for name in SOURCE_FAMILIES}})  # type: ignore[misc]
DETECT_SOURCE = FileSource("auto")
_KEY = re.compile(r"([a-z]{3})-([a-z]+)-([a-z]+)", re.ASCII)


@dataclass(frozen=True, order=True)
class Series:
    country: str
    source: str
    freq: Frequency

    def __post_init__(self) -> None:
        if self.source not in SOURCE_FAMILIES:
            raise ValueError(
                f"unknown source {self.source!r}; use one of {', '.join(SOURCE_FAMILIES)}"
            )
        if not re.fullmatch(r"[A-Z]{3}", self.country):
            raise ValueError(f"country must be an ISO 3166-1 alpha-3 code, not {self.country!r}")
        object.__setattr__(self, "freq", check_frequency(self.freq))

    @property
    def key(self) -> str:
        """'iso-ucdp-month' (the country's ISO 3166-1 alpha-3 code in lower case): the name the
        registry, API, metrics and dashboard use."""
        return f"{self.country.lower()}-{self.source}-{self.freq}"

    def __str__(self) -> str:
        return self.key

    @classmethod
    def parse(cls, key: str) -> Series:
        """A series from its key; ValueError says what a key looks like."""
        match = _KEY.fullmatch(key.strip().lower()) if len(key) <= 40 else None
        if match is None:
            raise ValueError(
                f"{key[:40]!r} is not a series; expected COUNTRY-SOURCE-FREQ, "
                f"e.g. {default_series()}"
            )
        return cls(match[1].upper(), match[2], check_frequency(match[3]))


def default_series() -> str:
    """The series shown when none is asked for, as the bundled data declare it."""
    return bundle().default_series


def series_of(country: str, source: str, freq: str) -> Series:
    return Series(country.upper(), source, check_frequency(freq))


def choose_series(
    default: str, series: str | None = None, source: str | None = None, freq: str | None = None
) -> Series:
    """The series asked for: `series`, or the default series with `source` and `freq` replaced."""
    if series is not None:
        return Series.parse(series)
    base = Series.parse(default)
    return Series(base.country, source or base.source, check_frequency(freq or base.freq))
