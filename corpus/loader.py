"""Loading files and folders into Documents: the entry point of the corpus layer."""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from corpus.docx_loader import parse_docx
from corpus.errors import LoadError
from corpus.html_loader import parse_html
from corpus.laws import GIVEN_KEYS, LEGAL_KEYS, is_law, law_blocks, law_metadata, legal_metadata
from corpus.pdf_loader import parse_pdf
from corpus.records import Document
from corpus.structure import Parsed, assemble, clean_line
from corpus.text_loader import parse_markdown, parse_plain_text

__all__ = [
    "SUPPORTED_SUFFIXES",
    "LoadError",
    "LoadIssue",
    "LoadResult",
    "document_from_bytes",
    "load_corpus",
    "load_document",
    "read_file",
]

_PARSERS: dict[str, Callable[[bytes], Parsed]] = {
    ".txt": parse_plain_text,
    ".md": parse_markdown,
    ".markdown": parse_markdown,
    ".html": parse_html,
    ".htm": parse_html,
    ".docx": parse_docx,
    ".pdf": parse_pdf,
}
SUPPORTED_SUFFIXES: frozenset[str] = frozenset(_PARSERS)

# Formats people will drop into the folder, with what to do instead.
_UNSUPPORTED_HINTS = {
    ".doc": "旧版 Word .doc 格式不支持，请在 Word 或 WPS 中另存为 .docx",
    ".wps": "WPS 文字 .wps 格式不支持，请另存为 .docx",
    ".rtf": "RTF 格式不支持，请另存为 .docx 或 .txt",
    ".xls": "表格文件不支持",
    ".xlsx": "表格文件不支持",
    ".ppt": "演示文稿不支持",
    ".pptx": "演示文稿不支持",
    ".png": "图片不支持（不支持 OCR）",
    ".jpg": "图片不支持（不支持 OCR）",
    ".jpeg": "图片不支持（不支持 OCR）",
}
# Files the operating system leaves in folders; nobody means them as documents.
_SYSTEM_FILES = {"thumbs.db", "desktop.ini"}


@dataclass(frozen=True)
class LoadIssue:
    """A file that was not loaded: its path relative to the corpus folder, and why."""

    path: str
    reason: str


@dataclass
class LoadResult:
    documents: list[Document] = field(default_factory=list)
    errors: list[LoadIssue] = field(default_factory=list)


def load_document(path: Path, root: Path, isolated: bool = True) -> Document:
    """The Document of one file; its doc_id and source are its path relative to `root`.

    Raises LoadError (with a reason for the user) if the file cannot be loaded.
    With `isolated` (the default) the file is parsed in the worker process of
    `corpus.sandbox`, under its memory and time limits.
    """
    source = path.relative_to(root).as_posix()
    if _suffix(source) not in SUPPORTED_SUFFIXES:
        raise LoadError(_unsupported_reason(_suffix(source)))
    return _parse_file(path, source, _doc_id(source), isolated)


def document_from_bytes(data: bytes, source: str, doc_id: str | None = None) -> Document:
    """The Document of a file's content; `source` is its relative path (with
    suffix), which picks the format and gives the default doc_id (without suffix)."""
    suffix = _suffix(source)
    parser = _PARSERS.get(suffix)
    if parser is None:
        raise LoadError(_unsupported_reason(suffix))
    if not data.strip():
        raise LoadError("文件是空的")
    return _to_document(parser(data), source, doc_id or _doc_id(source))


def load_corpus(folder: Path, isolated: bool = True) -> LoadResult:
    """Every document under `folder`, recursively, in sorted path order; a file
    that cannot be loaded (or hits a limit of the worker process, see
    `load_document`) is reported in `errors` and the rest still loads."""
    folder = Path(folder)
    if not folder.is_dir():
        raise LoadError(f"语料目录不存在或不是文件夹：{folder}")
    files = sorted(
        (path.relative_to(folder).as_posix(), path)
        for path in folder.rglob("*")
        if path.is_file() and not _ignored(path.relative_to(folder))
    )
    # Two files differing only in suffix (a.txt, a.md) keep their suffix in the
    # doc_id, so that ids stay unique and still do not depend on load order.
    stems = Counter(_doc_id(source) for source, _ in files if _suffix(source) in SUPPORTED_SUFFIXES)
    result = LoadResult()
    for source, path in files:
        doc_id = source if stems[_doc_id(source)] > 1 else _doc_id(source)
        try:
            result.documents.append(_parse_file(path, source, doc_id, isolated))
        except LoadError as exc:
            result.errors.append(LoadIssue(source, str(exc)))
        except Exception as exc:  # a parser bug on one odd file must not lose the whole corpus
            result.errors.append(LoadIssue(source, f"读取时出错（{type(exc).__name__}: {exc}）"))
    return result


def _to_document(parsed: Parsed, source: str, doc_id: str) -> Document:
    path = PurePosixPath(source)
    title = clean_line(parsed.title) or path.stem
    metadata = dict(parsed.metadata)
    blocks = parsed.blocks
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


def _parse_file(path: Path, source: str, doc_id: str, isolated: bool) -> Document:
    if _suffix(source) not in SUPPORTED_SUFFIXES:
        raise LoadError(_unsupported_reason(_suffix(source)))
    if not isolated:
        return document_from_bytes(read_file(path), source, doc_id)
    from corpus.sandbox import shared_worker  # imported late: the worker itself imports this module

    return shared_worker().load(path, source, doc_id)


def read_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise LoadError(f"无法读取文件：{exc.strerror or exc}") from exc


def _unsupported_reason(suffix: str) -> str:
    supported = "、".join(sorted(SUPPORTED_SUFFIXES))
    hint = _UNSUPPORTED_HINTS.get(suffix, f"不支持的文件类型 {suffix or '（无扩展名）'}")
    return f"{hint}（支持的类型：{supported}）"


def _ignored(relative: Path) -> bool:
    """Hidden files and folders, Office lock files (~$报告.docx) and OS clutter."""
    return any(part.startswith((".", "~$")) for part in relative.parts) or relative.name.lower() in _SYSTEM_FILES


def _doc_id(source: str) -> str:
    path = PurePosixPath(source)
    return without_format_chars(path.with_suffix("").as_posix() if path.suffix else source)


def without_format_chars(text: str) -> str:
    """`text` without Unicode format characters (category Cf: the right-to-left override
    U+202E, zero-width spaces and joiners, BOMs …). In a file name or a document id they
    are invisible, and can make one look like another (「报告‮txt.exe」) on the admin page
    and in citations."""
    return "".join(ch for ch in text if unicodedata.category(ch) != "Cf")


def _suffix(source: str) -> str:
    return PurePosixPath(source).suffix.lower()
