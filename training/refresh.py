"""Refresh as an operation: ingest every new file dropped in the inbox, then queue a retrain of
each series it changed, through the promotion gate.

Files move to `done/` once stored or to `rejected/` with a `.reason.txt` beside them (the
ingest error, with line numbers). A refused file stores nothing. Files still being written
(names starting with a dot, or ending in .part or .tmp) are left for the next run, and one
refresh runs at a time per inbox.
"""

from __future__ import annotations

import fcntl
import logging
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine

from events.ingest import IngestError, IngestReport, ingest_file
from events.periods import Frequency
from events.series import Series
from events.sources import ProgressLog, SourceFormatError
from training import jobs, registry
from training.config import TrainingConfig
from training.track_record import record_outcomes

log = logging.getLogger(__name__)
_IN_PROGRESS = (".part", ".tmp")


class RefreshBusy(RuntimeError):
    """Another refresh holds this inbox."""


@dataclass
class RefreshResult:
    ingested: list[tuple[str, IngestReport]] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)
    queued: list[tuple[str, int]] = field(default_factory=list)


@contextmanager
def _inbox_lock(inbox: Path) -> Iterator[None]:
    with (inbox / ".refresh.lock").open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RefreshBusy(f"another refresh is running on {inbox}") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _move(path: Path, folder: Path) -> Path:
    """Into `folder`, never over an earlier file of the same name."""
    folder.mkdir(exist_ok=True)
    target = folder / path.name
    if target.exists():
        target = folder / f"{datetime.now(UTC):%Y%m%dT%H%M%S%f}-{path.name}"
    return Path(shutil.move(path, target))


def pending_files(inbox: Path) -> list[Path]:
    return sorted(
        p
        for p in inbox.iterdir()
        if p.is_file() and not p.name.startswith(".") and not p.name.endswith(_IN_PROGRESS)
    )


def _changed(report: IngestReport) -> bool:
    return bool(report.added or report.updated or report.missing_now)


def series_to_retrain(engine: Engine, changed: set[tuple[str, str]]) -> list[Series]:
    """For each (country, source) that changed: its monthly series, and every other frequency of
    it that already has a champion."""
    champions = {mv.series for mv in registry.champions(engine)}
    chosen = []
    for country, source in sorted(changed):
        for freq in Frequency:
            series = Series(country, source, freq)
            if freq == Frequency.MONTH or series.key in champions:
                chosen.append(series)
    return chosen


def refresh_inbox(
    engine: Engine,
    inbox: Path,
    *,
    actor: str = "refresh",
    base_config: TrainingConfig | None = None,
    max_text_bytes: int | None = None,
    inline: bool = False,
) -> RefreshResult:
    """Ingest the inbox's new files in name order, then queue the retrains (or, `inline`,
    record them as running for the caller to run)."""
    inbox.mkdir(parents=True, exist_ok=True)
    result = RefreshResult()
    changed: set[tuple[str, str]] = set()
    with _inbox_lock(inbox):
        for path in pending_files(inbox):
            try:
                report = ingest_file(
                    engine, path, progress=ProgressLog(log), max_text_bytes=max_text_bytes
                )
            except (IngestError, SourceFormatError, ValueError, OSError) as exc:
                reason = f"{path.name}: {exc}" if isinstance(exc, SourceFormatError) else str(exc)
                moved = _move(path, inbox / "rejected")
                moved.with_name(moved.name + ".reason.txt").write_text(reason + "\n")
                result.rejected.append((path.name, reason))
                log.warning("refresh: rejected %s: %s", path.name, reason.splitlines()[0])
                continue
            _move(path, inbox / "done")
            result.ingested.append((path.name, report))
            if _changed(report):
                changed.update((country, report.source) for country in report.covers)
        if changed:
            record_outcomes(engine)  # issued forecasts whose targets the new data cover
        base = base_config or TrainingConfig()
        for series in series_to_retrain(engine, changed):
            values = {**base.model_dump(mode="json"), "country": series.country,
                      "source": series.source, "freq": series.freq}  # fmt: skip
            if series.freq != base.freq:  # that frequency's own default horizons
                values.update(horizons=(), backtest_horizons=())
            config = TrainingConfig.model_validate(values)
            params = {"config": config.model_dump(mode="json"), "promote": "gate"}
            start = jobs.start_inline if inline else jobs.enqueue
            result.queued.append((series.key, start(engine, "retrain", params, actor)))
    return result
