"""PDF files: the text layer, page by page, with wrapped lines rejoined into paragraphs;
pages without one (a scan) are read by OCR (corpus/image_loader.py)."""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Sequence

from pypdf import PageObject, PdfReader, apply_configuration
from pypdf.errors import LimitReachedError, PdfReadError

from corpus.errors import LoadError
from corpus.image_loader import OCR_PAGES_KEY, ocr_pdf_pages, page_blocks, restore_article_spaces
from corpus.pdf_tables import find_tables, may_have_rules, table_blocks
from corpus.structure import (
    SENTENCE_END,
    Block,
    Parsed,
    clean_line,
    heading_level,
    is_numbered_heading,
    looks_like_heading,
    starts_item,
)

# A line that reaches this share of the longest line was wrapped by the layout,
# not ended by the author.
_FULL_LINE = 0.85
_PARAGRAPH_END = SENTENCE_END + ".：:”’」』）)"
_PAGE_NUMBER = re.compile(r"^(?:[-–—\s]*\d{1,4}[-–—\s]*|第\s*\d+\s*页(?:\s*[/／，,]?\s*共\s*\d+\s*页)?|\d+\s*/\s*\d+)$")
_JUNK_TITLE = re.compile(r"^(?:untitled|无标题|microsoft word\s*-|document\d*$)", re.IGNORECASE)
_ASCII_WORD_END = re.compile(r"[A-Za-z0-9,.;:)]$")
_ASCII_WORD_START = re.compile(r"^[A-Za-z0-9(]")
# Decompression bomb guards: no stream of a text document inflates to more than this
# (pypdf's own default is 75 MB per stream, and unlimited per file).
STREAM_BYTES = 32 * 1024 * 1024
FILE_DECODED_BYTES = 256 * 1024 * 1024  # all the page content of one file


def parse_pdf(data: bytes) -> Parsed:
    limits = {
        "zlib_maximum_output_length": STREAM_BYTES,
        "lzw_maximum_output_length": STREAM_BYTES,
        "run_length_maximum_output_length": STREAM_BYTES,
        "brotli_maximum_output_length": STREAM_BYTES,
        "array_based_stream_maximum_output_length": STREAM_BYTES,
        "stream_decoding_work_maximum_length": STREAM_BYTES * 2,
    }
    with apply_configuration(**limits):
        return _parse(data)


def _parse(data: bytes) -> Parsed:
    reader = _reader(data)
    decoded = 0
    pages = []
    ruled = []
    for number, page in enumerate(reader.pages, start=1):
        lines = _page_lines(page)
        decoded += sum(len(line) for line in lines)
        if decoded > FILE_DECODED_BYTES:
            raise LoadError(f"PDF 的文字内容超过 {FILE_DECODED_BYTES // 2**20} MB，疑似恶意构造的文件，已拒绝")
        pages.append(lines)
        if lines and may_have_rules(_content(page)):
            ruled.append(number)
    tables = find_tables(data, ruled) if ruled else {}
    width = max((len(line) for lines in pages for line in lines), default=0)
    blank = [number for number, lines in enumerate(pages, start=1) if not lines]
    scanned = {n: lines for n, lines in ocr_pdf_pages(data, blank, len(pages))} if blank else {}
    blocks: list[Block] = []
    for number, lines in enumerate(pages, start=1):
        if number in scanned:
            blocks.extend(page_blocks([(number, scanned[number])]))
            continue
        if number in tables:
            blocks.extend(_table_page_blocks(tables[number].items, number, width))
            continue
        blocks.extend(_paragraph_blocks(lines, number, width))
    if scanned:
        blocks = restore_article_spaces(blocks)
    if not blocks:
        raise LoadError("PDF 中没有可提取的文字：没有文本层，文字识别（OCR）也没有识别出文字")
    metadata = {"format": "pdf", "pages": str(len(reader.pages))}
    if read := sorted({b.page for b in blocks if b.page in scanned}):
        metadata[OCR_PAGES_KEY] = ",".join(map(str, read))
    info = _info(reader)
    if info.get("author"):
        metadata["author"] = info["author"]
    if info.get("date"):
        metadata["date"] = info["date"]
    title = info.get("title", "")
    if not title and looks_like_heading(blocks[0].text) and len(blocks) > 1:
        title, blocks = blocks[0].text, blocks[1:]
    return Parsed(blocks, title, metadata)


def _paragraph_blocks(lines: Sequence[str], number: int, width: int) -> list[Block]:
    blocks = []
    for paragraph in join_wrapped_lines(lines, width):
        level = heading_level(paragraph) if is_numbered_heading(paragraph) else 0
        blocks.append(Block(paragraph, level, number))
    return blocks


def _table_page_blocks(items: Sequence[tuple[str, object]], number: int, width: int) -> list[Block]:
    """A page with ruled tables: its text outside them as paragraphs, each table as rows, in
    the order they stand on the page."""
    blocks: list[Block] = []
    run: list[str] = []
    count = 0
    for kind, value in items:
        if kind == "text":
            line = clean_line(str(value))
            if line and not _PAGE_NUMBER.match(line):
                run.append(line)
            continue
        blocks.extend(_paragraph_blocks(run, number, width))
        run = []
        count += 1
        blocks.extend(table_blocks(value, number, count))  # type: ignore[arg-type]
    blocks.extend(_paragraph_blocks(run, number, width))
    return blocks


def _content(page: PageObject) -> bytes:
    try:
        contents = page.get_contents()
        return contents.get_data() if contents is not None else b""
    except Exception:  # a broken stream was already reported as lost text; no tables either
        return b""


def join_wrapped_lines(lines: Sequence[str], width: int | None = None) -> list[str]:
    """Paragraphs from the visual lines of one page: a line continues the
    previous one when that one ran to the full `width` (in characters; by
    default the longest line's) without ending a sentence, and this one does not
    open an item (第X条, （一）, 1.). Too short a width estimate only leaves
    paragraphs split, which is harmless; too long would glue headings to prose."""
    if not lines:
        return []
    full = (width or max(len(line) for line in lines)) * _FULL_LINE
    paragraphs = [lines[0]]
    previous = lines[0]
    for line in lines[1:]:
        continues = (
            len(previous) >= full
            and previous[-1] not in _PARAGRAPH_END
            and not starts_item(line)
            and not is_numbered_heading(previous)
            and not is_numbered_heading(line)
        )
        if continues:
            glue = " " if _ASCII_WORD_END.search(previous) and _ASCII_WORD_START.match(line) else ""
            paragraphs[-1] += glue + line
        else:
            paragraphs.append(line)
        previous = line
    return paragraphs


def _page_lines(page: PageObject) -> list[str]:
    try:
        text = page.extract_text() or ""
    except LimitReachedError as exc:
        raise LoadError(f"PDF 中的数据流解压后超过 {STREAM_BYTES // 2**20} MB，疑似压缩炸弹，已拒绝") from exc
    except Exception:  # pypdf raises many types on a broken page; lose that page only
        return []
    lines = (clean_line(line) for line in text.splitlines())
    return [line for line in lines if line and not _PAGE_NUMBER.match(line)]


BROKEN = "PDF 文件已损坏，无法读取"


def _reader(data: bytes) -> PdfReader:
    # pypdf logs every recoverable oddity of a damaged file; the LoadError says enough.
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    # A PDF says so in its first 1024 bytes (as readers accept it): anything else, a program or a
    # Word file renamed .pdf, is not a damaged PDF but no PDF at all, and the admin is told which.
    if b"%PDF-" not in data[:1024]:
        raise LoadError("不是 PDF 文件（内容并非 PDF 格式，可能是把其他文件改成了 .pdf 扩展名）")
    try:
        reader = PdfReader(io.BytesIO(data))
    except Exception as exc:  # pypdf has no single error type for a broken file; its names are not for readers
        raise LoadError(BROKEN) from exc
    if reader.is_encrypted:
        try:
            opened = reader.decrypt("")  # many PDFs are "encrypted" with an empty password
        except Exception:  # an unsupported cipher is as unreadable as a password
            opened = False
        if not opened:
            raise LoadError("PDF 已加密，需要密码才能读取")
    try:
        len(reader.pages)  # reading the page tree is where a truncated file fails
    except Exception as exc:
        raise LoadError(BROKEN) from exc
    return reader


def _info(reader: PdfReader) -> dict[str, str]:
    try:
        info = reader.metadata
    except PdfReadError:
        return {}
    if info is None:
        return {}
    result: dict[str, str] = {}
    title = clean_line(str(info.title or ""))
    if title and not _JUNK_TITLE.match(title):
        result["title"] = title
    author = clean_line(str(info.author or ""))
    if author:
        result["author"] = author
    try:
        created = info.creation_date
    except ValueError:
        created = None  # a malformed date string is common and harmless
    if created:
        result["date"] = created.date().isoformat()
    return result
