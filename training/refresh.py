"""Refresh as an operation: ingest every new file dropped in the inbox, then queue a retrain of
each series it changed, through the promotion gate.

The inbox is a drop folder, not a way in: refresh follows no symbolic link, reads only regular
files it has moved into a private folder, and opens its lock and reason files so that nothing
planted there can redirect them. A file is taken only once it is complete: renamed into the
inbox after it was written, or unchanged for `settle_s`; one that changes while it is read
stores nothing. Files move to `done/` once stored, to `held/` when applying them would remove
more stored data than a file may (ingest it with --replace after checking), and to `rejected/`
whatever else they raise; a `.reason.txt` beside them says why. One refresh runs at a time per
inbox.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine

from events.ingest import (
    MAX_REMOVED_SHARE,
    IngestError,
    IngestReport,
    ReplacementRefused,
    ingest_file,
)
from events.periods import Frequency
from events.series import Series
from events.sources import ProgressLog, SourceFormatError
from events.sources.base import DEFAULT_LIMITS, FileLimits, excerpt
from training import jobs, registry
from training.config import TrainingConfig
from training.job_params import RetrainParams
from training.track_record import record_outcomes

log = logging.getLogger(__name__)
_IN_PROGRESS = (".part", ".tmp")
PROCESSING, DONE, HELD, REJECTED = ".processing", "done", "held", "rejected"
_PRIVATE = 0o700
_REASON_MODE = 0o600


class RefreshBusy(RuntimeError):
    """Another refresh holds this inbox."""


class InboxError(RuntimeError):
    """The inbox or one of its folders is not what refresh may write to."""


@dataclass
class RefreshResult:
    ingested: list[tuple[str, IngestReport]] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)
    held: list[tuple[str, str]] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)
    queued: list[tuple[str, int]] = field(default_factory=list)


def _folder(path: Path) -> Path:
    """A real directory (created private), never a link to somewhere else."""
    try:
        path.mkdir(mode=_PRIVATE, exist_ok=True)
        info = os.lstat(path)
    except OSError as exc:
        raise InboxError(f"{path} cannot be used: {exc.strerror}") from None
    if not stat.S_ISDIR(info.st_mode):
        raise InboxError(f"{path} is not a directory (a link or a file); refresh will not use it")
    return path


@contextmanager
def _inbox_lock(inbox: Path) -> Iterator[None]:
    path = inbox / ".refresh.lock"
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, _REASON_MODE)  # never truncates: the file holds nothing
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise InboxError(f"{path} is a symbolic link; remove it") from None
        raise InboxError(f"{path} cannot be opened: {exc.strerror}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise InboxError(f"{path} is not a regular file; remove it")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RefreshBusy(f"another refresh is running on {inbox}") from None
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _free_name(folder: Path, name: str) -> Path:
    """A name in `folder` that neither the file nor its reason takes yet."""
    target = folder / name
    while os.path.lexists(target) or os.path.lexists(f"{target}.reason.txt"):
        target = folder / f"{datetime.now(UTC):%Y%m%dT%H%M%S%f}-{name}"
    return target


def _move(path: Path, folder: Path) -> Path:
    """Into `folder` by rename (a link is moved as a link, never followed), never over an
    earlier file of the same name."""
    target = _free_name(folder, path.name)
    os.rename(path, target)
    return target


def _write_reason(moved: Path, reason: str) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(f"{moved}.reason.txt", flags, _REASON_MODE)
    with os.fdopen(fd, "w") as handle:
        handle.write(reason + "\n")


def _in_progress(name: str) -> bool:
    return name.startswith(".") or name.endswith(_IN_PROGRESS)


def pending_files(inbox: Path) -> list[Path]:
    """Every entry refresh would look at, in name order (links and non-files included: they
    are refused, not read)."""
    with os.scandir(inbox) as entries:
        return sorted(
            Path(entry.path)
            for entry in entries
            if not _in_progress(entry.name) and not entry.is_dir(follow_symlinks=False)
        )


def _complete(info: os.stat_result, settle_s: float, now: float) -> bool:
    """Renamed (or had its times set, as cp -p and scp -p do) after its last write, or
    untouched for `settle_s`: a write sets a file's ctime and mtime together."""
    return info.st_ctime_ns > info.st_mtime_ns or now - info.st_mtime >= settle_s


def _not_a_data_file(info: os.stat_result) -> str | None:
    if stat.S_ISLNK(info.st_mode):
        return "it is a symbolic link; refresh reads only regular files dropped in the inbox"
    if not stat.S_ISREG(info.st_mode):
        return "it is not a regular file; refresh reads only regular files dropped in the inbox"
    if info.st_nlink > 1:
        return "it has other hard links; copy the file into the inbox instead"
    return None


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


def _reason(exc: BaseException, name: str) -> str:
    """What a refused file's reason says: our own errors in full (they quote at most short
    excerpts of the file), anything else by its kind only."""
    if isinstance(exc, IngestError):
        return str(exc)
    if isinstance(exc, SourceFormatError):
        return f"{name}: {exc}"
    if isinstance(exc, OSError):
        return f"{name}: the file could not be read ({exc.strerror or type(exc).__name__})"
    return f"{name}: the file could not be read ({type(exc).__name__}: {excerpt(exc, 80)})"


class _Changed(Exception):
    """The file changed while it was read."""


def _take(
    engine: Engine,
    inbox: Path,
    path: Path,
    result: RefreshResult,
    *,
    settle_s: float,
    limits: FileLimits,
    max_removed_share: float,
) -> IngestReport | None:
    """Ingest one inbox entry, or move it aside with its reason; never raises for the file."""
    name = path.name
    info = os.lstat(path)
    refusal = _not_a_data_file(info)
    if refusal is None and not _complete(info, settle_s, time.time()):
        result.waiting.append(name)
        return None
    processing = _folder(inbox / PROCESSING)
    taken = _move(path, processing)
    moved_info = os.lstat(taken)
    if refusal is None and (moved_info.st_ino, moved_info.st_dev) != (info.st_ino, info.st_dev):
        refusal = "it was replaced while refresh took it"
    refusal = refusal or _not_a_data_file(moved_info)
    snapshot = (moved_info.st_size, moved_info.st_mtime_ns)

    def unchanged() -> None:
        now = os.lstat(taken)
        if (now.st_size, now.st_mtime_ns) != snapshot:
            raise _Changed

    try:
        if refusal is not None:
            raise InboxError(f"{name}: {refusal}")
        report = ingest_file(
            engine, taken, progress=ProgressLog(log), limits=limits,
            max_removed_share=max_removed_share, before_commit=unchanged,
        )  # fmt: skip
    except ReplacementRefused as exc:
        _set_aside(taken, inbox / HELD, str(exc), result.held)
        return None
    except _Changed:
        # Still being written: back into the inbox, for a later refresh to take whole.
        os.rename(taken, _free_name(inbox, name))
        result.waiting.append(name)
        return None
    except Exception as exc:  # whatever a file raises, it is set aside and the next one read
        reason = str(exc) if isinstance(exc, InboxError) else _reason(exc, name)
        _set_aside(taken, inbox / REJECTED, reason, result.rejected)
        return None
    os.rename(taken, _free_name(_folder(inbox / DONE), taken.name))
    return report


def _set_aside(path: Path, folder: Path, reason: str, into: list[tuple[str, str]]) -> None:
    moved = _move(path, _folder(folder))
    _write_reason(moved, reason)
    into.append((path.name, reason))
    log.warning("refresh: %s %s: %s", folder.name, path.name, reason.splitlines()[0])


def refresh_inbox(
    engine: Engine,
    inbox: Path,
    *,
    actor: str = "refresh",
    base_config: TrainingConfig | None = None,
    limits: FileLimits = DEFAULT_LIMITS,
    settle_s: float = 60.0,
    max_removed_share: float = MAX_REMOVED_SHARE,
    inline: bool = False,
) -> RefreshResult:
    """Ingest the inbox's new files in name order, then queue the retrains (or, `inline`,
    record them as running for the caller to run)."""
    inbox.mkdir(mode=_PRIVATE, parents=True, exist_ok=True)
    _folder(inbox)
    result = RefreshResult()
    changed: set[tuple[str, str]] = set()
    with _inbox_lock(inbox):
        for path in pending_files(inbox):
            report = _take(
                engine, inbox, path, result, settle_s=settle_s, limits=limits,
                max_removed_share=max_removed_share,
            )  # fmt: skip
            if report is None:
                continue
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
            start = jobs.start_inline if inline else jobs.enqueue
            result.queued.append((series.key, start(engine, RetrainParams(config=config), actor)))
    return result
