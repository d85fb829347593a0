"""Ingestion into the event store: counts, revisions, atomicity and concurrency, on both backends."""

from __future__ import annotations

import csv
import gzip
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from events.ingest import IngestError, IngestReport, ingest_file
from events.tables import event_rows, ingest_runs
from tests.conftest import DATA
from tests.real_data import GED_20_1, GED_22_1

GED_22 = GED_22_1
GED_20 = GED_20_1
# Ids in GED 20.1 that GED 22.1 no longer has.
DROPPED_IN_22_1 = {"53301", "59413", "61689", "258780"}


def _count(engine: Engine, *conditions: object) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count()).select_from(event_rows).where(*conditions)
            ).scalar_one()
        )  # type: ignore[arg-type]


def _snapshot(engine: Engine) -> list[tuple[object, ...]]:
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(select(event_rows).order_by(event_rows.c.id))]


def test_ged_22_1_stores_every_event_and_resolves_provinces_by_name(engine: Engine) -> None:
    report = ingest_file(engine, GED_22)

    assert (report.rows_read, report.added, report.unresolved) == (6416, 6416, 45)
    assert _count(engine) == 6416
    assert _count(engine, event_rows.c.region_method == "name") == 6371
    assert _count(engine, event_rows.c.region == "PK-KP") == 4741
    # The unresolved events are the LoC and country-level ones: centroids, not places.
    with engine.connect() as conn:
        precisions = set(
            conn.execute(
                select(event_rows.c.location_precision).where(event_rows.c.region.is_(None))
            ).scalars()
        )
    assert precisions == {5, 6}


def test_stored_event_keeps_the_canonical_fields(engine: Engine) -> None:
    ingest_file(engine, GED_22)
    with engine.connect() as conn:
        sehwan = conn.execute(select(event_rows).where(event_rows.c.source_id == "238104")).one()
    assert sehwan.source == "ucdp"
    assert str(sehwan.date_start) == "2017-02-16"
    assert (sehwan.country, sehwan.region, sehwan.admin2) == ("PAK", "PK-SD", "Jamshoro district")
    assert (sehwan.violence_type, sehwan.actor_group) == (3, "iskp")
    assert (sehwan.fatalities_best, sehwan.civilian_deaths) == (88, 88)


def test_newer_release_adds_updates_and_reports_missing_events(engine: Engine) -> None:
    first = ingest_file(engine, GED_20)
    second = ingest_file(engine, GED_22)
    third = ingest_file(engine, GED_22)

    assert (first.added, first.updated, first.missing_now) == (5834, 0, 0)
    # 53 shared events were revised in substance (fatalities, coordinates, precision, civilian
    # deaths); 452 more differ only by trailing spaces in actor names, which is no revision.
    assert (second.added, second.updated, second.missing_now) == (586, 53, 4)
    assert second.unchanged == 6416 - 586 - 53
    assert (third.added, third.updated, third.missing_now, third.unchanged) == (0, 0, 0, 6416)
    assert _count(engine) == 5834 + 586
    with engine.connect() as conn:
        withdrawn = set(
            conn.execute(
                select(event_rows.c.source_id).where(event_rows.c.withdrawn_at.is_not(None))
            ).scalars()
        )
    assert withdrawn == DROPPED_IN_22_1


def test_revised_fatalities_are_updated_in_place(engine: Engine) -> None:
    ingest_file(engine, GED_20)
    ingest_file(engine, GED_22)
    with engine.connect() as conn:
        revised = conn.execute(select(event_rows).where(event_rows.c.source_id == "59645")).one()
    # GED 20.1 counted 2 deaths in this event, GED 22.1 counts 1.
    assert (revised.fatalities_best, revised.fatalities_low, revised.fatalities_high) == (1, 1, 1)
    assert revised.ingest_run_id == 2


def test_a_bad_row_rejects_the_whole_file_with_its_line_and_reason(
    engine: Engine, tmp_path: Path
) -> None:
    ingest_file(engine, GED_20)
    before = _snapshot(engine)
    with gzip.open(GED_22, "rt", encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    header = rows[0]
    rows[100][header.index("best")] = "-3"  # file line 101
    rows[2000][header.index("date_start")] = "2019-13-45 00:00:00.000"
    path = tmp_path / "ged_broken.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(rows)

    # Some earlier rows have quoted line breaks, so the file line is not the row number.
    text_lines = path.read_text(encoding="utf-8").splitlines()
    date_line = next(n for n, text in enumerate(text_lines, 1) if "2019-13-45" in text)
    assert date_line > 2001

    with pytest.raises(IngestError) as rejected:
        ingest_file(engine, path)

    assert [(e.line, e.reason) for e in rejected.value.errors] == [
        (101, "best must be at least 0, got -3"),
        (date_line, "date_start is not a valid date: '2019-13-45 00:00:00.000'"),
    ]
    assert "line 101" in str(rejected.value) and "nothing was stored" in str(rejected.value)
    assert _snapshot(engine) == before

    report = ingest_file(engine, path, skip_invalid=True)
    assert [e.line for e in report.skipped] == [101, date_line]
    assert report.valid == 6414


def test_duplicate_ids_in_one_file_are_invalid_rows(engine: Engine, tmp_path: Path) -> None:
    lines = (DATA / "ucdp_candidate_sample.csv").read_text(encoding="utf-8").splitlines()
    path = tmp_path / "dup.csv"
    path.write_text("\n".join([*lines, lines[3]]) + "\n", encoding="utf-8")
    with pytest.raises(IngestError) as rejected:
        ingest_file(engine, path)
    assert (
        str(rejected.value.errors[0])
        == f"line 9: id {lines[3].split(',')[0]} already appears on line 4"
    )
    assert _count(engine) == 0


def test_dry_run_reports_without_writing(engine: Engine) -> None:
    ingest_file(engine, GED_20)
    report = ingest_file(engine, GED_22, dry_run=True)
    assert (report.added, report.updated, report.missing_now, report.dry_run) == (586, 53, 4, True)
    assert _count(engine) == 5834
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(ingest_runs)).scalar_one() == 1


def test_every_ingest_is_recorded_with_its_counts(engine: Engine) -> None:
    ingest_file(engine, GED_20)
    ingest_file(engine, GED_22)
    with engine.connect() as conn:
        runs = conn.execute(select(ingest_runs).order_by(ingest_runs.c.id)).all()
    assert [(r.file_name, r.added, r.updated, r.missing_now) for r in runs] == [
        (GED_20.name, 5834, 0, 0),
        (GED_22.name, 586, 53, 4),
    ]
    assert all(len(r.file_sha256) == 64 and r.finished_at >= r.started_at for r in runs)


def test_concurrent_ingests_of_one_file_store_each_event_once(engine: Engine) -> None:
    reports: list[IngestReport] = []
    failures: list[BaseException] = []

    def run() -> None:
        try:
            reports.append(ingest_file(engine, GED_22))
        except BaseException as exc:  # pragma: no cover - reported by the assertion below
            failures.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    assert sorted(r.added for r in reports) == [0, 6416]
    assert _count(engine) == 6416


@pytest.mark.parametrize("fixture", ["gtd_pakistan_sample.csv", "acled_pakistan_sample.csv"])
def test_gtd_and_acled_files_resolve_to_regions(engine: Engine, fixture: str) -> None:
    report = ingest_file(engine, DATA / fixture)
    assert (report.added, report.unresolved) == (6, 0)
    assert _count(engine, event_rows.c.region.is_(None)) == 0


@pytest.mark.integration
def test_killed_ingest_leaves_the_store_as_it_was(database_url: str, engine: Engine) -> None:
    ingest_file(engine, GED_20)
    before = _snapshot(engine)
    env = {**os.environ, "THREATCAST_DATABASE_URL": database_url, "THREATCAST_LOG_LEVEL": "INFO"}
    process = subprocess.Popen(
        [sys.executable, "-m", "service", "ingest", str(GED_22)],
        env=env,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    assert process.stderr is not None
    for line in process.stderr:
        if "writing:" in line:  # the first chunk is written, the transaction is open
            process.send_signal(signal.SIGKILL)
            break
    process.wait(timeout=60)

    assert process.returncode == -signal.SIGKILL
    assert _snapshot(engine) == before
    # The store is usable afterwards: no lock or half transaction is left behind.
    assert ingest_file(engine, GED_22).added == 586
