"""A file's content into a Document: the format's parser, then the law or notice metadata and
the assembled text. Shared by the loader (corpus/loader.py), which decides where and how a file
is read, and by the parse worker (corpus/sandbox.py), which reads it under limits; the loader
starts the worker, so what both need lives here, below both.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path, PurePosixPath

from corpus.docx_loader import parse_docx
from corpus.errors import LoadError
from corpus.html_loader import parse_html
from corpus.image_loader import parse_image
from corpus.laws import GIVEN_KEYS, LEGAL_KEYS, is_law, law_blocks, law_metadata, legal_metadata
from corpus.magic import check_content
from corpus.office_convert import parse_legacy_word
from corpus.pdf_loader import parse_pdf
from corpus.records import Document
from corpus.red_header import red_header
from corpus.slides_loader import parse_pptx
from corpus.structure import Parsed, assemble, clean_line
from corpus.table_loader import parse_csv, parse_xls, parse_xlsx
from corpus.text_loader import parse_markdown, parse_plain_text

_PARSERS: dict[str, Callable[[bytes], Parsed]] = {
    ".txt": parse_plain_text,
    ".md": parse_markdown,
    ".markdown": parse_markdown,
    ".html": parse_html,
    ".htm": parse_html,
    ".docx": parse_docx,
    ".pdf": parse_pdf,
    ".doc": partial(parse_legacy_word, suffix=".doc"),
    ".wps": partial(parse_legacy_word, suffix=".wps"),
    ".xlsx": parse_xlsx,
    ".xls": parse_xls,
    ".csv": parse_csv,
    ".pptx": parse_pptx,
    ".png": parse_image,
    ".jpg": parse_image,
    ".jpeg": parse_image,
    ".tif": parse_image,
    ".tiff": parse_image,
}
SUPPORTED_SUFFIXES: frozenset[str] = frozenset(_PARSERS)

# Formats people will drop into the folder, with what to do instead.
_UNSUPPORTED_HINTS = {
    ".rtf": "RTF 格式不支持，请另存为 .docx 或 .txt",
    ".ppt": "旧版演示文稿 .ppt 不支持，请另存为 .pptx",
    ".et": "WPS 表格 .et 格式不支持，请另存为 .xlsx",
    ".dps": "WPS 演示 .dps 格式不支持，请另存为 .pptx",
    ".gif": "GIF 图片不支持，请另存为 .png 或 .jpg",
    ".bmp": "BMP 图片不支持，请另存为 .png 或 .jpg",
}
def document_from_bytes(data: bytes, source: str, doc_id: str | None = None) -> Document:
    """The Document of a file's content; `source` is its relative path (with
    suffix), which picks the format and gives the default doc_id (without suffix)."""
    suffix = suffix_of(source)
    parser = _PARSERS.get(suffix)
    if parser is None:
        raise LoadError(unsupported_reason(suffix))
    if not data.strip():
        raise LoadError("文件是空的")
    check_content(data, suffix)
    return _to_document(parser(data), source, doc_id or doc_id_of(source))


def _to_document(parsed: Parsed, source: str, doc_id: str) -> Document:
    path = PurePosixPath(source)
    metadata = dict(parsed.metadata)
    blocks = parsed.blocks
    parsed_title = parsed.title
    if found := red_header(clean_line(parsed.title), blocks):
        # an official document: its header is its title and metadata, not its text
        header, blocks = found
        parsed_title = header.title or parsed.title
        metadata.update(header.metadata())
        parsed = replace(parsed, metadata={**parsed.metadata, **header.metadata()})
    title = clean_line(parsed_title) or path.stem
    if is_law(blocks):
        blocks = law_blocks(blocks)
        # the last articles say when the law takes effect (「本法自…起施行」)
        body = "\n".join(b.text for b in blocks[-5:])
        read = law_metadata(title, path.name, metadata.get("preamble", ""), body, given=parsed.metadata)
        for key, value in read.items():
            # the legal keys already weigh the front matter (and normalize it: 上海 → 上海市)
            if key in LEGAL_KEYS:
                metadata[key] = value
            else:
                metadata.setdefault(key, value)
    elif GIVEN_KEYS & set(metadata):
        # a notice or a policy whose front matter says where and at what rank it applies
        metadata.update(legal_metadata(title, metadata.get("preamble", ""), given=parsed.metadata))
    text, paragraphs = assemble(blocks)
    if all(p.is_heading for p in paragraphs):
        raise LoadError("没有正文内容（文件里只有空白或标题）")
    return Document(doc_id, title, source, text, paragraphs, metadata)


def read_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise LoadError(f"无法读取文件：{exc.strerror or exc}") from exc


def unsupported_reason(suffix: str) -> str:
    supported = "、".join(sorted(SUPPORTED_SUFFIXES))
    hint = _UNSUPPORTED_HINTS.get(suffix, f"不支持的文件类型 {suffix or '（无扩展名）'}")
    return f"{hint}（支持的类型：{supported}）"


def doc_id_of(source: str) -> str:
    path = PurePosixPath(source)
    return without_format_chars(path.with_suffix("").as_posix() if path.suffix else source)


def without_format_chars(text: str) -> str:
    """`text` without Unicode format characters (category Cf: the right-to-left override
    U+202E, zero-width spaces and joiners, BOMs …). In a file name or a document id they
    are invisible, and can make one look like another (「报告\u202etxt.exe」) on the admin page
    and in citations."""
    return "".join(ch for ch in text if unicodedata.category(ch) != "Cf")


def suffix_of(source: str) -> str:
    return PurePosixPath(source).suffix.lower()
