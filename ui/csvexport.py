"""CSV for spreadsheets, safe to open: a cell that starts like a formula (= + - @, or a
tab or carriage return that some spreadsheets skip before one) gets a leading ' so it is
shown as text, never evaluated (CSV injection). The file starts with a UTF-8 BOM, so
Excel reads the Chinese text as UTF-8."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
BOM = "\ufeff"


def safe_cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_lines(header: list[str], rows: Iterable[Iterable[object]]) -> Iterator[str]:
    """The CSV text, a chunk of lines at a time (a large log is streamed, not built in memory)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    buffer.write(BOM)
    writer.writerow([safe_cell(h) for h in header])
    for i, row in enumerate(rows, 1):
        writer.writerow([safe_cell(cell) for cell in row])
        if i % 1000 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
