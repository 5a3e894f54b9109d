"""Word .docx files: paragraphs and tables in reading order, Heading styles as sections."""

from __future__ import annotations

import io
import re
import zipfile
import zlib
from datetime import datetime

import docx
from docx.opc.exceptions import PackageNotFoundError
from docx.table import Table
from docx.text.paragraph import Paragraph as DocxParagraph
from lxml import etree

from corpus.errors import LoadError
from corpus.rows import table_rows
from corpus.structure import Block, Parsed, clean_line, pop_title

# Word stores built-in style names in English whatever the UI language; WPS and
# some converters write the Chinese names.
_HEADING_STYLE = re.compile(r"^(?:heading|标题)\s*(\d)$", re.IGNORECASE)
_TITLE_STYLES = {"title", "标题"}
# Zip bomb guards, checked on the sizes the archive declares before any part is read
# (Python's zipfile never inflates an entry past its declared size). A real .docx
# of a few hundred pages has a document.xml of a few MB, compressed about 10:1.
MAX_PART_BYTES = 200 * 1024 * 1024
MAX_TOTAL_BYTES = 400 * 1024 * 1024
MAX_RATIO = 100  # uncompressed / compressed, for parts over RATIO_FROM_BYTES
RATIO_FROM_BYTES = 5 * 1024 * 1024


# What python-docx lets through from a damaged archive or part (found by tests/test_fuzz.py).
_DAMAGED = (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError, zlib.error, EOFError, etree.XMLSyntaxError)


def parse_docx(data: bytes) -> Parsed:
    check_zip(data)
    try:
        return _parse(data)
    except _DAMAGED as exc:
        raise LoadError("不是有效的 .docx 文件（文件已损坏，或并非 Word 2007 及以上格式）") from exc


def _parse(data: bytes) -> Parsed:
    document = docx.Document(io.BytesIO(data))
    blocks: list[Block] = []
    for item in document.iter_inner_content():
        if isinstance(item, DocxParagraph):
            blocks.append(Block(item.text, _heading_level(item)))
        elif isinstance(item, Table):
            blocks.extend(Block(row) for row in table_rows(_table_cells(item)))
    blocks = [b for b in blocks if clean_line(b.text)]
    properties = document.core_properties
    metadata = {"format": "docx"}
    if properties.author:
        metadata["author"] = clean_line(properties.author)
    if date := _date(properties.created) or _date(properties.modified):
        metadata["date"] = date
    if properties.subject:
        metadata["subject"] = clean_line(properties.subject)
    heading_title, rest = pop_title(blocks)
    core_title = clean_line(properties.title or "")
    if heading_title and (not core_title or clean_line(heading_title) == core_title):
        return Parsed(rest, clean_line(heading_title), metadata)
    return Parsed(blocks, core_title or clean_line(heading_title), metadata)


def check_zip(data: bytes, kind: str = ".docx") -> None:
    """Refuse a zip archive whose parts would unpack to too much (a zip bomb),
    from the sizes in its central directory, before anything is decompressed."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise LoadError(f"不是有效的 {kind} 文件（文件已损坏，或并非 Office 2007 及以上格式）") from exc
    total = 0
    for entry in entries:
        total += entry.file_size
        ratio = entry.file_size / max(entry.compress_size, 1)
        if entry.file_size > MAX_PART_BYTES or (entry.file_size > RATIO_FROM_BYTES and ratio > MAX_RATIO):
            raise LoadError(
                f"文件中的 {entry.filename} 解压后有 {entry.file_size / 2**20:.0f} MB"
                f"（压缩比 {ratio:.0f}:1），疑似压缩炸弹，已拒绝"
            )
    if total > MAX_TOTAL_BYTES:
        raise LoadError(f"文件解压后共 {total / 2**20:.0f} MB，超过上限 {MAX_TOTAL_BYTES // 2**20} MB，已拒绝")


def _heading_level(paragraph: DocxParagraph) -> int:
    """Title style 1, Heading N style N + 1, body 0: the title sits above every
    heading so that it, and only it, becomes the document's title."""
    try:
        name = (paragraph.style.name or "").strip() if paragraph.style is not None else ""
    except (KeyError, ValueError):
        return 0  # a style reference the file does not define: body text
    if name.lower() in _TITLE_STYLES:
        return 1
    match = _HEADING_STYLE.match(name)
    return int(match.group(1)) + 1 if match and match.group(1) != "0" else 0


def _table_cells(table: Table) -> list[list[str]]:
    """The cells of each row; a merged cell, which python-docx repeats for every grid
    column it spans, is read once. The rows become 「列名：值，…」 passages."""
    rows: list[list[str]] = []
    for row in table.rows:
        cells: list[str] = []
        previous = None
        for cell in row.cells:
            if cell._tc is previous:
                continue
            previous = cell._tc
            cells.append(clean_line(" ".join(cell.text.split("\n"))))
        rows.append(cells)
    return rows


def _date(value: datetime | None) -> str:
    return value.date().isoformat() if value else ""
