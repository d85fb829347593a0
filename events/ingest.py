"""Loads an event file into the store: all or nothing, idempotent and revision-aware."""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, TypeVar

from sqlalchemy import Connection, Engine, String, bindparam, func, select, update

from events.actors import ActorClassifier
from events.canonical import Event
from events.coverage import Span
from events.gazetteer import DistrictCheck, RegionResolver, default_resolver
from events.ingest_counts import (
    CountChanges,
    CountScope,
    compare_counts,
    replace_counts,
    resolve_counts,
)
from events.sources import ProgressCallback, RowError, read_events
from events.sources.aggregated import ParsedCounts, aggregated_layout, read_counts
from events.sources.base import DEFAULT_LIMITS, FileLimits, ParsedFile, RowErrors
from events.sources.reader import read_header
from events.tables import coverage_spans, event_rows, ingest_runs
from store.db import write_transaction

log = logging.getLogger(__name__)

WRITE_CHUNK_ROWS = 500
# Fields whose change makes an event "updated"; raw spellings of names are not among them.
_CONTENT_FIELDS = (
    "date_start", "date_end", "date_precision", "country", "region", "region_method", "district",
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


SHOWN_ERRORS = 20
# A file may remove at most this share of the stored rows within what it is authoritative for.
MAX_REMOVED_SHARE = 0.05


class IngestError(Exception):
    """The file was rejected as a whole; the store is unchanged."""

    def __init__(
        self,
        path: Path,
        errors: RowErrors | Sequence[RowError],
        rows_read: int,
        reason: str | None = None,
    ) -> None:
        self.path = path
        collected = errors if isinstance(errors, RowErrors) else RowErrors(errors=errors)
        self.errors = collected.kept()
        self.error_count = len(collected)
        self.rows_read = rows_read
        if reason is not None:
            super().__init__(f"{path.name}: {reason}; nothing was stored")
            return
        shown = "\n".join(f"  {error}" for error in self.errors[:SHOWN_ERRORS])
        hidden = self.error_count - min(len(self.errors), SHOWN_ERRORS)
        more = f"\n  ... and {hidden} more" if hidden > 0 else ""
        super().__init__(
            f"{path.name}: {self.error_count} of {rows_read} rows are invalid; nothing was "
            f"stored (use --skip-invalid to load the valid rows)\n{shown}{more}"
        )


class ReplacementRefused(IngestError):
    """Applying the file would remove more stored data than a file may without `replace`."""

    def __init__(self, path: Path, rows_read: int, reason: str) -> None:
        super().__init__(path, [], rows_read, reason)


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
    # Invalid rows in all (`skipped` keeps the first few), and what the file was authoritative
    # for: the stored rows it could have removed, per country.
    invalid: int = 0
    scope: dict[str, str] = field(default_factory=dict)
    # Placing events in districts (countries with a district level): events per outcome
    # (`gazetteer.DistrictCheck`), and the admin-2 names that disagree with the coordinates.
    districts: dict[str, int] = field(default_factory=dict)
    district_disagreements: dict[str, int] = field(default_factory=dict)

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


@dataclass
class _Canonical:
    """A file's rows for the events table keyed by source id, the rows refused, the events of
    countries without a definition (per country), and what placing each in a district found."""

    rows: dict[str, dict[str, Any]] = field(default_factory=dict)
    errors: list[RowError] = field(default_factory=list)
    undefined: Counter[str] = field(default_factory=Counter)
    district_checks: dict[str, str] = field(default_factory=dict)


def _canonical_rows(
    parsed: Iterable[tuple[int, Event]],
    resolver: RegionResolver,
    classifier: ActorClassifier | None,
) -> _Canonical:
    """Rows for the events table; a repeated id, or text longer than its column, is an error.
    Events of a country without a definition are counted, not stored: they would belong to no
    series. Actors are classified by the country's groups (or `classifier`)."""
    found = _Canonical()
    rows, duplicates, undefined = found.rows, found.errors, found.undefined
    first_line: dict[str, int] = {}
    for line, event in parsed:
        gazetteer = resolver.gazetteers.get(event.country)
        if gazetteer is None:
            undefined[event.country] += 1
            continue
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
        row["district"] = placement.district
        if placement.district_check is not None:
            found.district_checks[event.source_id] = placement.district_check
        row["actor_group"] = (classifier or gazetteer.actors).classify(
            (event.actor1, event.actor2), event.date_start
        )
        row["content_hash"] = _content_hash(row)
        rows[event.source_id] = row
        first_line[event.source_id] = line
    return found


@dataclass(frozen=True)
class EventScope:
    """What an event file is authoritative for in one country: the days it covers, the regions
    it has events in, and its event types (None: every type its source has). A stored event
    outside this is never withdrawn by the file."""

    country: str
    span: Span
    regions: frozenset[str | None]
    event_types: frozenset[str] | None

    def holds(self, country: str, day: date, region: str | None, event_type: str | None) -> bool:
        return (
            country == self.country
            and self.span[0] <= day <= self.span[1]
            and region in self.regions
            and (self.event_types is None or event_type in self.event_types)
        )

    def describe(self) -> str:
        types = (
            "all event types" if self.event_types is None else ", ".join(sorted(self.event_types))
        )
        return f"{self.span[0]}..{self.span[1]}, {len(self.regions)} regions, {types}"


# Sources whose every file holds all of the source's event types (a UCDP or GTD file is never
# cut by type); an ACLED export may be, so it is authoritative only for the types it has.
_ALL_TYPES_SOURCES = frozenset({"ucdp", "gtd"})


@dataclass(frozen=True)
class _Diff:
    added: list[dict[str, Any]]
    changed: list[dict[str, Any]]
    unchanged: int
    missing_ids: list[int]
    in_scope: Counter[str]
    missing_by_region: Counter[str]


def _diff(
    conn: Connection, source: str, rows: dict[str, dict[str, Any]], scopes: Sequence[EventScope]
) -> _Diff:
    """Compare the file with the stored events of the same source.

    "Missing now" counts stored events the file no longer has among those it is authoritative
    for (`scopes`): a monthly candidate file says nothing of other months, an ACLED export cut
    to battles nothing of protests.
    """
    existing = {
        r.source_id: r
        for r in conn.execute(
            select(event_rows.c.id, event_rows.c.source_id, event_rows.c.content_hash, event_rows.c.withdrawn_at,
                   event_rows.c.date_start, event_rows.c.country, event_rows.c.region,
                   event_rows.c.event_type).where(event_rows.c.source == source)
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
    missing, in_scope, missing_by_region = [], Counter[str](), Counter[str]()
    for source_id, stored in existing.items():
        if stored.withdrawn_at is not None or not any(
            scope.holds(stored.country, stored.date_start, stored.region, stored.event_type)
            for scope in scopes
        ):
            continue
        in_scope[stored.region or ""] += 1
        if source_id not in rows:
            missing.append(stored.id)
            missing_by_region[stored.region or ""] += 1
    return _Diff(added, changed, unchanged, missing, in_scope, missing_by_region)


def removal_refusal(
    removed: Counter[str], stored: Counter[str], what: str, max_share: float
) -> str | None:
    """Why removing these stored rows (per region) of a file's scope needs `--replace`, or None:
    more than `max_share` of the scope, or of any one region's part of it."""
    total_removed, total_stored = sum(removed.values()), sum(stored.values())
    if total_removed == 0:
        return None
    worst = max(removed, key=lambda region: removed[region] / stored[region])
    if total_removed > max_share * total_stored:
        part = f"{total_removed} of the {total_stored} stored {what}"
        share = total_removed / total_stored
    elif removed[worst] > max_share * stored[worst]:
        part = f"{removed[worst]} of the {stored[worst]} stored {what} of {worst or 'no region'}"
        share = removed[worst] / stored[worst]
    else:
        return None
    return (
        f"it would remove {part} it is authoritative for ({share:.0%}, more than "
        f"{max_share:.0%}): a file cut short or a narrower export looks like this. Check it, "
        "then ingest it with --replace to apply it"
    )


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


# UCDP names its monthly candidate files by the month: GEDEvent_v25_0_3 is March 2025.
_CANDIDATE_MONTH = re.compile(r"v(\d{2})_0_(\d{1,2})(?!\d)")
_MONTHLY_MAX_DAYS = 92


def _month_span(year: int, month: int) -> Span:
    first = date(year, month, 1)
    return first, date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)


def _candidate_month(name: str, days: Sequence[date]) -> Span | None:
    """The month a UCDP candidate file is for: the one its name declares, or the month that holds
    most of its events when that is its last (a monthly file holds a few events that started
    before its month; they are stored but the file covers only its month)."""
    declared = _CANDIDATE_MONTH.search(name)
    if declared is not None and 1 <= int(declared[2]) <= 12:
        return _month_span(2000 + int(declared[1]), int(declared[2]))
    if (max(days) - min(days)).days > _MONTHLY_MAX_DAYS:
        return None
    months = Counter((day.year, day.month) for day in days)
    (year, month), count = months.most_common(1)[0]
    if count * 2 > len(days) and (year, month) == max(months):
        return _month_span(year, month)
    return None


def _event_span(rows: Iterable[dict[str, Any]], source: str, name: str = "") -> Span:
    days = [row["date_start"] for row in rows]
    first, last = min(days), max(days)
    if source in _ANNUAL_SOURCES and (last - first).days > _RELEASE_MIN_DAYS:
        return date(first.year, 1, 1), date(last.year, 12, 31)
    if source == "ucdp":
        return _candidate_month(name, days) or (first, last)
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


def _refuse_unit_conflicts(
    conn: Connection, path: Path, rows_read: int, source: str, unit: str, spans: dict[str, Span]
) -> None:
    for country, span in spans.items():
        conflict = _unit_conflict(conn, source, country, unit, span)
        if conflict is not None:
            raise IngestError(path, [], rows_read, conflict)


def _record_coverage(conn: Connection, source: str, spans: dict[str, Span], run_id: int) -> None:
    for country, (first, last) in spans.items():
        conn.execute(
            coverage_spans.insert().values(
                source=source, country=country, unit="day", first_day=first, last_day=last,
                ingest_run_id=run_id,
            )
        )  # fmt: skip


Planned = TypeVar("Planned")


class _FileKind(Protocol[Planned]):
    """What differs between event files and count files; `_apply` does the rest."""

    source: str
    rows_read: int

    def plan(self, conn: Connection) -> Planned:
        """Check the file against the store (conflicts, the removal guard) and say what it
        would change; raises IngestError or ReplacementRefused."""
        ...

    def write(self, conn: Connection, planned: Planned, run_id: int) -> None: ...

    def report(self, planned: Planned, run_id: int | None) -> IngestReport: ...

    def summary(self, result: IngestReport) -> str: ...


def ingest_file(
    engine: Engine,
    path: Path,
    *,
    source: str = "auto",
    skip_invalid: bool = False,
    dry_run: bool = False,
    replace: bool = False,
    resolver: RegionResolver | None = None,
    classifier: ActorClassifier | None = None,
    progress: ProgressCallback | None = None,
    limits: FileLimits = DEFAULT_LIMITS,
    covers: Span | None = None,
    max_removed_share: float = MAX_REMOVED_SHARE,
    before_commit: Callable[[], None] | None = None,
) -> IngestReport:
    """Validate the whole file, then apply it in one transaction (or, dry, only report).

    A file is authoritative only for what it holds (`EventScope`, `CountScope`): its source, the
    countries, regions and event types it has rows for, and the days it covers (`covers`, a
    release's years, a candidate file's month, else its first to last event). A file that
    would remove more than `max_removed_share` of the stored rows in that scope is refused
    (ReplacementRefused) unless `replace`. `before_commit` may still refuse (by raising) once
    everything is written, before it is committed. A dry run reads; it never takes the lock.
    """
    started = datetime.now(UTC)
    guard = _Guard(replace, max_removed_share)
    if aggregated_layout(read_header(path, limits)) is not None:
        if source not in {"auto", "acled"}:
            raise IngestError(path, [], 0, f"this is aggregated ACLED data, not a {source} file")
        if covers is not None:
            raise IngestError(
                path,
                [],
                0,
                "--covers is for event files: counts cover the periods they have rows for",
            )
        counts = _CountFile(path, read_counts(path, limits), resolver or default_resolver(),
                            skip_invalid, dry_run, guard)  # fmt: skip
        return _apply(engine, path, counts, started, dry_run, before_commit)
    parsed = read_events(path, source, progress, limits)
    events = _EventFile(path, parsed, resolver or default_resolver(), classifier, skip_invalid,
                        dry_run, guard, covers, progress)  # fmt: skip
    return _apply(engine, path, events, started, dry_run, before_commit)


def _apply(
    engine: Engine,
    path: Path,
    kind: _FileKind[Planned],
    started: datetime,
    dry_run: bool,
    before_commit: Callable[[], None] | None,
) -> IngestReport:
    """Plan (and, unless dry, write) a validated file in one transaction, recorded as a run."""
    if dry_run:
        with engine.connect() as conn:
            return kind.report(kind.plan(conn), None)
    digest = file_sha256(path)
    with write_transaction(engine) as conn:
        # Planned under the write lock, so concurrent ingests cannot both insert.
        planned = kind.plan(conn)
        run_id = _start_run(conn, kind.source, path, digest, started, kind.rows_read)
        kind.write(conn, planned, run_id)
        result = kind.report(planned, run_id)
        _finish_run(conn, run_id, result)
        if before_commit is not None:
            before_commit()
    log.info("ingested %s: %s", path.name, kind.summary(result))
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


@dataclass(frozen=True)
class _Guard:
    """Whether a file may remove more of its scope than `max_removed_share`."""

    replace: bool
    max_removed_share: float

    def check(
        self, path: Path, rows_read: int, removed: Counter[str], stored: Counter[str], what: str
    ) -> None:
        refusal = removal_refusal(removed, stored, what, self.max_removed_share)
        if refusal is not None and not self.replace:
            raise ReplacementRefused(path, rows_read, refusal)


def _valid_or_refused(
    path: Path, errors: RowErrors, rows_read: int, found: int, skip_invalid: bool, none: str
) -> None:
    """Every row valid (or `skip_invalid`), and at least one to store."""
    if errors and not skip_invalid:
        raise IngestError(path, errors, rows_read)
    if not found and errors:
        raise IngestError(path, errors, rows_read)
    if not found:  # no row was wrong: say why there is nothing, not that line 1 is invalid
        raise IngestError(path, [], rows_read, none)


def _none_known(undefined: Counter[str], what: str) -> str:
    """Why a file had nothing to store: no valid rows, or rows of undefined countries only."""
    if not undefined:
        return f"no {what}"
    countries = ", ".join(f"{c} ({n} rows)" for c, n in undefined.most_common(5))
    return (
        f"no {what} of a defined country; {countries} have no definition: add one with "
        "`threatcast countries add`"
    )


class _EventFile:
    """An event file (UCDP, GTD, ACLED events): rows by source id, diffed with the store."""

    def __init__(
        self,
        path: Path,
        parsed: ParsedFile,
        resolver: RegionResolver,
        classifier: ActorClassifier | None,
        skip_invalid: bool,
        dry_run: bool,
        guard: _Guard,
        covers: Span | None,
        progress: ProgressCallback | None,
    ) -> None:
        self.path, self.source, self.rows_read = path, parsed.source, parsed.rows_read
        self.dry_run, self.guard, self.progress = dry_run, guard, progress
        canonical = _canonical_rows(parsed.events, resolver, classifier)
        self.rows, self.ignored = canonical.rows, canonical.undefined
        self.district_checks = canonical.district_checks
        self.errors = parsed.errors
        self.errors.extend(canonical.errors)
        _valid_or_refused(path, self.errors, self.rows_read, len(self.rows), skip_invalid,
                          _none_known(self.ignored, "valid rows"))  # fmt: skip
        by_country: dict[str, list[dict[str, Any]]] = {}
        for row in self.rows.values():
            by_country.setdefault(row["country"], []).append(row)
        self.scopes = [
            EventScope(
                country,
                covers or _event_span(country_rows, parsed.source, path.name),
                frozenset(row["region"] for row in country_rows),
                None if parsed.source in _ALL_TYPES_SOURCES
                else frozenset(row["event_type"] for row in country_rows),
            )
            for country, country_rows in sorted(by_country.items())
        ]  # fmt: skip
        # Coverage says a period's violence is known; a file with no organized violence in a
        # country (an ACLED export cut to protests) says nothing of it.
        self.spans = {
            scope.country: scope.span for scope in self.scopes
            if any(row["violence_type"] is not None for row in by_country[scope.country])
        }  # fmt: skip

    def plan(self, conn: Connection) -> _Diff:
        _refuse_unit_conflicts(conn, self.path, self.rows_read, self.source, "day", self.spans)
        diff = _diff(conn, self.source, self.rows, self.scopes)
        self.guard.check(self.path, self.rows_read, diff.missing_by_region, diff.in_scope, "events")
        return diff

    def write(self, conn: Connection, planned: _Diff, run_id: int) -> None:
        _write(conn, planned, run_id, self.progress)
        _record_coverage(conn, self.source, self.spans, run_id)

    def report(self, planned: _Diff, run_id: int | None) -> IngestReport:
        rows = self.rows.values()
        unknown_admin1 = Counter(
            row["admin1"] for row in rows if row["region"] is None and row["admin1"]
        )
        return IngestReport(
            file=self.path.name,
            source=self.source,
            rows_read=self.rows_read,
            valid=len(self.rows),
            added=len(planned.added),
            updated=len(planned.changed),
            unchanged=planned.unchanged,
            missing_now=len(planned.missing_ids),
            unresolved=sum(row["region"] is None for row in rows),
            placed_by_point=sum(row["region_method"] == "point" for row in rows),
            skipped=tuple(self.errors.kept()),
            unknown_admin1=dict(unknown_admin1.most_common()),
            dry_run=self.dry_run,
            run_id=run_id,
            covers={c: f"{a.isoformat()}..{b.isoformat()}" for c, (a, b) in self.spans.items()},
            invalid=len(self.errors),
            scope={scope.country: scope.describe() for scope in self.scopes},
            ignored_countries=dict(self.ignored.most_common()),
            districts=dict(Counter(self.district_checks.values())),
            district_disagreements=dict(
                Counter(
                    f"{row['admin2']} -> {row['district']}"
                    for source_id, row in self.rows.items()
                    if self.district_checks.get(source_id) == DistrictCheck.NAME_DISAGREES
                ).most_common(SHOWN_ERRORS)
            ),
        )

    def summary(self, result: IngestReport) -> str:
        return (
            f"{result.added} added, {result.updated} updated, {result.unchanged} unchanged, "
            f"{result.missing_now} missing now, {result.unresolved} unresolved"
        )


@dataclass(frozen=True)
class _CountPlan:
    by_country: dict[str, CountChanges]


class _CountFile:
    """An aggregated count file (ACLED aggregated, HDX): cells per country, unit and period."""

    def __init__(
        self,
        path: Path,
        parsed: ParsedCounts,
        resolver: RegionResolver,
        skip_invalid: bool,
        dry_run: bool,
        guard: _Guard,
    ) -> None:
        self.path, self.parsed, self.source = path, parsed, parsed.source
        self.rows_read, self.dry_run, self.guard = parsed.rows_read, dry_run, guard
        self.by_country, resolve_errors, self.ignored = resolve_counts(parsed, resolver)
        self.errors = parsed.errors
        self.errors.extend(resolve_errors)
        _valid_or_refused(path, self.errors, self.rows_read, len(self.by_country), skip_invalid,
                          _none_known(self.ignored, "rows"))  # fmt: skip
        self.scopes = {
            country: CountScope.of(rows, parsed.unit, parsed.event_types)
            for country, rows in self.by_country.items()
        }
        self.spans = {c: scope.span for c, scope in self.scopes.items() if scope.covers_violence}

    def plan(self, conn: Connection) -> _CountPlan:
        unit = self.parsed.unit
        _refuse_unit_conflicts(conn, self.path, self.rows_read, self.source, unit, self.spans)
        planned = {
            country: compare_counts(conn, self.source, country, unit, self.scopes[country], rows)
            for country, rows in self.by_country.items()
        }
        removed, stored = Counter[str](), Counter[str]()
        for country, changes in planned.items():
            removed.update({f"{country} {r}": n for r, n in changes.removed_by_region.items()})
            stored.update({f"{country} {r}": n for r, n in changes.in_scope.items()})
        self.guard.check(self.path, self.rows_read, removed, stored, "cells")
        return _CountPlan(planned)

    def write(self, conn: Connection, planned: _CountPlan, run_id: int) -> None:
        for country, rows in self.by_country.items():
            replace_counts(
                conn, self.source, country, self.parsed.unit, self.scopes[country], rows,
                planned.by_country[country], run_id,
            )  # fmt: skip

    def report(self, planned: _CountPlan, run_id: int | None) -> IngestReport:
        totals = Counter[str]()
        periods: set[str] = set()
        for changes in planned.by_country.values():
            totals.update(added=changes.added, changed=changes.changed,
                          unchanged=changes.unchanged, removed=changes.removed)  # fmt: skip
            periods.update(changes.periods_changed)
        return IngestReport(
            file=self.path.name, source=self.source, rows_read=self.rows_read,
            valid=sum(len(rows) for rows in self.by_country.values()), added=totals["added"],
            updated=totals["changed"], unchanged=totals["unchanged"],
            missing_now=totals["removed"], unresolved=0, placed_by_point=0,
            skipped=tuple(self.errors.kept()), dry_run=self.dry_run, run_id=run_id,
            kind="counts", unit=self.parsed.unit,
            covers={c: f"{a.isoformat()}..{b.isoformat()}" for c, (a, b) in self.spans.items()},
            periods_changed=tuple(sorted(periods)), ignored_countries=dict(self.ignored),
            invalid=len(self.errors), scope={c: s.describe() for c, s in self.scopes.items()},
        )  # fmt: skip

    def summary(self, result: IngestReport) -> str:
        return (
            f"{self.parsed.layout} counts: {result.added} cells added, {result.updated} changed, "
            f"{result.missing_now} removed, {result.unchanged} unchanged"
        )
