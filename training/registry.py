"""The model registry: which versions exist, their status, and who changed it, when and why.

Statuses: candidate (new), shadow (scored beside the champion, not served), champion (served;
exactly one per series, enforced by a unique index), retired. Every change is one
transaction that also writes the audit row.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    Connection,
    DateTime,
    Engine,
    ForeignKey,
    Index,
    Integer,
    RowMapping,
    Select,
    String,
    Table,
    Text,
    insert,
    select,
    text,
    update,
)

from store.db import fetch_page, write_transaction
from store.metadata import metadata
from training.scorecard import BacktestMetrics

# Model versions and their audit trail; the artifact directory holds the model itself.
model_versions = Table(
    "model_versions",
    metadata,
    Column("version", String(64), primary_key=True),
    Column("series", String(40), nullable=False),
    Column("freq", String(8), nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("as_of", String(10), nullable=False),
    Column("artifact_dir", String(255), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("manifest_hmac", String(64), nullable=False),
    Column("metrics", JSON, nullable=False),
    Column("job_id", Integer, ForeignKey("jobs.id"), nullable=True),
    # At most one champion per series, enforced by the database itself.
    Index(
        "uq_model_versions_series_champion",
        "series",
        unique=True,
        sqlite_where=text("status = 'champion'"),
        postgresql_where=text("status = 'champion'"),
    ),
)

model_status_changes = Table(
    "model_status_changes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("version", String(64), ForeignKey("model_versions.version"), nullable=False, index=True),
    Column("from_status", String(16), nullable=True),
    Column("to_status", String(16), nullable=False),
    Column("actor", String(120), nullable=False),
    Column("reason", Text, nullable=False),
    Column("changed_at", DateTime(timezone=True), nullable=False),
)

STATUSES = ("candidate", "shadow", "champion", "retired")


class RegistryError(Exception):
    """An unknown version, or a status change the registry does not allow."""


@dataclass(frozen=True)
class ModelVersion:
    version: str
    series: str
    freq: str
    status: str
    created_at: datetime
    as_of: str
    artifact_dir: str
    sha256: str
    manifest_hmac: str
    metrics: dict[str, Any]
    job_id: int | None

    @property
    def backtest(self) -> BacktestMetrics | None:
        """The metrics as a value; None for a version registered without a backtest."""
        return BacktestMetrics.from_json(self.metrics) if "models" in self.metrics else None


@dataclass(frozen=True)
class StatusChange:
    version: str
    from_status: str | None
    to_status: str
    actor: str
    reason: str
    changed_at: datetime


def _now() -> datetime:
    return datetime.now(UTC)


def _version(row: RowMapping) -> ModelVersion:
    return ModelVersion(**dict(row))


def _record(
    conn: Connection, version: str, before: str | None, after: str, actor: str, reason: str
) -> None:
    conn.execute(
        insert(model_status_changes).values(
            version=version,
            from_status=before,
            to_status=after,
            actor=actor,
            reason=reason,
            changed_at=_now(),
        )
    )


def _set(conn: Connection, mv: ModelVersion, status: str, actor: str, reason: str) -> None:
    conn.execute(
        update(model_versions).where(model_versions.c.version == mv.version).values(status=status)
    )
    _record(conn, mv.version, mv.status, status, actor, reason)


def register(
    engine: Engine,
    *,
    version: str,
    series: str,
    freq: str,
    as_of: str,
    artifact_dir: str,
    sha256: str,
    manifest_hmac: str,
    metrics: Mapping[str, Any],
    actor: str,
    job_id: int | None = None,
) -> ModelVersion:
    """Record a new candidate version and its first audit entry, in one transaction."""
    with write_transaction(engine) as conn:
        conn.execute(
            insert(model_versions).values(
                version=version,
                series=series,
                freq=freq,
                status="candidate",
                created_at=_now(),
                as_of=as_of,
                artifact_dir=artifact_dir,
                sha256=sha256,
                manifest_hmac=manifest_hmac,
                metrics=dict(metrics),
                job_id=job_id,
            )
        )
        _record(conn, version, None, "candidate", actor, "trained")
    return get(engine, version)


def _get(conn: Connection, version: str) -> ModelVersion:
    row = (
        conn.execute(select(model_versions).where(model_versions.c.version == version))
        .mappings()
        .first()
    )
    if row is None:
        raise RegistryError(f"no model version {version!r}; see `threatcast models list`")
    return _version(row)


def get(engine: Engine, version: str) -> ModelVersion:
    with engine.connect() as conn:
        return _get(conn, version)


def _versions_query(series: str | None) -> Select[Any]:
    query = select(model_versions).order_by(model_versions.c.created_at.desc())
    return query.where(model_versions.c.series == series) if series is not None else query


def list_versions(engine: Engine, series: str | None = None) -> list[ModelVersion]:
    """Every version (of one series), newest first."""
    with engine.connect() as conn:
        return [_version(row) for row in conn.execute(_versions_query(series)).mappings()]


def page_versions(
    engine: Engine, series: str | None, limit: int, offset: int
) -> tuple[list[ModelVersion], int]:
    """A page of versions, newest first, and how many there are."""
    rows, total = fetch_page(engine, _versions_query(series), limit, offset)
    return [ModelVersion(**row) for row in rows], total


def history(engine: Engine, version: str) -> list[StatusChange]:
    query = (
        select(*(model_status_changes.c[c] for c in StatusChange.__dataclass_fields__))
        .where(model_status_changes.c.version == version)
        .order_by(model_status_changes.c.id)
    )
    with engine.connect() as conn:
        return [StatusChange(**dict(row)) for row in conn.execute(query).mappings()]


def champion_in(conn: Connection, series: str) -> ModelVersion | None:
    """The series' champion as the caller's transaction sees it."""
    row = (
        conn.execute(
            select(model_versions).where(
                model_versions.c.series == series, model_versions.c.status == "champion"
            )
        )
        .mappings()
        .first()
    )
    return _version(row) if row is not None else None


def champion(engine: Engine, series: str) -> ModelVersion | None:
    with engine.connect() as conn:
        return champion_in(conn, series)


def champions(engine: Engine) -> list[ModelVersion]:
    """Every series' champion, by series."""
    query = (
        select(model_versions)
        .where(model_versions.c.status == "champion")
        .order_by(model_versions.c.series)
    )
    with engine.connect() as conn:
        return [_version(row) for row in conn.execute(query).mappings()]


ANY_CHAMPION = "*"


def promote(
    conn: Connection, version: str, actor: str, reason: str, replaces: str | None = ANY_CHAMPION
) -> ModelVersion:
    """Make `version` its series' champion, retiring the previous one, inside the caller's
    write transaction (issuing runs it beside the new champion's forecasts). With `replaces`
    (a version, or None for no champion), a compare-and-swap: refused if the champion is no
    longer the one the caller judged against."""
    target = _get(conn, version)
    if target.status == "champion":
        raise RegistryError(f"{version} is already the {target.series} champion")
    current = champion_in(conn, target.series)
    if replaces != ANY_CHAMPION and (current.version if current else None) != replaces:
        raise ChampionChanged(
            f"the {target.series} champion changed meanwhile (now "
            f"{current.version if current else 'none'}, judged against {replaces or 'none'}); "
            f"{version} was not promoted"
        )
    if current is not None:
        _set(conn, current, "retired", actor, f"replaced by {version}: {reason}")
    _set(conn, target, "champion", actor, reason)
    return _get(conn, version)


class ChampionChanged(RegistryError):
    """The champion is not the one a promotion was judged against."""


def rollback_target(conn: Connection, series: str) -> tuple[ModelVersion, ModelVersion]:
    """The current champion and the champion before it, which a rollback restores."""
    current = champion_in(conn, series)
    if current is None:
        raise RegistryError(f"there is no {series} champion to roll back from")
    crowned = conn.execute(
        select(model_status_changes.c.version)
        .join(model_versions, model_versions.c.version == model_status_changes.c.version)
        .where(
            model_versions.c.series == series,
            model_status_changes.c.to_status == "champion",
            model_status_changes.c.version != current.version,
        )
        .order_by(model_status_changes.c.id.desc())
    ).first()
    if crowned is None:
        raise RegistryError(
            f"{current.version} is the first {series} champion; nothing to roll back to"
        )
    return current, _get(conn, crowned.version)


def rollback(conn: Connection, series: str, to: str, actor: str, reason: str) -> ModelVersion:
    """Return to the previous champion, `to`, inside the caller's write transaction; refused if
    the registry moved on since `to` was chosen."""
    current, previous = rollback_target(conn, series)
    if previous.version != to:
        raise RegistryError(f"the {series} champion changed meanwhile; nothing was rolled back")
    _set(conn, current, "retired", actor, f"rolled back to {previous.version}: {reason}")
    _set(conn, previous, "champion", actor, f"rollback from {current.version}: {reason}")
    return _get(conn, previous.version)


def set_status(engine: Engine, version: str, status: str, actor: str, reason: str) -> ModelVersion:
    """Move a version to candidate, shadow or retired (promotion has its own function)."""
    if status not in STATUSES or status == "champion":
        raise RegistryError(f"use promote or rollback to change the champion, not {status!r}")
    with write_transaction(engine) as conn:
        target = _get(conn, version)
        if target.status == "champion":
            raise RegistryError(
                f"{version} is the serving {target.series} champion; promote another version "
                "or roll back first"
            )
        if target.status != status:
            _set(conn, target, status, actor, reason)
    return get(engine, version)


def set_manifest_hmac(engine: Engine, version: str, manifest_hmac: str, actor: str) -> None:
    """Record a version's manifest signature under a new key (the manifest itself is unchanged)."""
    with write_transaction(engine) as conn:
        record = _get(conn, version)
        conn.execute(
            update(model_versions)
            .where(model_versions.c.version == version)
            .values(manifest_hmac=manifest_hmac)
        )
        _record(conn, version, record.status, record.status, actor, "manifest re-signed")


def registered_versions(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(select(model_versions.c.version)).scalars())
