"""Issued forecasts as stored and read: the tables, the typed row, and the read side.

Web workers import this module only (training.issuing writes): it loads no model library, and
what it hands the routes, alerts and metrics is an `Issue` of `IssuedRow`s, never a dict.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Engine,
    Float,
    ForeignKey,
    Integer,
    String,
    Table,
    UniqueConstraint,
    func,
    select,
)

from models.columns import FATALITY_COLUMNS, FORECAST_KEYS, FORECAST_VALUES
from models.laws import CountLaw, FatalityLaw
from store.db import as_utc, fetch_page
from store.metadata import metadata
from training import registry

issued_forecasts = Table(
    "issued_forecasts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("version", String(64), ForeignKey("model_versions.version"), nullable=False),
    Column("series", String(40), nullable=False),
    Column("freq", String(8), nullable=False),
    Column("region", String(40), nullable=False),
    Column("origin", String(10), nullable=False),
    Column("horizon", Integer, nullable=False),
    Column("period", String(10), nullable=False, index=True),
    *(Column(name, Float, nullable=False) for name in FORECAST_VALUES),
    # [{"feature", "label", "contribution"}, ...], largest contribution first.
    Column("drivers", JSON, nullable=False),
    Column("issued_at", DateTime(timezone=True), nullable=False),
    # The issuing model's severe-period threshold (fatalities); unknown for older issues.
    Column("severe_threshold", Integer, nullable=True),
    # Why p_event moved since the previous issue for the region and horizon (training.changes).
    Column("change", JSON, nullable=True),
    # The whole count law (models.laws.CountLaw).
    Column("count_law", JSON, nullable=True),
    # Fatalities, from models that forecast them: the expected count, the interval and the law
    # (models.laws.FatalityLaw).
    *(Column(name, Float, nullable=True) for name in FATALITY_COLUMNS),
    Column("fatality_law", JSON, nullable=True),
    # Per tracked actor group, where the source names actors (ActorPart).
    Column("actors", JSON, nullable=True),
    UniqueConstraint("version", "region", "origin", "horizon", name="uq_issued_forecasts_row"),
)

# What the reference methods forecast at the same issue, from the same data: a track record
# compares with them as they stood then, never recomputed later.
reference_forecasts = Table(
    "reference_forecasts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("version", String(64), ForeignKey("model_versions.version"), nullable=False),
    Column("series", String(40), nullable=False),
    Column("reference", String(32), nullable=False),
    Column("region", String(40), nullable=False),
    Column("origin", String(10), nullable=False),
    Column("horizon", Integer, nullable=False),
    Column("period", String(10), nullable=False),
    *(Column(name, Float, nullable=False) for name in FORECAST_VALUES),
    Column("count_law", JSON, nullable=True),
    UniqueConstraint(
        "version", "origin", "reference", "region", "horizon", name="uq_reference_forecasts_row"
    ),
)
REFERENCE_COLUMNS = (*FORECAST_KEYS, *FORECAST_VALUES, "count_law")
ROW_COLUMNS = (
    *FORECAST_KEYS,
    *FORECAST_VALUES,
    "drivers",
    "change",
    "count_law",
    *FATALITY_COLUMNS,
    "fatality_law",
    "actors",
)


@dataclass(frozen=True)
class Driver:
    """One input's signed contribution to a forecast (on the log-mean scale)."""

    feature: str
    label: str
    contribution: float


@dataclass(frozen=True)
class Contribution:
    """One step's part of a change in p_event (training.changes)."""

    source: Literal["revision", "model", "data", "calendar"]
    feature: str | None
    label: str
    delta: float


@dataclass(frozen=True)
class Change:
    """Why p_event moved since the previous issue; the contributions add up to the delta."""

    previous_origin: str
    previous_version: str
    previous_p_event: float
    delta_p_event: float
    contributions: tuple[Contribution, ...]
    facts: tuple[str, ...]

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> Change:
        return cls(
            str(value["previous_origin"]),
            str(value["previous_version"]),
            float(value["previous_p_event"]),
            float(value["delta_p_event"]),
            tuple(Contribution(**part) for part in value["contributions"]),
            tuple(str(fact) for fact in value["facts"]),
        )


@dataclass(frozen=True)
class ActorPart:
    """One actor group's part of a forecast (models.actors): its share of the events, the
    probability of at least one of its events, and its expected count."""

    share: float
    p_event: float
    expected_events: float


@dataclass(frozen=True, eq=False)
class IssuedRow:
    """One region and horizon of an issue, as stored."""

    region: str
    origin: str
    horizon: int
    period: str
    p_event: float
    expected_events: float
    events_p10: float
    events_p50: float
    events_p90: float
    p_severe: float
    drivers: tuple[Driver, ...]
    change: Change | None
    count_law: CountLaw | None
    expected_fatalities: float | None
    fatalities_p10: float | None
    fatalities_p50: float | None
    fatalities_p90: float | None
    fatality_law: FatalityLaw | None
    # Empty where the source names no actors or the model predates per-actor forecasts.
    actors: Mapping[str, ActorPart]

    @classmethod
    def from_db(cls, row: Mapping[Any, Any]) -> IssuedRow:
        """From a row of issued_forecasts (or the dict issuing stores)."""
        change, counts, fatal = row["change"], row["count_law"], row["fatality_law"]
        return cls(
            region=str(row["region"]),
            origin=str(row["origin"]),
            horizon=int(row["horizon"]),
            period=str(row["period"]),
            p_event=float(row["p_event"]),
            expected_events=float(row["expected_events"]),
            events_p10=float(row["events_p10"]),
            events_p50=float(row["events_p50"]),
            events_p90=float(row["events_p90"]),
            p_severe=float(row["p_severe"]),
            drivers=tuple(Driver(**driver) for driver in row["drivers"]),
            change=Change.from_json(change) if change is not None else None,
            count_law=CountLaw.from_json(counts) if counts is not None else None,
            expected_fatalities=_maybe_float(row["expected_fatalities"]),
            fatalities_p10=_maybe_float(row["fatalities_p10"]),
            fatalities_p50=_maybe_float(row["fatalities_p50"]),
            fatalities_p90=_maybe_float(row["fatalities_p90"]),
            fatality_law=FatalityLaw.from_json(fatal) if fatal is not None else None,
            actors={group: ActorPart(**part) for group, part in (row["actors"] or {}).items()},
        )


def _maybe_float(value: Any) -> float | None:
    return None if value is None else float(value)


@dataclass(frozen=True)
class Issue:
    """One version's forecasts issued at one origin, ordered by region then horizon."""

    version: str
    series: str
    freq: str
    model_as_of: str
    origin: str
    issued_at: datetime
    rows: tuple[IssuedRow, ...]
    # The model's severe-period threshold (fatalities), known when the issue is made.
    severe_threshold: int | None = None

    @functools.cached_property
    def etag(self) -> str:  # asked on every poll: hashed once
        return hashlib.sha256(
            f"{self.version}|{self.origin}|{self.issued_at.isoformat()}".encode()
        ).hexdigest()[:32]


def latest_issue_key(
    engine: Engine, version: str, origin: str | None = None
) -> tuple[str, datetime] | None:
    """(origin, issued_at) of a version's newest issue (at `origin`, if given)."""
    c = issued_forecasts.c
    query = select(c.origin, func.max(c.issued_at)).where(c.version == version)
    if origin is not None:
        query = query.where(c.origin == origin)
    with engine.connect() as conn:
        latest = conn.execute(
            query.group_by(c.origin).order_by(issued_forecasts.c.origin.desc()).limit(1)
        ).first()
    if latest is None:
        return None
    issued_at = as_utc(latest[1])
    assert issued_at is not None  # the column is not nullable
    return str(latest[0]), issued_at


def load_issue(
    engine: Engine, record: registry.ModelVersion, origin: str, issued_at: datetime
) -> Issue:
    c = issued_forecasts.c
    with engine.connect() as conn:
        rows = conn.execute(
            select(*(c[name] for name in ROW_COLUMNS))
            .where(c.version == record.version, c.origin == origin)
            .order_by(c.region, c.horizon)
        ).mappings()
        listed = tuple(IssuedRow.from_db(r) for r in rows)
    return Issue(
        record.version, record.series, record.freq, record.as_of, origin, issued_at, listed
    )


def latest_issue(
    engine: Engine, record: registry.ModelVersion, origin: str | None = None
) -> Issue | None:
    """A version's newest issued forecasts (from `origin`, if given), or None when it has
    issued none."""
    key = latest_issue_key(engine, record.version, origin)
    return load_issue(engine, record, *key) if key is not None else None


@dataclass(frozen=True)
class Archived:
    """An issued row with the version that issued it and when."""

    version: str
    issued_at: datetime
    row: IssuedRow


def archive_page(
    engine: Engine, series: str, region: str, period: str, limit: int, offset: int
) -> tuple[list[Archived], int]:
    """Everything issued for one region and target period, by origin then version, a page at a
    time, with the number of rows in all."""
    c = issued_forecasts.c
    query = (
        select(issued_forecasts)
        .where(c.region == region, c.period == period, c.series == series)
        .order_by(c.origin, c.version, c.id)
    )
    rows, total = fetch_page(engine, query, limit, offset)
    listed = []
    for r in rows:
        issued_at = as_utc(r["issued_at"])
        assert issued_at is not None  # the column is not nullable
        listed.append(Archived(str(r["version"]), issued_at, IssuedRow.from_db(r)))
    return listed, total
