"""Rows of an Excel workbook (.xlsx) as the CSV reader would give them, by openpyxl.

UCDP ships candidate files as Excel too; cells keep their Excel types (dates are dates), so each
is written back as the text the same file's CSV export holds, and one parser serves both.
A workbook is a zip of XML: its members' inflated size, compression and string table are
checked before openpyxl reads it, and whatever a damaged workbook raises is a SourceFormatError.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import IO
from xml.etree.ElementTree import iterparse

from events.sources.base import FileLimits, FileTooLarge, SourceFormatError, excerpt

XLSX_MAGIC = b"PK\x03\x04"
_COMPRESSIONS = frozenset({zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED})
_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"


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


def _unreadable(exc: BaseException) -> SourceFormatError:
    return SourceFormatError(f"not a readable Excel workbook ({type(exc).__name__})")


def _check_archive(path: Path, limits: FileLimits) -> None:
    """Refuse a workbook that would cost more than `limits` before openpyxl inflates it: members
    past the text limit, an unknown compression, or a string table past its limit."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            if limits.text_bytes is not None:
                inflated = sum(member.file_size for member in members)
                if inflated > limits.text_bytes:
                    raise FileTooLarge(
                        f"the workbook inflates to more than {limits.text_bytes} bytes"
                    )
            unknown = [m.filename for m in members if m.compress_type not in _COMPRESSIONS]
            if unknown:
                raise SourceFormatError(
                    f"not a readable Excel workbook ({excerpt(unknown[0])} uses an unknown "
                    "compression)"
                )
            for member in members:
                if member.filename.lower().endswith("sharedstrings.xml"):
                    with archive.open(member) as xml:
                        _count_strings(xml, limits.shared_strings)
    except SourceFormatError:
        raise
    except Exception as exc:  # a damaged zip or XML raises many kinds; each is a bad file
        raise _unreadable(exc) from None


def _count_strings(xml: IO[bytes], limit: int) -> None:
    count = 0
    for _, element in iterparse(xml, events=("end",)):
        if element.tag == f"{_MAIN}si":
            count += 1
            if count > limit:
                raise FileTooLarge(
                    f"the workbook's string table holds more than {limit} strings (the string "
                    "limit); save the sheet as CSV"
                )
        element.clear()


def _bad_date_cell(path: Path, sheet: object) -> str | None:
    """The reference (e.g. 'C7') of the first date cell whose text is not a date, if any."""
    from openpyxl.utils.datetime import from_ISO8601

    try:
        with zipfile.ZipFile(path) as archive, archive.open(sheet._worksheet_path) as xml:  # type: ignore[attr-defined]
            for _, element in iterparse(xml, events=("end",)):
                if element.tag != f"{_MAIN}c":
                    continue
                if element.get("t") == "d":
                    try:
                        from_ISO8601(element.findtext(f"{_MAIN}v") or "")
                    except ValueError:
                        return excerpt(element.get("r") or "?", 12).strip("'")
                element.clear()
    except Exception:  # only a better message was at stake
        return None
    return None


def excel_rows(path: Path, limits: FileLimits) -> Iterator[tuple[int, list[str]]]:
    """(sheet row number, cells as text) of the workbook's first sheet, header first. The text
    read is bounded by the limits (a zip of gigabytes of cells costs at most that)."""
    from openpyxl import load_workbook  # only Excel files need it

    _check_archive(path, limits)
    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # as above: whatever a damaged workbook raises
        raise _unreadable(exc) from None
    number = 0
    try:
        sheet = workbook.worksheets[0]
        read = 0
        values_by_row = sheet.iter_rows(values_only=True)
        while True:
            try:
                values = next(values_by_row)
            except StopIteration:
                return
            except Exception as exc:  # a cell openpyxl cannot convert (a bad date, say)
                cell = _bad_date_cell(path, sheet)
                where = f"cell {cell}" if cell else f"a cell of sheet row {number + 1} or after"
                raise SourceFormatError(
                    f"{where} cannot be read ({excerpt(exc, 80)})", number + 1
                ) from None
            number += 1
            row = [_text(value) for value in values]
            read += sum(len(cell) + 1 for cell in row)
            if limits.text_bytes is not None and read > limits.text_bytes:
                raise FileTooLarge(
                    f"the workbook's text is larger than {limits.text_bytes} bytes", number
                )
            yield number, row
    finally:
        workbook.close()
