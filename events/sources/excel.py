"""Rows of an Excel workbook (.xlsx) as the CSV reader would give them, by openpyxl.

UCDP ships candidate files as Excel too; cells keep their Excel types (dates are dates), so each
is written back as the text the same file's CSV export holds, and one parser serves both.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

from events.sources.base import FileTooLarge, SourceFormatError

XLSX_MAGIC = b"PK\x03\x04"


def is_xlsx(path: Path) -> bool:
    with path.open("rb") as probe:
        return probe.read(4) == XLSX_MAGIC and path.suffix.lower() == ".xlsx"


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def excel_rows(path: Path, limit: int | None) -> Iterator[tuple[int, list[str]]]:
    """(sheet row number, cells as text) of the workbook's first sheet, header first. The text
    read is bounded by `limit` (a zip of gigabytes of cells costs at most that)."""
    from openpyxl import load_workbook  # only Excel files need it

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise SourceFormatError(f"not a readable Excel workbook ({type(exc).__name__})") from None
    try:
        sheet = workbook.worksheets[0]
        read = 0
        for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
            row = [_text(value) for value in values]
            read += sum(len(cell) + 1 for cell in row)
            if limit is not None and read > limit:
                raise FileTooLarge(f"the workbook's text is larger than {limit} bytes", number)
            yield number, row
    finally:
        workbook.close()
