"""Loading files and folders into Documents: the entry point of the corpus layer."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from corpus.errors import LoadError
from corpus.parse import (
    SUPPORTED_SUFFIXES,
    doc_id_of,
    document_from_bytes,
    read_file,
    suffix_of,
    unsupported_reason,
    without_format_chars,
)
from corpus.records import Document
from corpus.sandbox import shared_worker

__all__ = [
    "SUPPORTED_SUFFIXES",
    "LoadError",
    "LoadIssue",
    "LoadResult",
    "document_from_bytes",
    "load_corpus",
    "load_document",
    "read_file",
    "without_format_chars",
]

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
    if suffix_of(source) not in SUPPORTED_SUFFIXES:
        raise LoadError(unsupported_reason(suffix_of(source)))
    return _parse_file(path, source, doc_id_of(source), isolated)


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
    stems = Counter(doc_id_of(source) for source, _ in files if suffix_of(source) in SUPPORTED_SUFFIXES)
    result = LoadResult()
    for source, path in files:
        doc_id = source if stems[doc_id_of(source)] > 1 else doc_id_of(source)
        try:
            result.documents.append(_parse_file(path, source, doc_id, isolated))
        except LoadError as exc:
            result.errors.append(LoadIssue(source, str(exc)))
        except Exception:  # a parser bug on one odd file must not lose the whole corpus
            logging.getLogger(__name__).warning("parsing %s failed", source, exc_info=True)
            result.errors.append(LoadIssue(source, "读取时出错：文件可能已损坏，或内容与扩展名不符"))
    return result


def _parse_file(path: Path, source: str, doc_id: str, isolated: bool) -> Document:
    if suffix_of(source) not in SUPPORTED_SUFFIXES:
        raise LoadError(unsupported_reason(suffix_of(source)))
    if not isolated:
        return document_from_bytes(read_file(path), source, doc_id)
    return shared_worker().load(path, source, doc_id)


def _ignored(relative: Path) -> bool:
    """Hidden files and folders, Office lock files (~$报告.docx) and OS clutter."""
    return any(part.startswith((".", "~$")) for part in relative.parts) or relative.name.lower() in _SYSTEM_FILES
