"""Spreadsheets (.xlsx, .xls, .csv) and tables: each row a passage 「列名：值，列名：值」.

A sheet is a heading (工作表“会费标准”) and each row a sub-heading (第3行) over its passage,
so a row is a chunk of its own and a citation names its sheet and row:
「工作表“会费标准” / 第3行」. Row numbers are the spreadsheet's own, as the reader sees them.
"""

from __future__ import annotations

import csv
import io
import zipfile
import zlib
from collections.abc import Iterable, Sequence

from corpus.docx_loader import check_zip
from corpus.errors import LoadError
from corpus.rows import row_text
from corpus.structure import Block, Parsed, clean_line

MAX_ROWS = 20_000  # per file; a register larger than this is a database, not a document
MAX_COLUMNS = 200


def sheet_blocks(name: str, rows: Iterable[tuple[int, Sequence[str]]], level: int = 1) -> list[Block]:
    """A sheet's blocks: its name as a heading (if any), then per data row 「第N行」 over
    「列名：值，…」. `rows` are (row number, cells); the first non-empty row is the header."""
    blocks: list[Block] = []
    header: list[str] | None = None
    for number, cells in rows:
        cells = [clean_line(str(c)) if c is not None else "" for c in cells][:MAX_COLUMNS]
        while cells and not cells[-1]:
            cells.pop()
        if not cells:
            continue
        if header is None:
            header = cells
            continue
        text = row_text(header, cells)
        if text:
            blocks.append(Block(f"第{number}行", level + 1 if name else level))
            blocks.append(Block(text))
    if header is not None and not blocks:
        # a sheet of one row (a list of names): the row itself is the passage
        blocks.append(Block("，".join(c for c in header if c)))
    if name and blocks:
        blocks.insert(0, Block(f"工作表“{name}”", level))
    return blocks


def _limited(rows: Iterable[tuple[int, Sequence[str]]], counted: list[int]) -> Iterable[tuple[int, Sequence[str]]]:
    for row in rows:
        counted[0] += 1
        if counted[0] > MAX_ROWS:
            raise LoadError(f"表格超过 {MAX_ROWS} 行的上限，请拆分后再添加")
        yield row


def _parsed(blocks: list[Block], kind: str, sheets: int) -> Parsed:
    if not blocks:
        raise LoadError("表格中没有内容")
    return Parsed(blocks, "", {"format": kind, "sheets": str(sheets)})


def parse_xlsx(data: bytes) -> Parsed:
    check_zip(data, ".xlsx")
    import openpyxl

    counted = [0]
    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        blocks: list[Block] = []
        names = book.sheetnames
        for name in names:
            sheet = book[name]
            rows = ((n, [_cell(v) for v in row]) for n, row in enumerate(sheet.iter_rows(values_only=True), start=1))
            blocks.extend(sheet_blocks(clean_line(name), _limited(rows, counted)))
        book.close()
    except LoadError:
        raise
    except (zipfile.BadZipFile, KeyError, ValueError, TypeError, zlib.error, EOFError, OSError) as exc:
        raise LoadError("不是有效的 .xlsx 文件（文件已损坏，或并非 Excel 2007 及以上格式）") from exc
    except Exception as exc:  # openpyxl lets many XML errors through on a damaged part
        raise LoadError("不是有效的 .xlsx 文件（文件已损坏，无法读取）") from exc
    return _parsed(blocks, "xlsx", len(names))


def parse_xls(data: bytes) -> Parsed:
    import xlrd

    counted = [0]
    try:
        book = xlrd.open_workbook(file_contents=data, on_demand=True, logfile=io.StringIO())
        blocks = []
        for index in range(book.nsheets):
            sheet = book.sheet_by_index(index)
            rows = ((n + 1, [_cell(v) for v in sheet.row_values(n)]) for n in range(sheet.nrows))
            blocks.extend(sheet_blocks(clean_line(sheet.name), _limited(rows, counted)))
            book.unload_sheet(index)
        sheets = book.nsheets
    except LoadError:
        raise
    except Exception as exc:  # xlrd raises XLRDError, struct.error, IndexError … on a damaged file
        raise LoadError("不是有效的 .xls 文件（文件已损坏，或并非 Excel 97-2003 格式）") from exc
    return _parsed(blocks, "xls", sheets)


def parse_csv(data: bytes) -> Parsed:
    from corpus.encoding import decode_bytes

    text = decode_bytes(data)
    sample = text[:4096]
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",;\t|，")
    except csv.Error:
        dialect = csv.excel
    counted = [0]
    try:
        rows = enumerate(csv.reader(io.StringIO(text), dialect), start=1)
        blocks = sheet_blocks("", _limited(rows, counted))
    except csv.Error as exc:
        raise LoadError(f"CSV 文件格式有误：{exc}") from exc
    return _parsed(blocks, "csv", 1)


def _cell(value: object) -> str:
    """A cell as the reader sees it: 120.0 → 120, dates without a midnight time."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if hasattr(value, "isoformat"):
        text = value.isoformat()
        return text[:10] if text.endswith("T00:00:00") else text
    return str(value)
