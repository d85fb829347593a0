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

from sqlalchemy import Connection, Engine, String, bindparam, func, select, update

from events.actors import ActorClassifier, default_classifier
from events.canonical import Event
from events.coverage import Span
from events.gazetteer import RegionResolver, default_resolver
from events.ingest_counts import native_span, replace_counts, resolve_counts
from events.sources import ProgressCallback, RowError, read_events
from events.sources.aggregated import aggregated_layout, read_counts
from events.sources.reader import read_header
from events.tables import coverage_spans, event_rows, ingest_runs
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

    def __init__(
        self, path: Path, errors: Sequence[RowError], rows_read: int, reason: str | None = None
    ) -> None:
        self.path = path
        self.errors = list(errors)
        self.rows_read = rows_read
        if reason is not None:
            super().__init__(f"{path.name}: {reason}; nothing was stored")
            return
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
    # "events" or "counts" (aggregated), how the source counts time, the span covered per
    # country, and (for counts) the periods whose stored cells changed.
    kind: str = "events"
    unit: str = "day"
    covers: dict[str, str] = field(default_factory=dict)
    periods_changed: tuple[str, ...] = ()
    ignored_countries: dict[str, int] = field(default_factory=dict)

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


def _diff(
    conn: Connection, source: str, rows: dict[str, dict[str, Any]], span: Span | None
) -> _Diff:
    """Compare the file with the stored events of the same source.

    "Missing now" counts stored events the file no longer has, among those whose start date
    lies within the span the file covers: a monthly candidate file says nothing of other months.
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
    first, last = span or _event_span(rows.values())
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


# UCDP GED and GTD are released a year at a time: a file of theirs that spans more than a year
# is a release and covers whole calendar years (GED 22.1's first event is on 1989-01-25, but
# January 1989 is covered). Monthly candidate files and other sources cover first to last day.
_ANNUAL_SOURCES = frozenset({"ucdp", "gtd"})
_RELEASE_MIN_DAYS = 366


def _event_span(rows: Iterable[dict[str, Any]], source: str | None = None) -> Span:
    days = [row["date_start"] for row in rows]
    first, last = min(days), max(days)
    if source in _ANNUAL_SOURCES and (last - first).days > _RELEASE_MIN_DAYS:
        return date(first.year, 1, 1), date(last.year, 12, 31)
    return first, last


def parse_covers(text: str) -> Span:
    """'2023-10-01..2023-10-31' as a span of days."""
    first, sep, last = text.partition("..")
    try:
        if not sep:
            raise ValueError
        span = date.fromisoformat(first.strip()), date.fromisoformat(last.strip())
    except ValueError:
        raise ValueError(
            f"--covers {text[:40]!r}: use FIRST..LAST, e.g. 2023-10-01..2023-10-31"
        ) from None
    if span[0] > span[1]:
        raise ValueError(f"--covers {text[:40]!r} starts after it ends")
    return span


def _unit_conflict(
    conn: Connection, source: str, country: str, unit: str, span: Span
) -> str | None:
    """A source's data for one country must count time one way over any span: events and
    aggregated counts (or weekly and monthly counts) of the same days would be counted twice."""
    other = conn.execute(
        select(coverage_spans.c.unit, func.min(coverage_spans.c.first_day),
               func.max(coverage_spans.c.last_day))
        .where(coverage_spans.c.source == source, coverage_spans.c.country == country,
               coverage_spans.c.unit != unit, coverage_spans.c.first_day <= span[1],
               coverage_spans.c.last_day >= span[0])
        .group_by(coverage_spans.c.unit)
    ).first()  # fmt: skip
    if other is None:
        return None
    names = {"day": "event-level data", "week": "weekly counts", "month": "monthly counts"}
    return (
        f"the store holds {source} {names[other[0]]} for {country} from {other[1]} to {other[2]}; "
        f"{names[unit]} of the same days would count them again"
    )


def _record_coverage(conn: Connection, source: str, spans: dict[str, Span], run_id: int) -> None:
    for country, (first, last) in spans.items():
        conn.execute(
            coverage_spans.insert().values(
                source=source, country=country, unit="day", first_day=first, last_day=last,
                ingest_run_id=run_id,
            )
        )  # fmt: skip


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
    covers: Span | None = None,
) -> IngestReport:
    """Validate the whole file, then apply it in one transaction (or, dry, only report).

    Event files record the span they cover (`covers`, or their first to last event day);
    aggregated count files replace the cells of the periods they cover.
    """
    if aggregated_layout(read_header(path, max_text_bytes)) is not None:
        if source not in {"auto", "acled"}:
            raise IngestError(path, [], 0, f"this is aggregated ACLED data, not a {source} file")
        if covers is not None:
            raise IngestError(
                path,
                [],
                0,
                "--covers is for event files: counts cover the periods they have rows for",
            )
        return _ingest_counts(
            engine, path, resolver or default_resolver(), skip_invalid, dry_run, max_text_bytes
        )
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
    countries = sorted({row["country"] for row in rows.values()})
    spans = {
        country: covers
        or _event_span((row for row in rows.values() if row["country"] == country), parsed.source)
        for country in countries
    }

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
            covers={c: f"{a.isoformat()}..{b.isoformat()}" for c, (a, b) in spans.items()},
        )

    def refuse_conflicts(conn: Connection) -> None:
        for country, span in spans.items():
            conflict = _unit_conflict(conn, parsed.source, country, "day", span)
            if conflict is not None:
                raise IngestError(path, [], parsed.rows_read, conflict)

    if dry_run:
        with engine.connect() as conn:
            refuse_conflicts(conn)
            return report(_diff(conn, parsed.source, rows, covers), None)

    digest = file_sha256(path)
    with write_transaction(engine) as conn:
        # The diff is taken under the write lock, so concurrent ingests cannot both insert.
        refuse_conflicts(conn)
        diff = _diff(conn, parsed.source, rows, covers)
        run_id = _start_run(conn, parsed.source, path, digest, started, parsed.rows_read)
        _write(conn, diff, run_id, progress)
        _record_coverage(conn, parsed.source, spans, run_id)
        result = report(diff, run_id)
        _finish_run(conn, run_id, result)
    log.info(
        "ingested %s: %d added, %d updated, %d unchanged, %d missing now, %d unresolved",
        path.name, result.added, result.updated, result.unchanged, result.missing_now,
        result.unresolved,
    )  # fmt: skip
    return result


def _start_run(
    conn: Connection, source: str, path: Path, digest: str, started: datetime, rows_read: int
) -> int:
    run_id: int = conn.execute(
        ingest_runs.insert().returning(ingest_runs.c.id).values(
            source=source, file_name=path.name, file_sha256=digest,
            started_at=started, finished_at=started, rows_read=rows_read,
            added=0, updated=0, unchanged=0, missing_now=0, skipped=0, unresolved=0,
        )
    ).scalar_one()  # fmt: skip
    return run_id


def _finish_run(conn: Connection, run_id: int, result: IngestReport) -> None:
    conn.execute(
        update(ingest_runs).where(ingest_runs.c.id == run_id).values(
            finished_at=datetime.now(UTC), added=result.added, updated=result.updated,
            unchanged=result.unchanged, missing_now=result.missing_now,
            skipped=len(result.skipped), unresolved=result.unresolved,
        )
    )  # fmt: skip


def _ingest_counts(
    engine: Engine,
    path: Path,
    resolver: RegionResolver,
    skip_invalid: bool,
    dry_run: bool,
    max_text_bytes: int | None,
) -> IngestReport:
    started = datetime.now(UTC)
    parsed = read_counts(path, max_text_bytes)
    by_country, resolve_errors, ignored = resolve_counts(parsed, resolver)
    errors = sorted([*parsed.errors, *resolve_errors], key=lambda e: e.line)
    if errors and not skip_invalid:
        raise IngestError(path, errors, parsed.rows_read)
    if not by_country:
        raise IngestError(
            path, errors or [RowError(1, "no rows of a known country")], parsed.rows_read
        )
    spans = {
        country: native_span([r["period_start"] for r in rows], parsed.unit)
        for country, rows in by_country.items()
    }
    digest = file_sha256(path)
    totals = Counter[str]()
    periods: set[str] = set()
    with write_transaction(engine) as conn:
        for country, span in spans.items():
            conflict = _unit_conflict(conn, parsed.source, country, parsed.unit, span)
            if conflict is not None:
                raise IngestError(path, [], parsed.rows_read, conflict)
        run_id = (
            None
            if dry_run
            else _start_run(conn, parsed.source, path, digest, started, parsed.rows_read)
        )
        for country, rows in by_country.items():
            changes = replace_counts(
                conn, parsed.source, country, parsed.unit, spans[country], rows, run_id
            )
            totals.update(added=changes.added, changed=changes.changed,
                          unchanged=changes.unchanged, removed=changes.removed)  # fmt: skip
            periods.update(changes.periods_changed)
        result = IngestReport(
            file=path.name, source=parsed.source, rows_read=parsed.rows_read,
            valid=sum(len(rows) for rows in by_country.values()), added=totals["added"],
            updated=totals["changed"], unchanged=totals["unchanged"],
            missing_now=totals["removed"], unresolved=0, placed_by_point=0,
            skipped=tuple(errors), dry_run=dry_run, run_id=run_id,
            kind="counts", unit=parsed.unit,
            covers={c: f"{a.isoformat()}..{b.isoformat()}" for c, (a, b) in spans.items()},
            periods_changed=tuple(sorted(periods)), ignored_countries=dict(ignored),
        )  # fmt: skip
        if run_id is not None:
            _finish_run(conn, run_id, result)
    log.info(
        "ingested %s (%s counts): %d cells added, %d changed, %d removed, %d unchanged",
        path.name, parsed.layout, result.added, result.updated, result.missing_now,
        result.unchanged,
    )  # fmt: skip
    return result
