"""A forecast series: one country x one source family x one frequency x one level of units
(provinces, or their districts). Sources are never added together: each series' panel is built
from its own source's records alone."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from enum import StrEnum

from events.bundled import bundle
from events.levels import FIRST_LEVEL
from events.periods import Frequency, check_frequency

SOURCE_FAMILIES = ("ucdp", "acled", "gtd")
# The source family a series is built from, and what a data file may be read as (or detected).
SeriesSource = StrEnum("SeriesSource", {name: name for name in SOURCE_FAMILIES})  # type: ignore[misc]
FileSource = StrEnum("FileSource", {"auto": "auto", **{name: name for name in SOURCE_FAMILIES}})  # type: ignore[misc]
DETECT_SOURCE = FileSource("auto")
_KEY = re.compile(r"([a-z]{3})-([a-z]+)-([a-z]+)(?:-(adm[2-9]))?", re.ASCII)


@dataclass(frozen=True, order=True)
class Series:
    country: str
    source: str
    freq: Frequency
    level: str = FIRST_LEVEL

    def __post_init__(self) -> None:
        if self.source not in SOURCE_FAMILIES:
            raise ValueError(
                f"unknown source {self.source!r}; use one of {', '.join(SOURCE_FAMILIES)}"
            )
        if not re.fullmatch(r"[A-Z]{3}", self.country):
            raise ValueError(f"country must be an ISO 3166-1 alpha-3 code, not {self.country!r}")
        object.__setattr__(self, "freq", check_frequency(self.freq))
        if not re.fullmatch(r"adm[1-9]", self.level):
            raise ValueError(f"level must be adm1, adm2, ...; not {self.level!r}")

    @property
    def key(self) -> str:
        """'iso-ucdp-month' (the country's ISO 3166-1 alpha-3 code in lower case), with the level
        after it below the first ('iso-ucdp-month-adm2'): the name the registry, API, metrics
        and dashboard use."""
        first = f"{self.country.lower()}-{self.source}-{self.freq}"
        return first if self.level == FIRST_LEVEL else f"{first}-{self.level}"

    @property
    def first_level(self) -> Series:
        """The series of the first-level units (provinces) this one's units lie in."""
        return Series(self.country, self.source, self.freq)

    def __str__(self) -> str:
        return self.key

    @classmethod
    def parse(cls, key: str) -> Series:
        """A series from its key; ValueError says what a key looks like."""
        match = _KEY.fullmatch(key.strip().lower()) if len(key) <= 40 else None
        if match is None:
            raise ValueError(
                f"{key[:40]!r} is not a series; expected COUNTRY-SOURCE-FREQ[-LEVEL], "
                f"e.g. {default_series()} or {default_series()}-adm2"
            )
        return cls(match[1].upper(), match[2], check_frequency(match[3]), match[4] or FIRST_LEVEL)


def default_series() -> str:
    """The series shown when none is asked for, as the bundled data declare it."""
    return bundle().default_series


def series_of(country: str, source: str, freq: str) -> Series:
    return Series(country.upper(), source, check_frequency(freq))


def choose_series(
    default: str,
    series: str | None = None,
    source: str | None = None,
    freq: str | None = None,
    level: str | None = None,
) -> Series:
    """The series asked for: `series` (at `level`, if given), or the default series with
    `source`, `freq` and `level` replaced."""
    base = Series.parse(series if series is not None else default)
    if series is not None:
        return base if level is None else replace(base, level=level)
    return Series(
        base.country,
        source or base.source,
        check_frequency(freq or base.freq),
        level or base.level,
    )
