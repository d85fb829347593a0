"""Issuing forecasts: the one step that turns a verified model version into served forecasts.

Promotion, rollback, `threatcast forecast`, the retraining gate and bootstrap all issue through
here: verify the artifact and forecast outside the lock, then in one write transaction change
the registry (for a promotion or rollback), store the issued rows and tell the installation's
listener (alert evaluation) about a champion's issue. Web workers only read what is stored.
"""

from __future__ import annotations

import functools
import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
from sqlalchemy import (
    JSON,
    Column,
    Connection,
    DateTime,
    Engine,
    Float,
    ForeignKey,
    Integer,
    String,
    Table,
    UniqueConstraint,
    delete,
    func,
    insert,
    select,
)

from events.gaps import check_origins, last_complete_origin
from events.panel import build_panel
from events.series import DEFAULT_SERIES, Series
from models.base import FATALITY_COLUMNS, FORECAST_KEYS, FORECAST_VALUES
from models.catalog import make_forecaster
from models.direct import DirectForecaster
from store.db import as_utc, write_transaction
from store.metadata import metadata
from training import changes, registry
from training.artifacts import ArtifactError, load_artifact

log = logging.getLogger(__name__)

issued_forecasts = Table(
    "issued_forecasts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("version", String(64), ForeignKey("model_versions.version"), nullable=False),
    Column("series", String(40), nullable=False),
    Column("freq", String(8), nullable=False),
    Column("region", String(10), nullable=False),
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
    # The whole count law: {"pmf": [P(0), P(1), ...], "tail": P(count >= len(pmf))}.
    Column("count_law", JSON, nullable=True),
    # Fatalities, from models that forecast them: the expected count, the interval and the law
    # ({"p_fatal", "p_severe", "location", "scale", "threshold"}: models.fatalities).
    *(Column(name, Float, nullable=True) for name in FATALITY_COLUMNS),
    Column("fatality_law", JSON, nullable=True),
    # Per tracked actor group, where the source names actors: {group: {"share", "p_event",
    # "expected_events"}} (models.actors; the API thins the count law by the share).
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
    Column("region", String(10), nullable=False),
    Column("origin", String(10), nullable=False),
    Column("horizon", Integer, nullable=False),
    Column("period", String(10), nullable=False),
    *(Column(name, Float, nullable=False) for name in FORECAST_VALUES),
    Column("count_law", JSON, nullable=True),
    UniqueConstraint(
        "version", "origin", "reference", "region", "horizon", name="uq_reference_forecasts_row"
    ),
)
REFERENCE_MODELS = ("climatology", "recent")
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
class Issue:
    """One version's forecasts issued at one origin."""

    version: str
    series: str
    freq: str
    model_as_of: str
    origin: str
    issued_at: datetime
    rows: tuple[dict[str, Any], ...]
    # The model's severe-period threshold (fatalities), known when the issue is made.
    severe_threshold: int | None = None

    @functools.cached_property
    def etag(self) -> str:  # asked on every poll: hashed once
        return hashlib.sha256(
            f"{self.version}|{self.origin}|{self.issued_at.isoformat()}".encode()
        ).hexdigest()[:32]


class IssueListener(Protocol):
    """Hears of each champion issue inside the transaction that stores it."""

    def __call__(self, conn: Connection, issue: Issue) -> None: ...


@dataclass(frozen=True)
class Installation:
    """What issuing and jobs need from the installation: where artifacts live, the key that
    signs them (and older keys that still verify), and who hears of each champion issue."""

    artifact_root: Path
    secret: str
    on_champion_issue: IssueListener | None = None
    previous_secrets: tuple[str, ...] = ()

    @property
    def verifying_keys(self) -> tuple[str, ...]:
        return (self.secret, *self.previous_secrets)


@dataclass(frozen=True)
class ServingModel:
    record: registry.ModelVersion
    forecaster: DirectForecaster
    manifest: dict[str, Any]


@dataclass(frozen=True)
class _Prepared:
    model: ServingModel
    table: pd.DataFrame
    # The reference methods' forecasts at the same origin, by name.
    references: dict[str, pd.DataFrame]


def load_version(
    engine: Engine,
    installation: Installation,
    *,
    version: str | None = None,
    series: str = DEFAULT_SERIES,
    allow_version_mismatch: bool = False,
) -> ServingModel:
    """The named version, or the series' champion, verified before it is unpickled."""
    if version is not None:
        record = registry.get(engine, version)
    else:
        champion = registry.champion(engine, series)
        if champion is None:
            raise registry.RegistryError(
                f"there is no {series} champion yet; train one and `threatcast models promote` it"
            )
        record = champion
    model, manifest = load_artifact(
        installation.artifact_root / record.artifact_dir,
        record.sha256,
        record.manifest_hmac,
        installation.verifying_keys,
        allow_version_mismatch=allow_version_mismatch,
    )
    if manifest.get("version") != record.version:
        raise ArtifactError(
            f"the artifact in {record.artifact_dir} was written for version "
            f"{manifest.get('version')!r}, not {record.version}; refusing it"
        )
    if not isinstance(model, DirectForecaster):
        raise ArtifactError(f"{record.version} does not hold a ThreatCast forecaster")
    return ServingModel(record, model, manifest)


def _previous_issues(
    engine: Engine, installation: Installation, record: registry.ModelVersion, origin: str
) -> dict[int, dict[str, changes.Previous]]:
    """horizon -> region -> the newest earlier issue of the series for them, with its model
    (issues whose model no longer verifies are left out)."""
    c = issued_forecasts.c
    with engine.connect() as conn:
        rows = conn.execute(
            select(c.version, c.origin, c.region, c.horizon, c.p_event, c.issued_at)
            .where(c.series == record.series, c.origin <= origin)
            .where(~((c.version == record.version) & (c.origin == origin)))
            .order_by(c.origin, c.issued_at)
        ).all()
    newest = {(r.horizon, r.region): r for r in rows}  # the latest origin, then the latest issue
    models: dict[str, DirectForecaster | None] = {}
    found: dict[int, dict[str, changes.Previous]] = {}
    for (horizon, region), row in newest.items():
        if row.version not in models:
            try:
                models[row.version] = load_version(
                    engine, installation, version=row.version
                ).forecaster
            except (ArtifactError, registry.RegistryError, OSError):
                models[row.version] = None
        model = models[row.version]
        if model is not None:
            found.setdefault(horizon, {})[region] = changes.Previous(
                row.version, row.origin, float(row.p_event), model
            )
    return found


def _prepare(
    engine: Engine,
    model: ServingModel,
    horizons: Sequence[int] | None,
    origin: str | None,
    installation: Installation | None = None,
) -> _Prepared:
    """Forecast from the newest period whose recent window the data covers (or `origin`)."""
    record, forecaster = model.record, model.forecaster
    panel = build_panel(engine, Series.parse(record.series))
    if origin is None:
        origin = last_complete_origin(panel, forecaster.spec.freq)
    else:
        check_origins(panel, [origin], forecaster.spec.freq)
    if origin < record.as_of:
        raise ValueError(
            f"origin {origin} is before {record.version}'s data cutoff {record.as_of}: "
            "the model has seen what followed it"
        )
    chosen = tuple(horizons) if horizons else forecaster.horizons
    table = forecaster.predict(panel, origin, chosen)
    explained: dict[tuple[int, str], dict[str, Any]] = {}
    if installation is not None:
        cache = changes.FeatureCache(panel)
        for horizon, previous in _previous_issues(engine, installation, record, origin).items():
            if horizon in chosen:
                part = table[table["horizon"] == horizon]
                found = changes.explain(forecaster, cache, origin, horizon, part, previous)
                explained.update({(horizon, region): change for region, change in found.items()})
    found_changes = np.empty(len(table), dtype=object)
    for i, key in enumerate(zip(table["horizon"], table["region"], strict=True)):
        found_changes[i] = explained.get(key)
    table["change"] = found_changes
    history = panel[panel["period"] <= origin]
    references = {
        name: make_forecaster(name, forecaster.spec, chosen)
        .fit(history)
        .predict(history, origin, chosen)
        for name in REFERENCE_MODELS
    }
    return _Prepared(model, table, references)


def _store(conn: Connection, installation: Installation, prepared: _Prepared) -> Issue:
    """Write the rows (replacing an earlier issue of the same version and origin) and tell the
    listener when the version is its frequency's champion."""
    record, table = prepared.model.record, prepared.table
    origin = str(table["origin"].iloc[0])
    issued_at = datetime.now(UTC)
    rows = tuple(
        sorted(
            ({c: _plain(row[c]) for c in ROW_COLUMNS} for row in table.to_dict(orient="records")),
            key=lambda row: (row["region"], row["horizon"]),
        )
    )
    conn.execute(
        delete(issued_forecasts).where(
            issued_forecasts.c.version == record.version, issued_forecasts.c.origin == origin
        )
    )
    severe_threshold = prepared.model.forecaster.spec.severe_threshold
    conn.execute(
        insert(issued_forecasts),
        [
            {
                **row,
                "version": record.version,
                "series": record.series,
                "freq": record.freq,
                "issued_at": issued_at,
                "severe_threshold": severe_threshold,
            }
            for row in rows
        ],
    )
    _store_references(conn, record, origin, prepared.references)
    issue = Issue(
        record.version,
        record.series,
        record.freq,
        record.as_of,
        origin,
        issued_at,
        rows,
        prepared.model.forecaster.spec.severe_threshold,
    )
    champion = registry.champion_in(conn, record.series)
    listener = installation.on_champion_issue
    if listener is not None and champion is not None and champion.version == record.version:
        listener(conn, issue)
    log.info("issued %d forecasts from %s at origin %s", len(rows), record.version, origin)
    return issue


def _store_references(
    conn: Connection,
    record: registry.ModelVersion,
    origin: str,
    references: dict[str, pd.DataFrame],
) -> None:
    conn.execute(
        delete(reference_forecasts).where(
            reference_forecasts.c.version == record.version, reference_forecasts.c.origin == origin
        )
    )
    for name, table in references.items():
        conn.execute(
            insert(reference_forecasts),
            [
                {**{c: _plain(row[c]) for c in REFERENCE_COLUMNS}, "version": record.version,
                 "series": record.series, "reference": name}
                for row in table.to_dict(orient="records")
            ],
        )  # fmt: skip


def _plain(value: Any) -> Any:
    """numpy scalars as Python numbers, for the database drivers and JSON; NaN (a model that
    does not forecast a value) as NULL."""
    value = value.item() if hasattr(value, "item") else value
    return None if isinstance(value, float) and np.isnan(value) else value


def issue(
    engine: Engine,
    installation: Installation,
    *,
    version: str | None = None,
    series: str = DEFAULT_SERIES,
    horizons: Sequence[int] | None = None,
    origin: str | None = None,
    allow_version_mismatch: bool = False,
) -> tuple[ServingModel, pd.DataFrame]:
    """Issue forecasts of `version` (default: the series' champion) and store them."""
    model = load_version(
        engine,
        installation,
        version=version,
        series=series,
        allow_version_mismatch=allow_version_mismatch,
    )
    prepared = _prepare(engine, model, horizons, origin, installation)
    with write_transaction(engine) as conn:
        _store(conn, installation, prepared)
    return model, prepared.table


def promote(
    engine: Engine,
    installation: Installation,
    version: str,
    actor: str,
    reason: str,
    replaces: str | None = registry.ANY_CHAMPION,
) -> registry.ModelVersion:
    """Make `version` its series' champion and issue its forecasts, in one transaction: a
    version whose artifact does not verify or cannot forecast is not promoted, nor one judged
    against a champion (`replaces`) that has changed since (ChampionChanged)."""
    record = registry.get(engine, version)
    if record.status == "champion":
        raise registry.RegistryError(f"{version} is already the {record.series} champion")
    prepared = _prepare(
        engine, load_version(engine, installation, version=version), None, None, installation
    )
    with write_transaction(engine) as conn:
        promoted = registry.promote(conn, version, actor, reason, replaces)
        _store(conn, installation, prepared)
    return promoted


def rollback(
    engine: Engine, installation: Installation, series: str, actor: str, reason: str
) -> registry.ModelVersion:
    """Return to the previous champion and issue its forecasts from the newest data."""
    with engine.connect() as conn:
        _, previous = registry.rollback_target(conn, series)
    model = load_version(engine, installation, version=previous.version)
    prepared = _prepare(engine, model, None, None, installation)
    with write_transaction(engine) as conn:
        restored = registry.rollback(conn, series, previous.version, actor, reason)
        _store(conn, installation, prepared)
    return restored


def latest_issue_key(engine: Engine, version: str) -> tuple[str, datetime] | None:
    """(origin, issued_at) of a version's newest issue."""
    with engine.connect() as conn:
        latest = conn.execute(
            select(issued_forecasts.c.origin, func.max(issued_forecasts.c.issued_at))
            .where(issued_forecasts.c.version == version)
            .group_by(issued_forecasts.c.origin)
            .order_by(issued_forecasts.c.origin.desc())
            .limit(1)
        ).first()
    if latest is None:
        return None
    issued_at = as_utc(latest[1])
    assert issued_at is not None  # the column is not nullable
    return str(latest[0]), issued_at


def load_issue(
    engine: Engine, record: registry.ModelVersion, origin: str, issued_at: datetime
) -> Issue:
    with engine.connect() as conn:
        rows = conn.execute(
            select(*(issued_forecasts.c[c] for c in ROW_COLUMNS))
            .where(
                issued_forecasts.c.version == record.version, issued_forecasts.c.origin == origin
            )
            .order_by(issued_forecasts.c.region, issued_forecasts.c.horizon)
        ).mappings()
        listed = tuple(dict(r) for r in rows)
    return Issue(
        record.version, record.series, record.freq, record.as_of, origin, issued_at, listed
    )


def latest_issue(engine: Engine, record: registry.ModelVersion) -> Issue | None:
    """A version's newest issued forecasts, or None when it has issued none."""
    key = latest_issue_key(engine, record.version)
    return load_issue(engine, record, *key) if key is not None else None
