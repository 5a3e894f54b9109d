"""Building and updating an index from documents: chunk, tokenize, embed, store."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from corpus.errors import UnionQAError
from corpus.loader import LoadIssue, load_corpus
from corpus.records import Document
from index.chunker import chunk_document
from index.embedding.backends import vector_family
from index.embedding.embedder import Embedder
from index.records import Chunk
from index.sentences import answer_units
from index.store.errors import IndexCorruptError, IndexMissingError
from index.store.folder import IndexStore
from index.store.manifest import IndexSettings
from index.store.spec import StoreSpec, new_store, read_documents
from index.store.versions import writer_lock
from index.tokens import tokenize

# Documents added to the index one by one (`unionqa add`, the admin page) have ids
# with this prefix; they are not in the corpus folder, so a rebuild takes them
# from the previous index.
ADDED_PREFIX = "added/"


class BuildError(UnionQAError):
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
    them into the store. Returns (documents added, chunks added).

    Both the chunks and their answer units are embedded: the chunks with their
    title and section, for retrieval; each unit alone, as the bot will quote it,
    so that the bot can compare the question with every sentence it may quote.
    """
    built_with = store.manifest.settings.embedding_backend
    if vector_family(getattr(embedder, "backend", "torch")) != vector_family(built_with):
        # int8 and fp32 vectors side by side would rank each other wrongly
        raise BuildError(f"索引由 {built_with} 后端建立，不能用 {embedder.backend} 后端的向量加入文档；请先重建索引。")
    todo = [d for d in documents if not store.has_unchanged(d)]
    prepared = [(doc, *prepare(doc, store.manifest.settings)) for doc in todo]
    chunks = [chunk for _, doc_chunks, _ in prepared for chunk in doc_chunks]
    units = [[chunk.text[s:e] for s, e in answer_units(chunk.text)] for chunk in chunks]
    # The chunk overlap repeats a sentence in two chunks; it is embedded once.
    distinct_units = list(dict.fromkeys(text for texts in units for text in texts))

    total = len(chunks) + len(distinct_units)
    bar = tqdm(total=total, unit="段/句", desc="向量化", disable=not progress or total == 0)
    chunk_vectors = _embed(embedder, [chunk.indexed_text() for chunk in chunks], bar, batch_size)
    unit_vector = dict(zip(distinct_units, _embed(embedder, distinct_units, bar, batch_size), strict=True))
    bar.close()

    first = 0  # the document's chunks are chunks[first:last]
    for doc, doc_chunks, tokens in prepared:
        last = first + len(doc_chunks)
        sentence_vectors = [
            np.array([unit_vector[text] for text in texts], dtype=np.float32).reshape(-1, embedder.dim)
            for texts in units[first:last]
        ]
        store.add(doc, doc_chunks, tokens, chunk_vectors[first:last], sentence_vectors)
        first = last
    return len(todo), len(chunks)


def _embed(embedder: Embedder, texts: list[str], bar: tqdm, batch_size: int) -> np.ndarray:
    """The passage embeddings of `texts`, one row each, in their order.

    A batch is padded to its longest text, so the texts go in order of length:
    a one-line item beside a long law article would cost as much as the article.
    One batch at a time, so the bar moves.
    """
    longest_first = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    rows = np.zeros((len(texts), embedder.dim), dtype=np.float32)
    for start in range(0, len(texts), batch_size):
        batch = longest_first[start : start + batch_size]
        rows[batch] = embedder.encode_passages([texts[i] for i in batch])
        bar.update(len(batch))
    return rows


def build_index(
    corpus_dir: Path,
    index_dir: Path,
    settings: IndexSettings,
    embedder: Embedder,
    progress: bool = True,
    keep_added: bool = True,
    ann_threshold: int | None = None,
    store: str | StoreSpec = "",
) -> BuildReport:
    """A full rebuild: every document of the corpus folder, plus (with `keep_added`)
    the documents added one by one to the previous index, re-chunked and re-embedded
    with the current settings. The previous index stays live until the new one is
    completely written. `store` chooses the engine (index/store/spec.py; the FAISS folder
    by default); the index folder holds the writer lock in any case."""
    started = time.perf_counter()
    loaded = load_corpus(Path(corpus_dir))
    if not loaded.documents:
        reasons = "；".join(f"{i.path}: {i.reason}" for i in loaded.errors[:5])
        raise BuildError(f"语料目录 {corpus_dir} 中没有可读取的文档{('（' + reasons + '）') if reasons else ''}，索引未改动。")
    with writer_lock(Path(index_dir)):
        added = added_documents(Path(index_dir), store) if keep_added else []
        target = new_store(store, settings, embedder.dim, ann_threshold)
        docs, chunks = add_documents(target, loaded.documents + added, embedder, progress=progress)
        target.save(Path(index_dir))
    return BuildReport(
        documents=docs,
        chunks=chunks,
        kept_added=len(added),
        issues=loaded.errors,
        seconds=time.perf_counter() - started,
    )


def added_documents(index_dir: Path, store: str | StoreSpec = "") -> list[Document]:
    """The documents added one by one to the live index (from the newest complete version if
    the live one is broken); [] if there is none, or none is complete: `unionqa build` is then
    how the index is repaired, and the message that sent the user there says how to add the
    uploads again."""
    try:
        return [doc for doc in read_documents(store, index_dir) if doc.doc_id.startswith(ADDED_PREFIX)]
    except (IndexMissingError, IndexCorruptError):
        return []
