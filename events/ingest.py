"""Loads an event file into the store: all or nothing, idempotent and revision-aware."""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, String, bindparam, select, update

from events.actors import ActorClassifier, default_classifier
from events.canonical import Event
from events.gazetteer import RegionResolver, default_resolver
from events.sources import ProgressCallback, RowError, read_events
from events.tables import event_rows, ingest_runs
from store.db import write_transaction

log = logging.getLogger(__name__)

WRITE_CHUNK_ROWS = 500
# Fields whose change makes an event "updated"; raw spellings of names are not among them.
_CONTENT_FIELDS = (
    "date_start", "date_end", "date_precision", "country", "region", "region_method",
    "latitude", "longitude", "location_precision", "violence_type", "event_type",
    "actor1", "actor2", "actor_group", "fatalities_best", "fatalities_low", "fatalities_high",
    "civilian_deaths",
)  # fmt: skip


_EVENT_FIELDS = tuple(f.name for f in fields(Event))
# Text the store would refuse (PostgreSQL enforces VARCHAR lengths) is refused here, on its line.
_TEXT_LIMITS = {
    c.name: c.type.length
    for c in event_rows.columns
    if isinstance(c.type, String) and c.type.length and c.name in _EVENT_FIELDS
}


def _too_long(event: Event) -> str | None:
    for name, limit in _TEXT_LIMITS.items():
        value = getattr(event, name)
        if isinstance(value, str) and len(value) > limit:
            return f"{name} is longer than {limit} characters"
    return None


class IngestError(Exception):
    """The file was rejected as a whole; the store is unchanged."""

    def __init__(self, path: Path, errors: Sequence[RowError], rows_read: int) -> None:
        self.path = path
        self.errors = list(errors)
        self.rows_read = rows_read
        shown = "\n".join(f"  {error}" for error in self.errors[:20])
        more = f"\n  ... and {len(self.errors) - 20} more" if len(self.errors) > 20 else ""
        super().__init__(
            f"{path.name}: {len(self.errors)} of {rows_read} rows are invalid; nothing was "
            f"stored (use --skip-invalid to load the valid rows)\n{shown}{more}"
        )


@dataclass(frozen=True)
class IngestReport:
    """What an ingest found and did."""

    file: str
    source: str
    rows_read: int
    valid: int
    added: int
    updated: int
    unchanged: int
    missing_now: int
    unresolved: int
    placed_by_point: int
    skipped: tuple[RowError, ...] = ()
    unknown_admin1: dict[str, int] = field(default_factory=dict)
    dry_run: bool = False
    run_id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["skipped"] = [str(error) for error in self.skipped]
        return data


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _content_hash(row: dict[str, Any]) -> str:
    payload = json.dumps([row[name] for name in _CONTENT_FIELDS], default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


def _canonical_rows(
    parsed: Iterable[tuple[int, Event]],
    resolver: RegionResolver,
    classifier: ActorClassifier,
) -> tuple[dict[str, dict[str, Any]], list[RowError]]:
    """Rows for the events table keyed by source id; a repeated id, or text longer than its
    column, is an error."""
    rows: dict[str, dict[str, Any]] = {}
    first_line: dict[str, int] = {}
    duplicates: list[RowError] = []
    for line, event in parsed:
        if event.source_id in rows:
            duplicates.append(
                RowError(
                    line,
                    f"id {event.source_id} already appears on line {first_line[event.source_id]}",
                )
            )
            continue
        too_long = _too_long(event)
        if too_long is not None:
            duplicates.append(RowError(line, too_long))
            continue
        placement = resolver.place(event)
        # A shallow copy: dataclasses.asdict deep-copies and is the slowest step here.
        row = {name: getattr(event, name) for name in _EVENT_FIELDS}
        row["violence_type"] = int(event.violence_type) if event.violence_type else None
        row["region"] = placement.region
        row["region_method"] = placement.method
        row["actor_group"] = classifier.classify((event.actor1, event.actor2))
        row["content_hash"] = _content_hash(row)
        rows[event.source_id] = row
        first_line[event.source_id] = line
    return rows, duplicates


@dataclass(frozen=True)
class _Diff:
    added: list[dict[str, Any]]
    changed: list[dict[str, Any]]
    unchanged: int
    missing_ids: list[int]


def _diff(conn: Connection, source: str, rows: dict[str, dict[str, Any]]) -> _Diff:
    """Compare the file with the stored events of the same source.

    "Missing now" counts stored events the file no longer has, among those whose start date
    lies within the file's date span: a monthly candidate file says nothing of other months.
    """
    existing = {
        r.source_id: r
        for r in conn.execute(
            select(event_rows.c.id, event_rows.c.source_id, event_rows.c.content_hash, event_rows.c.withdrawn_at,
                   event_rows.c.date_start).where(event_rows.c.source == source)
        )
    }  # fmt: skip
    added, changed, unchanged = [], [], 0
    for source_id, row in rows.items():
        stored = existing.get(source_id)
        if stored is None:
            added.append(row)
        elif stored.content_hash != row["content_hash"] or stored.withdrawn_at is not None:
            changed.append({**row, "event_pk": stored.id})
        else:
            unchanged += 1
    first: date = min(row["date_start"] for row in rows.values())
    last: date = max(row["date_start"] for row in rows.values())
    missing = [
        stored.id
        for source_id, stored in existing.items()
        if source_id not in rows
        and stored.withdrawn_at is None
        and first <= stored.date_start <= last
    ]
    return _Diff(added, changed, unchanged, missing)


def _write(
    conn: Connection,
    diff: _Diff,
    run_id: int,
    progress: ProgressCallback | None,
) -> None:
    total = len(diff.added) + len(diff.changed)
    done = 0
    for start in range(0, len(diff.added), WRITE_CHUNK_ROWS):
        chunk = diff.added[start : start + WRITE_CHUNK_ROWS]
        conn.execute(event_rows.insert(), [{**row, "ingest_run_id": run_id} for row in chunk])
        done += len(chunk)
        if progress is not None:
            progress("writing", done, total)
    if diff.changed:
        columns = [
            c.name for c in event_rows.columns if c.name not in {"id", "source", "source_id"}
        ]
        statement = (
            update(event_rows)
            .where(event_rows.c.id == bindparam("event_pk"))
            .values({name: bindparam(name) for name in columns})
        )
        for start in range(0, len(diff.changed), WRITE_CHUNK_ROWS):
            chunk = diff.changed[start : start + WRITE_CHUNK_ROWS]
            conn.execute(
                statement, [{**row, "ingest_run_id": run_id, "withdrawn_at": None} for row in chunk]
            )
            done += len(chunk)
            if progress is not None:
                progress("writing", done, total)
    if diff.missing_ids:
        conn.execute(
            update(event_rows)
            .where(event_rows.c.id.in_(diff.missing_ids))
            .values(withdrawn_at=datetime.now(UTC))
        )


def ingest_file(
    engine: Engine,
    path: Path,
    *,
    source: str = "auto",
    skip_invalid: bool = False,
    dry_run: bool = False,
    resolver: RegionResolver | None = None,
    classifier: ActorClassifier | None = None,
    progress: ProgressCallback | None = None,
    max_text_bytes: int | None = None,
) -> IngestReport:
    """Validate the whole file, then apply it in one transaction (or, dry, only report)."""
    started = datetime.now(UTC)
    parsed = read_events(path, source, progress, max_text_bytes)
    rows, duplicates = _canonical_rows(
        parsed.events, resolver or default_resolver(), classifier or default_classifier()
    )
    errors = sorted([*parsed.errors, *duplicates], key=lambda e: e.line)
    if errors and not skip_invalid:
        raise IngestError(path, errors, parsed.rows_read)
    if not rows:
        raise IngestError(path, errors or [RowError(1, "no valid rows")], parsed.rows_read)
    unknown_admin1 = Counter(
        row["admin1"] for row in rows.values() if row["region"] is None and row["admin1"]
    )

    def report(diff: _Diff, run_id: int | None) -> IngestReport:
        return IngestReport(
            file=path.name,
            source=parsed.source,
            rows_read=parsed.rows_read,
            valid=len(rows),
            added=len(diff.added),
            updated=len(diff.changed),
            unchanged=diff.unchanged,
            missing_now=len(diff.missing_ids),
            unresolved=sum(row["region"] is None for row in rows.values()),
            placed_by_point=sum(row["region_method"] == "point" for row in rows.values()),
            skipped=tuple(errors),
            unknown_admin1=dict(unknown_admin1.most_common()),
            dry_run=dry_run,
            run_id=run_id,
        )

    if dry_run:
        with engine.connect() as conn:
            return report(_diff(conn, parsed.source, rows), None)

    digest = file_sha256(path)
    with write_transaction(engine) as conn:
        # The diff is taken under the write lock, so concurrent ingests cannot both insert.
        diff = _diff(conn, parsed.source, rows)
        run_id: int = conn.execute(
            ingest_runs.insert().returning(ingest_runs.c.id).values(
                source=parsed.source, file_name=path.name, file_sha256=digest,
                started_at=started, finished_at=started, rows_read=parsed.rows_read,
                added=0, updated=0, unchanged=0, missing_now=0, skipped=0, unresolved=0,
            )
        ).scalar_one()  # fmt: skip
        _write(conn, diff, run_id, progress)
        result = report(diff, run_id)
        conn.execute(
            update(ingest_runs).where(ingest_runs.c.id == run_id).values(
                finished_at=datetime.now(UTC), added=result.added, updated=result.updated,
                unchanged=result.unchanged, missing_now=result.missing_now,
                skipped=len(result.skipped), unresolved=result.unresolved,
            )
        )  # fmt: skip
    log.info(
        "ingested %s: %d added, %d updated, %d unchanged, %d missing now, %d unresolved",
        path.name, result.added, result.updated, result.unchanged, result.missing_now,
        result.unresolved,
    )  # fmt: skip
    return result
