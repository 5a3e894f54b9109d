"""Ruled tables in PDFs with a text layer, kept as rows (issue 20): each row 「列名：值，…」 under
「第N页表格K / 第M行」, as spreadsheets are, and the page's other text read around the tables.

pdfplumber (pdfminer.six) finds tables from their ruling lines. It is slow next to pypdf, so
it runs only on pages whose content stream draws lines or rectangles, and within a page and
time budget: a long law PDF stays far inside the parsing sandbox's per-file limit (pages past
the budget keep pypdf's text, tables read as plain lines, as before)."""

from __future__ import annotations

import io
import logging
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass

from corpus.rows import row_text
from corpus.structure import Block, clean_line

MAX_PAGES = 200  # pages with ruling lines looked at per file (about 30 ms each when plain)
BUDGET_SECONDS = 15.0  # well under the sandbox's 60 s per file, leaving room for the rest
MAX_COLUMNS = 50
# A path operator: `re` (rectangle) or `l` (line to) after numbers, as a page draws rules.
_DRAWS = re.compile(rb"[\d.]\s+(?:re|l)\s")


@dataclass
class PageTables:
    """A page's content in reading order: ("text", line) and ("table", rows) items."""

    items: list[tuple[str, object]]


def may_have_rules(content: bytes) -> bool:
    """Whether a page's decoded content stream draws lines or rectangles (cheap pre-filter)."""
    return bool(_DRAWS.search(content))


def find_tables(data: bytes, pages: Iterable[int]) -> dict[int, PageTables]:
    """{page number: its text lines and tables} for those of `pages` (1-based) with at least one
    ruled table of two or more rows; other pages are left to the caller's own text."""
    try:
        import pdfplumber
    except ImportError:  # an install without it reads tables as lines, as before
        return {}
    logging.getLogger("pdfminer").setLevel(logging.ERROR)
    found: dict[int, PageTables] = {}
    started = time.monotonic()
    try:
        pdf = pdfplumber.open(io.BytesIO(data))
    except Exception:  # pdfminer fails in its own ways on files pypdf reads; keep pypdf's text
        return {}
    with pdf:
        for looked, number in enumerate(pages):
            if looked >= MAX_PAGES or time.monotonic() - started > BUDGET_SECONDS:
                break
            try:
                page = pdf.pages[number - 1]
                if not (page.lines or page.rects):
                    continue
                items = _page_items(page)
            except Exception:  # a page pdfminer cannot read keeps pypdf's text
                continue
            if items is not None:
                found[number] = PageTables(items)
            page.close()
    return found


def _page_items(page) -> list[tuple[str, object]] | None:
    tables = [t for t in page.find_tables() if len(t.rows) >= 2]
    if not tables:
        return None
    boxes = [t.bbox for t in tables]

    def outside(obj) -> bool:
        if obj.get("object_type") != "char":
            return True
        x = (obj["x0"] + obj["x1"]) / 2
        y = (obj["top"] + obj["bottom"]) / 2
        return not any(x0 <= x <= x1 and top <= y <= bottom for x0, top, x1, bottom in boxes)

    placed: list[tuple[float, str, object]] = []
    for line in page.filter(outside).extract_text_lines():
        placed.append((line["top"], "text", line["text"]))
    for table in tables:
        rows = [[cell or "" for cell in row] for row in table.extract()]
        placed.append((table.bbox[1], "table", rows))
    placed.sort(key=lambda item: item[0])
    return [(kind, value) for _, kind, value in placed]


def table_blocks(rows: list[list[str]], page: int, index: int, level: int = 3) -> list[Block]:
    """「第N页表格K」 over 「第M行」 over 「列名：值，…」 per data row (M counts the header as 1, as a
    spreadsheet would); the first non-empty row is the header."""
    cleaned = [[clean_line(c) for c in row][:MAX_COLUMNS] for row in rows]
    numbered = [(n, row) for n, row in enumerate(cleaned, start=1) if any(row)]
    if not numbered:
        return []
    header = numbered[0][1]
    blocks: list[Block] = []
    for number, row in numbered[1:]:
        if text := row_text(header, row):
            blocks.append(Block(f"第{number}行", level + 1, page))
            blocks.append(Block(text, 0, page))
    if not blocks:
        blocks.append(Block("，".join(c for c in header if c), 0, page))
    return [Block(f"第{page}页表格{index}", level, page), *blocks]
