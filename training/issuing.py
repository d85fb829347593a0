"""Issuing forecasts: the one step that turns a verified model version into served forecasts.

Promotion, rollback, `threatcast forecast`, the retraining gate and bootstrap all issue through
here, in workers and the CLI: verify the artifact and forecast outside the lock, then in one
write transaction change the registry (for a promotion or rollback), store the issued rows and
tell the installation's listener (alert evaluation) about a champion's issue. Web workers read
what is stored through training.issued and never import this module.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, delete, insert, select

from events.gaps import check_origins, last_complete_origin
from events.levels import FIRST_LEVEL
from events.panel import build_panel, gazetteer_of
from events.series import Series, default_series
from features import memo
from models.catalog import ISSUED_REFERENCES, make_forecaster
from models.direct import DirectForecaster
from store.db import write_transaction
from training import changes, registry
from training.artifacts import load_artifact
from training.installation import Installation
from training.issued import (
    REFERENCE_COLUMNS,
    ROW_COLUMNS,
    Issue,
    IssuedRow,
    issued_forecasts,
    latest_issue,
    reference_forecasts,
)
from training.manifest import ArtifactError, Manifest
from training.reconcile import forecast_shares, split_province

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServingModel:
    record: registry.ModelVersion
    forecaster: DirectForecaster
    manifest: Manifest


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
    series: str | None = None,
    allow_version_mismatch: bool = False,
) -> ServingModel:
    """The named version, or the series' champion (default: the default series'), verified
    before it is unpickled."""
    if version is not None:
        record = registry.get(engine, version)
    else:
        series = series or default_series()
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
    if manifest.version != record.version:
        raise ArtifactError(
            f"the artifact in {record.artifact_dir} was written for version "
            f"{manifest.version!r}, not {record.version}; refusing it"
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
    panel: pd.DataFrame | None = None,
) -> _Prepared:
    """Forecast from the newest period whose recent window the data covers (or `origin`), on
    `panel` (the series' panel, when the caller has just built it) or a panel built now."""
    with memo.sharing():  # the forecast, the explained changes and the references share features
        return _forecast(engine, model, horizons, origin, installation, panel)


def _forecast(
    engine: Engine,
    model: ServingModel,
    horizons: Sequence[int] | None,
    origin: str | None,
    installation: Installation | None,
    panel: pd.DataFrame | None,
) -> _Prepared:
    record, forecaster = model.record, model.forecaster
    series = Series.parse(record.series)
    if panel is None:
        panel = build_panel(engine, series)
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
    if series.level != FIRST_LEVEL:
        table = _split_from_provinces(engine, series, table, origin)
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
        for name in ISSUED_REFERENCES
    }
    return _Prepared(model, table, references)


def _split_from_provinces(
    engine: Engine, series: Series, table: pd.DataFrame, origin: str
) -> pd.DataFrame:
    """Unit forecasts made coherent with the province champion's issue at the same origin:
    its count law split by the unit model's shares (training.reconcile)."""
    provinces = series.first_level
    champion = registry.champion(engine, provinces.key)
    issue = latest_issue(engine, champion, origin) if champion is not None else None
    if issue is None:
        whose = f"the {provinces.key} champion" if champion else f"no {provinces.key} champion"
        raise ValueError(
            f"{series.key} forecasts are split from the {provinces.key} champion's, and "
            f"{whose} has issued none from {origin}: issue {provinces.key} at origin {origin} "
            f"first (`threatcast forecast --series {provinces.key} --origin {origin}`)"
        )
    rows = [r for r in issue.rows if r.count_law is not None]
    frame = pd.DataFrame(
        {
            "region": [r.region for r in rows],
            "origin": [r.origin for r in rows],
            "horizon": [r.horizon for r in rows],
            "count_law": [r.count_law.to_json() for r in rows if r.count_law is not None],
            "expected_events": [r.expected_events for r in rows],
            "p_severe": [r.p_severe for r in rows],
        }
    )
    missing = sorted(set(table["horizon"]) - set(frame["horizon"]))
    if missing:
        raise ValueError(f"the {provinces.key} champion's issue has no horizons {missing}")
    parents = gazetteer_of(series.country).unit_parents(series.level)
    return split_province(frame, table, parents, forecast_shares(table, parents))


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
        tuple(IssuedRow.from_db(row) for row in rows),
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
    series: str | None = None,
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
    _split_again_below(engine, installation, prepared)
    return model, prepared.table


def _split_again_below(engine: Engine, installation: Installation, prepared: _Prepared) -> None:
    """After a first-level issue, issue every unit champion below it again from the same
    origin, so the units served stay split from the forecast their province now serves. A unit
    series that cannot follow is logged; its province's issue stands."""
    provinces = Series.parse(prepared.model.record.series)
    if provinces.level != FIRST_LEVEL:
        return
    origin = str(prepared.table["origin"].iloc[0])
    for champion in registry.champions(engine):
        units = Series.parse(champion.series)
        if units.level == FIRST_LEVEL or units.first_level != provinces:
            continue
        try:
            model = load_version(engine, installation, version=champion.version)
            below = _prepare(engine, model, None, origin, installation)
            with write_transaction(engine) as conn:
                _store(conn, installation, below)
        except Exception as exc:  # the province's issue is stored and must stand
            log.warning("%s was not split again from %s at %s: %s", units.key, provinces.key,
                        origin, exc)  # fmt: skip
            continue
        log.info("issued %s again from %s's new issue at %s", units.key, provinces.key, origin)


def promote(
    engine: Engine,
    installation: Installation,
    version: str,
    actor: str,
    reason: str,
    replaces: str | None = registry.ANY_CHAMPION,
    panel: pd.DataFrame | None = None,
) -> registry.ModelVersion:
    """Make `version` its series' champion and issue its forecasts, in one transaction: a
    version whose artifact does not verify or cannot forecast is not promoted, nor one judged
    against a champion (`replaces`) that has changed since (ChampionChanged)."""
    record = registry.get(engine, version)
    if record.status == "champion":
        raise registry.RegistryError(f"{version} is already the {record.series} champion")
    model = load_version(engine, installation, version=version)
    prepared = _prepare(engine, model, None, None, installation, panel)
    with write_transaction(engine) as conn:
        promoted = registry.promote(conn, version, actor, reason, replaces)
        _store(conn, installation, prepared)
    _split_again_below(engine, installation, prepared)
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
    _split_again_below(engine, installation, prepared)
    return restored
