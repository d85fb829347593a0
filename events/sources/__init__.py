"""Adapters that turn event files (UCDP GED, GTD, ACLED) into canonical events."""

from events.sources.base import FileTooLarge, ParsedFile, RowError, SourceFormatError
from events.sources.reader import (
    SOURCES,
    ProgressCallback,
    ProgressLog,
    detect_source,
    read_events,
)

__all__ = [
    "SOURCES",
    "FileTooLarge",
    "ParsedFile",
    "ProgressCallback",
    "ProgressLog",
    "RowError",
    "SourceFormatError",
    "detect_source",
    "read_events",
]
