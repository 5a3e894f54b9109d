"""Building and updating an index from documents: chunk, tokenize, embed, store."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from corpus.loader import LoadIssue, load_corpus
from corpus.records import Document
from index.chunker import chunk_document
from index.embedder import Embedder
from index.records import Chunk
from index.store import IndexMissingError, IndexSettings, IndexStore, read_documents, writer_lock
from index.tokens import tokenize

# Documents added to the index one by one (`unionqa add`, the admin page) have ids
# with this prefix; they are not in the corpus folder, so a rebuild takes them
# from the previous index.
ADDED_PREFIX = "added/"


class BuildError(Exception):
    """A build that cannot go ahead; the previous index is left as it was."""


@dataclass
class BuildReport:
    documents: int = 0
    chunks: int = 0
    skipped_unchanged: int = 0
    removed: int = 0
    kept_added: int = 0  # documents added one by one that a rebuild carried over
    issues: list[LoadIssue] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> str:
        parts = [f"{self.documents} 篇文档", f"{self.chunks} 个段落", f"用时 {self.seconds:.1f} 秒"]
        if self.skipped_unchanged:
            parts.append(f"{self.skipped_unchanged} 篇未变化已跳过")
        if self.kept_added:
            parts.append(f"含此前单独加入的 {self.kept_added} 篇")
        if self.removed:
            parts.append(f"移除 {self.removed} 篇")
        if self.issues:
            parts.append(f"{len(self.issues)} 个文件未能读取")
        return "，".join(parts)


def prepare(document: Document, settings: IndexSettings) -> tuple[list[Chunk], list[list[str]]]:
    chunks = chunk_document(document, target_chars=settings.chunk_chars, overlap_sentences=settings.chunk_overlap)
    return chunks, [tokenize(c.indexed_text()) for c in chunks]


def add_documents(
    store: IndexStore,
    documents: list[Document],
    embedder: Embedder,
    progress: bool = True,
    batch_size: int = 32,
) -> tuple[int, int]:
    """Chunk, tokenize and embed the documents that are new or changed, and put
    them into the store. Returns (documents added, chunks added)."""
    todo = [d for d in documents if not store.has_unchanged(d)]
    prepared = [(doc, *prepare(doc, store.manifest.settings)) for doc in todo]
    total = sum(len(chunks) for _, chunks, _ in prepared)
    bar = tqdm(total=total, unit="段", desc="向量化", disable=not progress or total == 0)
    added_chunks = 0
    for doc, chunks, tokens in prepared:
        texts = [c.indexed_text() for c in chunks]
        vectors = []
        for i in range(0, len(texts), batch_size):
            vectors.extend(embedder.encode_passages(texts[i : i + batch_size]))
            bar.update(len(texts[i : i + batch_size]))
        matrix = np.asarray(vectors, dtype=np.float32).reshape(len(chunks), embedder.dim)
        store.add(doc, chunks, tokens, matrix)
        added_chunks += len(chunks)
    bar.close()
    return len(todo), added_chunks


def build_index(
    corpus_dir: Path,
    index_dir: Path,
    settings: IndexSettings,
    embedder: Embedder,
    progress: bool = True,
    keep_added: bool = True,
) -> BuildReport:
    """A full rebuild: every document of the corpus folder, plus (with `keep_added`)
    the documents added one by one to the previous index, re-chunked and re-embedded
    with the current settings. The previous index stays live until the new one is
    completely written."""
    started = time.perf_counter()
    loaded = load_corpus(Path(corpus_dir))
    if not loaded.documents:
        reasons = "；".join(f"{i.path}: {i.reason}" for i in loaded.errors[:5])
        raise BuildError(f"语料目录 {corpus_dir} 中没有可读取的文档{('（' + reasons + '）') if reasons else ''}，索引未改动。")
    with writer_lock(Path(index_dir)):
        added = added_documents(Path(index_dir)) if keep_added else []
        store = IndexStore(settings, embedder.dim)
        docs, chunks = add_documents(store, loaded.documents + added, embedder, progress=progress)
        store.save(Path(index_dir))
    return BuildReport(
        documents=docs,
        chunks=chunks,
        kept_added=len(added),
        issues=loaded.errors,
        seconds=time.perf_counter() - started,
    )


def added_documents(index_dir: Path) -> list[Document]:
    """The documents added one by one to the live index ([] if there is none)."""
    try:
        return [doc for doc in read_documents(index_dir) if doc.doc_id.startswith(ADDED_PREFIX)]
    except IndexMissingError:
        return []
