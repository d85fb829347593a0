"""What each series' data covers, how old it is and who serves it: for `threatcast events
coverage`, `/v1/series`, `/readyz` and `/metrics`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Engine, func, select

from events.coverage import Coverage, series_coverage, stored_series
from events.levels import FIRST_LEVEL
from events.periods import FREQUENCIES
from events.series import Series
from events.tables import coverage_spans
from service.freshness import coverage_freshness
from training import registry


@dataclass(frozen=True)
class SeriesSummary:
    series: str
    country: str
    source: str
    freq: str
    level: str
    first_period: str
    last_period: str
    covered_until: str
    data_age_days: int
    stale: bool
    spans: dict[str, list[tuple[str, str]]]
    gaps: list[tuple[str, str]]
    champion: str | None
    served_origin: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def all_coverage(engine: Engine) -> dict[str, Coverage]:
    """Every series the store has covered periods for, by key."""
    found = {}
    for source, country in stored_series(engine):
        for freq in FREQUENCIES:
            coverage = series_coverage(engine, Series(country, source, freq))
            if coverage.periods:
                found[coverage.series.key] = coverage
    return found


def coverage_stamp(engine: Engine) -> tuple[object, ...]:
    """Changes whenever an ingest records a span: coverage is recomputed only then."""
    with engine.connect() as conn:
        return tuple(conn.execute(select(func.count(), func.max(coverage_spans.c.id))).one())


def summarize(
    coverage: Mapping[str, Coverage],
    limit_days: int,
    served: Mapping[str, tuple[str, str | None]],
) -> list[SeriesSummary]:
    """One summary per series; `served` maps a series to (champion version, served origin). A
    served series of a lower level (districts) has its regions' data, so their coverage."""
    lower = {}
    for key in served:
        series = Series.parse(key)
        if series.level != FIRST_LEVEL and series.first_level.key in coverage:
            lower[key] = coverage[series.first_level.key]
    summaries = []
    for key, cover in sorted({**coverage, **lower}.items()):
        fresh = coverage_freshness(cover, limit_days)
        champion, origin = served.get(key, (None, None))
        summaries.append(
            SeriesSummary(
                series=key,
                country=cover.series.country,
                source=cover.series.source,
                freq=cover.series.freq,
                level=Series.parse(key).level,
                first_period=cover.first or "",
                last_period=fresh.data_cutoff,
                covered_until=fresh.covered_until.isoformat(),
                data_age_days=fresh.age_days,
                stale=fresh.stale,
                spans={
                    unit: [(a.isoformat(), b.isoformat()) for a, b in spans]
                    for unit, spans in cover.spans.items()
                },
                gaps=cover.gaps(),
                champion=champion,
                served_origin=origin,
            )
        )
    return summaries


def series_summaries(engine: Engine, limit_days: int) -> list[SeriesSummary]:
    served = {mv.series: (mv.version, None) for mv in registry.champions(engine)}
    return summarize(all_coverage(engine), limit_days, served)
