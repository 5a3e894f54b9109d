"""What the bot and the tools ask of an index store, whichever engine holds it (the folder of
FAISS + bm25s files, or Milvus), and the errors a store raises for a user to act on."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from corpus.records import Document
    from index.records import Chunk
    from index.store.manifest import IndexSettings, Manifest


class Store(ABC):
    """An index: documents, their chunks with tokens and vectors, and the two searches.

    `manifest` says how it was built, `documents` and `chunks` (by vector id) hold the
    contents, `version` names the version it was read from and `warning` why it is not the
    live one ("" when it is). memory.MemoryStore implements the contents and the searches;
    an engine (folder.IndexStore, milvus.MilvusStore) adds saving and loading."""

    manifest: Manifest
    documents: dict[str, Document]
    chunks: dict[int, Chunk]
    version: str
    warning: str

    @abstractmethod
    def add(self, document: Document, chunks: list[Chunk], tokens: list[list[str]], vectors: np.ndarray,
            sentence_vectors: list[np.ndarray]) -> None:
        """Add (or replace) one document with its chunks, their tokens and embeddings."""

    @abstractmethod
    def remove(self, doc_id: str) -> int:
        """Remove a document and its chunks; returns how many chunks went."""

    @abstractmethod
    def has_unchanged(self, document: Document) -> bool:
        """Whether the store holds this document with the same content."""

    @abstractmethod
    def search_dense(self, query_vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        """The k nearest chunks by inner product as (vector id, score), best first."""

    @abstractmethod
    def search_bm25(self, query_tokens: list[str] | Mapping[str, float], k: int) -> list[tuple[int, float]]:
        """The k best chunks by BM25 as (vector id, score), best first."""

    @abstractmethod
    def idf(self, token: str) -> float:
        """Inverse document frequency of a token over the chunks (0 if unknown)."""

    @abstractmethod
    def knows(self, token: str) -> bool:
        """Whether any chunk has the token."""

    @abstractmethod
    def chunk_vector(self, vector_id: int) -> np.ndarray:
        """The chunk's embedding."""

    @abstractmethod
    def sentence_spans(self, vector_id: int) -> list[tuple[int, int]]:
        """The chunk's answer units as [start, end) offsets into chunk.text, in order."""

    @abstractmethod
    def sentence_vectors(self, vector_id: int) -> np.ndarray:
        """The embeddings of the chunk's answer units, row i for sentence_spans(vector_id)[i]."""

    @abstractmethod
    def live_name(self, index_dir: Path) -> str:
        """The name of the live version where this store came from ("" if none)."""

    @abstractmethod
    def load_live(self, index_dir: Path, expected: IndexSettings | None = None) -> Store:
        """The live version from where this store came from."""

    @abstractmethod
    def save(self, index_dir: Path) -> Path:
        """Write a complete new version and make it the live one."""
