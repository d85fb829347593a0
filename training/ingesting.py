"""Ingest a data file and score what its data now settle, as one step.

Every path that stores new data (the CLI, uploads run as jobs, the inbox) comes through here, so
the track record never waits for someone to remember `threatcast track-record update`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from events.coverage import Span
from events.ingest import MAX_REMOVED_SHARE, IngestReport, ingest_file
from events.sources import ProgressCallback
from events.sources.base import DEFAULT_LIMITS, FileLimits
from training.track_record import Recorded, record_outcomes


@dataclass(frozen=True)
class Ingested:
    report: IngestReport
    # None for a dry run, which stores nothing.
    recorded: Recorded | None


def ingest_and_record(
    engine: Engine,
    path: Path,
    *,
    source: str = "auto",
    skip_invalid: bool = False,
    dry_run: bool = False,
    replace: bool = False,
    progress: ProgressCallback | None = None,
    limits: FileLimits = DEFAULT_LIMITS,
    covers: Span | None = None,
    max_removed_share: float = MAX_REMOVED_SHARE,
    before_commit: Callable[[], None] | None = None,
) -> Ingested:
    """`events.ingest.ingest_file`, then the outcomes its data let us score."""
    report = ingest_file(
        engine, path, source=source, skip_invalid=skip_invalid, dry_run=dry_run,
        replace=replace, progress=progress, limits=limits, covers=covers,
        max_removed_share=max_removed_share, before_commit=before_commit,
    )  # fmt: skip
    return Ingested(report, None if dry_run else record_outcomes(engine))
