"""The forecast query: declared once, parsed once per distinct query string, documented from
the same declaration.

Dashboards poll the same few URLs: their parsed form is kept by raw query text, so a poll costs
a dictionary lookup, not FastAPI's parameter machinery.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from events.actors import GROUP_KEY
from events.periods import FREQUENCIES, cadence
from events.series import SOURCE_FAMILIES, Series, choose_series
from service.cache import BoundedCache
from service.errors import ApiError

MAX_ASKED = 20
MAX_COUNT = 100_000
MAX_LIST_TEXT = 200
_WHOLE = re.compile(r"-?[0-9]{1,9}")


@dataclass(frozen=True)
class Asked:
    """Quantile levels and counts a request asks the laws for, and an actor group."""

    levels: tuple[float, ...] = ()
    counts: tuple[int, ...] = ()
    fatality_counts: tuple[int, ...] = ()
    actor: str | None = None

    @cached_property  # asked on every request of a cached query
    def key(self) -> str:
        """The same for every spelling of one question (order, repeats, 0.50 or 0.5)."""
        return (
            f"{sorted(set(self.levels))}-{sorted(set(self.counts))}-"
            f"{sorted(set(self.fatality_counts))}-{self.actor}"
        )

    @property
    def asks_count_law(self) -> bool:
        return bool(self.levels or self.counts)


@dataclass(frozen=True)
class ForecastQuery:
    """Which forecasts (series, region, horizon) and what to ask of each."""

    series: Series
    region: str | None = None
    horizon: int | None = None
    asked: Asked = Asked()

    @cached_property
    def key(self) -> str:
        return f"{self.series.key}-{self.region}-{self.horizon}-{self.asked.key}"


def _levels(text: str) -> tuple[float, ...]:
    """'0.05,0.25,0.75' as quantile levels strictly between 0 and 1."""
    try:
        levels = [float(part) for part in _parts(text, "quantiles")]
    except ValueError:
        raise ValueError(
            f"quantiles must be numbers between 0 and 1, like 0.05,0.95; got {text[:40]!r}"
        ) from None
    if not levels or len(levels) > MAX_ASKED or not all(0.0 < q < 1.0 for q in levels):
        raise ValueError(f"quantiles must be 1 to {MAX_ASKED} numbers strictly between 0 and 1")
    return tuple(levels)


def _counts(name: str) -> Callable[[str], tuple[int, ...]]:
    def parse(text: str) -> tuple[int, ...]:
        """'1,5,10' as counts to give exceedance probabilities for."""
        try:
            counts = [int(part) for part in _parts(text, name)]
        except ValueError:
            raise ValueError(
                f"{name} must be whole counts, like 1,5,10; got {text[:40]!r}"
            ) from None
        if not counts or len(counts) > MAX_ASKED or not all(0 <= k <= MAX_COUNT for k in counts):
            raise ValueError(f"{name} must be 1 to {MAX_ASKED} counts from 0 to {MAX_COUNT}")
        return tuple(counts)

    return parse


def _parts(text: str, name: str) -> list[str]:
    if len(text) > MAX_LIST_TEXT:
        raise ValueError(f"{name} is longer than {MAX_LIST_TEXT} characters")
    return [part for part in text.split(",") if part.strip()]


def _actor(text: str) -> str:
    if not GROUP_KEY.fullmatch(text):
        raise ApiError(
            422, f"{text[:20]!r} is not an actor group key (lower-case letters, digits and _)"
        )
    return text


def _horizon(text: str) -> int:
    if not _WHOLE.fullmatch(text):
        raise ValueError(f"horizon must be a whole number, not {text[:20]!r}")
    return int(text)


@dataclass(frozen=True)
class Parameter:
    """One query parameter: its OpenAPI description and how its text is read."""

    name: str
    description: str
    schema: dict[str, Any]
    parse: Callable[[str], Any] | None = None

    def openapi(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "in": "query",
            "required": False,
            "description": self.description,
            "schema": self.schema,
        }


_LIST = {"type": "string", "maxLength": MAX_LIST_TEXT}
PARAMETERS = (
    Parameter("region", "ISO 3166-2 code, e.g. AF-KNR.", {"type": "string"}),
    Parameter("horizon", "Periods ahead.", {"type": "integer"}, _horizon),
    Parameter(
        "quantiles",
        "Count quantiles to answer from the count law, e.g. 0.05,0.25,0.75,0.95.",
        _LIST,
        _levels,
    ),
    Parameter(
        "exceedance",
        "Counts k to give P(events >= k) for, e.g. 1,5,10.",
        _LIST,
        _counts("exceedance"),
    ),
    Parameter(
        "actor",
        "An actor group the series' country tracks (sources that name actors), e.g. iskp: "
        "each row gains `actor` with the group's probability, count and interval.",
        {"type": "string", "pattern": f"^{GROUP_KEY.pattern}$"},
        _actor,
    ),
    Parameter(
        "fatality_exceedance",
        "Fatality counts k to give P(fatalities >= k) for, e.g. 10,25,100.",
        _LIST,
        _counts("fatality_exceedance"),
    ),
    Parameter(
        "series",
        "The series, COUNTRY-SOURCE-FREQ (e.g. afg-acled-month); default: the configured one "
        "(THREATCAST_DEFAULT_SERIES).",
        {"type": "string"},
    ),
    Parameter(
        "level",
        "The units: adm1 (provinces, the default) or adm2 (districts and each province's "
        "unplaced remainder; with region a province code, that province's).",
        {"type": "string", "pattern": "^adm[1-9]$"},
    ),
    Parameter(
        "source",
        "The source family, instead of series.",
        {"type": "string", "enum": list(SOURCE_FAMILIES)},
    ),
    Parameter(
        "freq",
        "Monthly or weekly forecasts, instead of series.",
        {"type": "string", "enum": list(FREQUENCIES)},
    ),
)


def openapi_parameters(*, without: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    return [p.openapi() for p in PARAMETERS if p.name not in without]


def chosen_series(
    default_series: str,
    series: str | None,
    source: str | None,
    freq: str | None,
    level: str | None = None,
) -> Series:
    """The series a request asks for: `series`, or the default series with `source`, `freq`
    and `level` replaced; 422 names what is wrong."""
    try:
        return choose_series(default_series, series, source, freq, level)
    except ValueError as exc:
        raise ApiError(422, str(exc)) from None


def parse_query(
    query: Mapping[str, str], default_series: str, region: str | None = None
) -> ForecastQuery:
    """The query of `query` (a request's parameters); 422 says what is wrong. `region`, from
    the path, replaces the parameter."""
    values: dict[str, Any] = {}
    for parameter in PARAMETERS:
        name = parameter.name
        text = query.get(name)
        if text is None:
            continue
        try:
            values[name] = parameter.parse(text) if parameter.parse is not None else text
        except ValueError as exc:
            raise ApiError(422, str(exc)) from None
    series = chosen_series(
        default_series,
        values.get("series"),
        values.get("source"),
        values.get("freq"),
        values.get("level"),
    )
    horizon = values.get("horizon")
    limit = cadence(series.freq).max_horizon
    if horizon is not None and not 1 <= horizon <= limit:
        raise ApiError(
            422, f"horizon must be between 1 and {limit} for freq={series.freq}; got {horizon}"
        )
    asked = Asked(
        values.get("quantiles", ()),
        values.get("exceedance", ()),
        values.get("fatality_exceedance", ()),
        values.get("actor"),
    )
    return ForecastQuery(series, region or values.get("region"), horizon, asked)


# Parsed queries by their raw text: a dashboard's poll is parsed once, not on every request.
_PARSED: BoundedCache[ForecastQuery] = BoundedCache(1024)


def cached_query(
    raw: bytes, query: Mapping[str, str], default_series: str, region: str | None = None
) -> ForecastQuery:
    key = (raw, default_series, region)
    parsed = _PARSED.get(key)
    if parsed is None:
        parsed = _PARSED.put(key, parse_query(query, default_series, region))
    return parsed
