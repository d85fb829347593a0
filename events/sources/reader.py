"""Reads an event file (CSV, optionally gzip, or an Excel workbook) through the adapter for its
source."""

from __future__ import annotations

import csv
import gzip
import io
import logging
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any, BinaryIO, TextIO, cast

from events.sources.acled import AcledAdapter
from events.sources.base import (
    DEFAULT_LIMITS,
    FileLimits,
    FileTooLarge,
    ParsedFile,
    RowError,
    RowErrors,
    SourceAdapter,
    SourceFormatError,
    excerpt,
    future_limit,
    missing_columns,
)
from events.sources.excel import excel_rows, is_xlsx
from events.sources.gtd import GtdAdapter
from events.sources.ucdp import UcdpAdapter

log = logging.getLogger(__name__)

SOURCES: dict[str, SourceAdapter] = {
    a.name: a for a in (UcdpAdapter(), GtdAdapter(), AcledAdapter())
}
ProgressCallback = Callable[[str, int, int | None], None]


class ProgressLog:
    """A ProgressCallback that logs long work about every tenth of the way (each call when the
    total is unknown)."""

    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger
        self._last: dict[str, int] = {}

    def __call__(self, stage: str, done: int, total: int | None) -> None:
        step = done * 10 // total if total else done
        if self._last.get(stage) != step:
            self._last[stage] = step
            self._logger.info("%s: %d%s rows", stage, done, f"/{total}" if total else "")


_PROGRESS_EVERY_ROWS = 20_000
_GZIP_MAGIC = b"\x1f\x8b"


class _Bounded(io.RawIOBase):
    """A binary stream that refuses to yield more than `limit` bytes: a small gzip that inflates
    to gigabytes costs at most `limit` of reading, never the whole bomb."""

    def __init__(self, raw: BinaryIO, limit: int) -> None:
        self.raw, self.limit, self.read_so_far = raw, limit, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.raw.read(min(len(buffer), self.limit - self.read_so_far + 1))
        self.read_so_far += len(data)
        if self.read_so_far > self.limit:
            raise FileTooLarge(f"the file's text is larger than {self.limit} bytes")
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self.raw.close()
        super().close()


def _open_text(path: Path, limit: int | None) -> TextIO:
    with path.open("rb") as probe:
        compressed = probe.read(2) == _GZIP_MAGIC
    raw = cast(BinaryIO, gzip.open(path, "rb") if compressed else path.open("rb"))  # noqa: SIM115 (wrapped, closed by caller)
    stream = cast(BinaryIO, io.BufferedReader(_Bounded(raw, limit))) if limit is not None else raw
    # utf-8-sig drops the byte-order mark spreadsheet exports put in front of the header.
    return io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")


def _is_hxl_row(row: Sequence[str]) -> bool:
    """HDX extracts put a row of HXL hashtags (#date+year, ...) under the header."""
    cells = [cell.strip() for cell in row if cell.strip()]
    return bool(cells) and all(cell.startswith("#") for cell in cells)


def detect_source(header: Sequence[str]) -> SourceAdapter:
    """The adapter whose required columns the header has."""
    for adapter in SOURCES.values():
        if not missing_columns(adapter, header):
            return adapter
    preview = ", ".join(excerpt(name, 24) for name in header[:6]) + (
        ", ..." if len(header) > 6 else ""
    )
    raise SourceFormatError(
        f"unknown column layout ({preview}); expected a UCDP GED, GTD or ACLED export, ACLED aggregated data or an HDX monthly file"
    )


def _csv_rows(handle: TextIO) -> Iterator[tuple[int, list[str]]]:
    """Rows of a CSV file with the line each starts on (a quoted field may span lines)."""
    reader: Any = csv.reader(handle)
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise SourceFormatError(f"not a readable CSV row: {exc}", start) from exc
        yield start, row


def _counted(
    rows: Iterator[tuple[int, list[str]]], limits: FileLimits
) -> Iterator[tuple[int, list[str]]]:
    """The rows, refused past the row or cell limit (blank rows count: they cost reading too)."""
    cells = 0
    for number, (line, row) in enumerate(rows, start=1):
        cells += len(row)
        if number > limits.rows:
            raise FileTooLarge(f"the file has more than {limits.rows} rows (the row limit)", line)
        if cells > limits.cells:
            raise FileTooLarge(
                f"the file has more than {limits.cells} cells (the cell limit)", line
            )
        yield line, row


@contextmanager
def table_rows(
    path: Path, limits: FileLimits = DEFAULT_LIMITS
) -> Iterator[Iterator[tuple[int, list[str]]]]:
    """(line, cells) of a CSV (optionally gzip) or Excel file, header first, within `limits`; a
    file that cannot be read as text or a workbook raises SourceFormatError."""
    if is_xlsx(path):
        yield _counted(excel_rows(path, limits), limits)
        return
    try:
        with _open_text(path, limits.text_bytes) as handle:
            yield _counted(_csv_rows(handle), limits)
    except UnicodeDecodeError as exc:
        raise SourceFormatError(f"not UTF-8 text ({exc.reason})") from exc
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise SourceFormatError(f"damaged gzip file ({type(exc).__name__})") from exc


def read_header(path: Path, limits: FileLimits = DEFAULT_LIMITS) -> list[str]:
    """The file's column names."""
    with table_rows(path, limits) as rows:
        for _, first in rows:
            return [name.strip() for name in first]
    raise SourceFormatError("the file is empty")


def data_rows(rows: Iterator[tuple[int, list[str]]], width: int) -> Iterator[tuple[int, list[str]]]:
    """Rows after the header: HDX's hashtag row and blank rows skipped, and a trailing empty
    field (the UCDP web export ends every row with a comma) dropped."""
    for line, row in rows:
        if line == 2 and _is_hxl_row(row):
            continue
        if not any(cell.strip() for cell in row):
            continue
        if len(row) > width and not any(cell.strip() for cell in row[width:]):
            row = row[:width]
        yield line, row


def read_events(
    path: Path,
    source: str = "auto",
    progress: ProgressCallback | None = None,
    limits: FileLimits = DEFAULT_LIMITS,
) -> ParsedFile:
    """Parse every row of the file; bad rows become RowErrors, never exceptions.

    Raises SourceFormatError when the file as a whole cannot be read, FileTooLarge when it
    is past one of `limits`.
    """
    if source != "auto" and source not in SOURCES:
        raise ValueError(f"unknown source {excerpt(source)}; use auto, {', '.join(SOURCES)}")
    with table_rows(path, limits) as rows:
        return _parse(rows, source, progress, limits)


def future_date_error(day: date, name: str) -> str | None:
    """Why a date a file names cannot be data yet (it is after tomorrow), or None."""
    limit = future_limit()
    if day > limit:
        return f"{name} {day.isoformat()} is in the future (the latest accepted is {limit})"
    return None


def _parse(
    rows: Iterator[tuple[int, list[str]]],
    source: str,
    progress: ProgressCallback | None,
    limits: FileLimits,
) -> ParsedFile:
    try:
        _, first = next(rows)
    except StopIteration:
        raise SourceFormatError("the file is empty") from None
    header = [name.strip() for name in first]
    if source == "auto":
        adapter = detect_source(header)
    else:
        adapter = SOURCES[source]
        missing = missing_columns(adapter, header)
        if missing:
            raise SourceFormatError(f"not a {source} file: missing columns {', '.join(missing)}")
    parsed = ParsedFile(source=adapter.name, errors=RowErrors(limits.kept_errors))
    width = len(header)
    for line, row in data_rows(rows, width):
        parsed.rows_read += 1
        if progress is not None and parsed.rows_read % _PROGRESS_EVERY_ROWS == 0:
            progress("parsing", parsed.rows_read, None)
        if len(row) != width:
            parsed.errors.append(RowError(line, f"row has {len(row)} fields, header has {width}"))
            continue
        try:
            event = adapter.parse_row(dict(zip(header, row, strict=True)))
        except ValueError as exc:
            parsed.errors.append(RowError(line, str(exc)))
            continue
        future = future_date_error(event.date_end, "the event's date")
        if future is not None:
            parsed.errors.append(RowError(line, future))
            continue
        parsed.events.append((line, event))
    if parsed.rows_read == 0:
        raise SourceFormatError("the file has a header but no event rows")
    log.debug("read %d rows of %s, %d invalid", parsed.rows_read, adapter.name, len(parsed.errors))
    return parsed
