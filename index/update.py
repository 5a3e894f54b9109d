"""Changing the live index without a full rebuild: add, replace and remove documents.

`add_paths` loads files and folders and puts the new or changed documents into
the live index; `remove_documents` takes documents out. Both load the live
version, change it in memory and save a complete new version (IndexStore.save
switches CURRENT atomically), so readers never need a lock: they see the old
version or the new one. Writers take an exclusive lock on `index_dir/.lock`
for the whole load-change-save, so two of them cannot lose each other's changes.

Document ids of added files, stable across runs so that adding a file again
updates it instead of duplicating it:

- a file given by itself: ``added/<file name without suffix>``
  (``~/通知/会费.txt`` → ``added/会费``);
- a file found inside a given folder: ``added/<path relative to that folder,
  without suffix>`` (``unionqa add ~/通知`` → ``added/2024/会费`` for
  ``~/通知/2024/会费.txt``); as in the bundled corpus, the suffix is kept when
  two files of the folder differ only in their suffix.

The ``added/`` prefix keeps them apart from the ids of the corpus folder
(relative paths such as ``laws/劳动法(2018-12-29)``). A file whose id is
already in the index replaces that document: this is how a document is updated.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath

from corpus.loader import LoadError, load_corpus, load_document, without_format_chars
from corpus.records import Document
from index.build import ADDED_PREFIX, add_documents
from index.embedding.embedder import Embedder
from index.store.errors import StoreError
from index.store.folder import IndexStore
from index.store.manifest import IndexSettings
from index.store.spec import StoreSpec, has_index, load_store, new_store
from index.store.versions import writer_lock

# FileResult.status values, with how they are shown to users
STATUS_TEXT = {
    "added": "已加入",
    "updated": "已更新",
    "unchanged": "未变化，已跳过",
    "removed": "已移除",
    "error": "未能加入",
}


class DocumentNotFoundError(StoreError):
    """A document to remove that is not in the index."""


@dataclass(frozen=True)
class FileResult:
    """What happened to one file (or, for a removal, one id or path as given)."""

    name: str  # the file's path, or the id/path the user gave
    doc_id: str  # "" when the file could not be loaded
    status: str  # a key of STATUS_TEXT
    reason: str = ""  # why, for "error"
    chunks: int = 0

    def describe(self) -> str:
        text = f"{self.name}：{STATUS_TEXT[self.status]}"
        if self.status == "error":
            return f"{text}（{self.reason}）"
        if self.status in ("added", "updated"):
            return f"{text}（{self.doc_id}，{self.chunks} 个段落）"
        return f"{text}（{self.doc_id}）"


@dataclass
class UpdateReport:
    results: list[FileResult] = field(default_factory=list)
    version: str = ""  # the new live version, "" if nothing changed and nothing was saved
    created: bool = False  # there was no index: a new one was started
    seconds: float = 0.0

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.results)

    @property
    def errors(self) -> list[FileResult]:
        return [r for r in self.results if r.status == "error"]

    def summary(self) -> str:
        parts = [f"{self.count(s)} 篇{STATUS_TEXT[s]}" for s in ("added", "updated", "removed") if self.count(s)]
        if self.count("unchanged"):
            parts.append(f"{self.count('unchanged')} 篇未变化已跳过")
        if self.errors:
            parts.append(f"{len(self.errors)} 个文件未能读取")
        parts.append(f"用时 {self.seconds:.1f} 秒")
        return "，".join(parts)


# ----- locking and the live version ----------------------------------------------


def _open_store(
    index_dir: Path, settings: IndexSettings, embedder: Embedder, store: str | StoreSpec = ""
) -> tuple[IndexStore, bool]:
    """The live index, or a new empty one if there is none yet (True): only then is the
    embedder asked for its size, which may load its model (index.embedding.embedder.LazyEmbedder)."""
    if not has_index(store, index_dir):
        return new_store(store, settings, embedder.dim), True
    # A CURRENT that points nowhere is a broken index: let load say so rather than start over.
    return load_store(store, Path(index_dir), expected=settings), False


# ----- adding ---------------------------------------------------------------------


def added_id(path: Path) -> str:
    """The id `add_paths` gives a file named by itself."""
    return ADDED_PREFIX + without_format_chars(PurePosixPath(Path(path).name).stem)


def load_paths(paths: Iterable[Path]) -> tuple[list[tuple[str, Document]], list[FileResult]]:
    """The documents of the given files and folders, each with the name to report it
    by, and a FileResult for every file that could not be loaded."""
    loaded: list[tuple[str, Document]] = []
    errors: list[FileResult] = []
    for path in map(Path, paths):
        if path.is_dir():
            result = load_corpus(path)
            loaded += [(str(path / doc.source), _as_added(doc, doc.doc_id)) for doc in result.documents]
            errors += [FileResult(str(path / issue.path), "", "error", issue.reason) for issue in result.errors]
        elif path.is_file():
            try:
                doc = load_document(path, path.parent)
            except LoadError as exc:
                errors.append(FileResult(str(path), "", "error", str(exc)))
            except Exception as exc:  # a parser bug on one odd file must not stop the batch
                errors.append(FileResult(str(path), "", "error", f"读取时出错（{type(exc).__name__}: {exc}）"))
            else:
                loaded.append((str(path), _as_added(doc, PurePosixPath(doc.source).stem)))
        else:
            errors.append(FileResult(str(path), "", "error", "文件或文件夹不存在"))
    return _without_duplicate_ids(loaded, errors)


def _as_added(doc: Document, relative_id: str) -> Document:
    return replace(doc, doc_id=ADDED_PREFIX + without_format_chars(relative_id))


def _without_duplicate_ids(
    loaded: list[tuple[str, Document]], errors: list[FileResult]
) -> tuple[list[tuple[str, Document]], list[FileResult]]:
    """Two files of one batch with the same id (a.txt from two folders) would
    silently replace each other: the first one wins and the other is reported."""
    first: dict[str, str] = {}
    kept = []
    for name, doc in loaded:
        if doc.doc_id in first:
            reason = f"与 {first[doc.doc_id]} 的文档编号 {doc.doc_id} 相同，未加入（请改名后再加入）"
            errors.append(FileResult(name, "", "error", reason))
        else:
            first[doc.doc_id] = name
            kept.append((name, doc))
    return kept, errors


def add_paths(
    index_dir: Path,
    paths: Iterable[Path],
    settings: IndexSettings,
    embedder: Embedder,
    progress: bool = True,
    ann_threshold: int | None = None,
    store: str | StoreSpec = "",
) -> UpdateReport:
    """Add the files and folders to the live index (see the module docstring for
    their ids). Unchanged documents are skipped, changed ones replaced (only their
    chunks are embedded); files that cannot be loaded are reported and the rest
    still goes in. Saves a new version only if something changed. The embedder is used (and a
    lazy one loads its model) only if there is something to embed."""
    started = time.perf_counter()
    loaded, errors = load_paths(paths)
    if not loaded and not has_index(store, index_dir):
        # nothing readable and no index: nothing to start a new one with, nor any model to load
        return UpdateReport(errors, seconds=time.perf_counter() - started)
    results: list[FileResult] = []
    with writer_lock(index_dir):
        live, created = _open_store(index_dir, settings, embedder, store)
        if ann_threshold is not None:
            live.ann_threshold = ann_threshold
        for name, doc in loaded:
            if live.has_unchanged(doc):
                results.append(FileResult(name, doc.doc_id, "unchanged"))
            else:
                results.append(FileResult(name, doc.doc_id, "updated" if doc.doc_id in live.documents else "added"))
        changed = any(r.status != "unchanged" for r in results)
        if changed:
            add_documents(live, [doc for _, doc in loaded], embedder, progress=progress)
        version = live.save(Path(index_dir)).name if changed else ""
    results = [_with_chunks(r, live) for r in results]
    return UpdateReport(results + errors, version, created and changed, time.perf_counter() - started)


def _with_chunks(result: FileResult, store: IndexStore) -> FileResult:
    return replace(result, chunks=store.manifest.documents[result.doc_id]["chunks"])


# ----- removing -------------------------------------------------------------------


def remove_documents(
    index_dir: Path, ids_or_paths: Iterable[str], settings: IndexSettings, ann_threshold: int | None = None,
    store: str | StoreSpec = "",
) -> UpdateReport:
    """Remove documents named by doc_id, by source (as listed by `unionqa list`),
    or by the path of a file added by itself. If any of them is not in the index,
    DocumentNotFoundError names it and nothing is removed."""
    started = time.perf_counter()
    with writer_lock(index_dir):
        live = load_store(store, Path(index_dir), expected=settings)
        if ann_threshold is not None:
            live.ann_threshold = ann_threshold
        matches = {item: _matching_ids(live, item) for item in ids_or_paths}
        missing = [item for item, ids in matches.items() if not ids]
        if missing:
            raise DocumentNotFoundError(
                "索引中找不到这些文档：" + "、".join(missing) + "。可用 `unionqa list` 查看文档编号，索引未改动。"
            )
        results = []
        for item, ids in matches.items():
            for doc_id in ids:
                if doc_id in live.documents:  # two names may mean the same document
                    results.append(FileResult(item, doc_id, "removed", chunks=live.remove(doc_id)))
        version = live.save(Path(index_dir)).name if results else ""
    return UpdateReport(results, version, seconds=time.perf_counter() - started)


def _matching_ids(store: IndexStore, item: str) -> list[str]:
    if item in store.documents:
        return [item]
    by_source = [doc_id for doc_id, doc in store.documents.items() if doc.source == item]
    if by_source:
        return by_source
    candidate = added_id(Path(item))
    return [candidate] if candidate in store.documents else []
