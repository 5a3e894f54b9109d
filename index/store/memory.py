"""The contents of an index held in memory (documents, chunks, tokens, vectors, answer units)
and the dense and BM25 searches over them, shared by the folder store and the Milvus store,
with the JSON rows both write documents as."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict

import bm25s
import faiss
import numpy as np

from corpus.records import Document, Paragraph
from index.records import Chunk
from index.sentences import answer_units
from index.store import ann
from index.store.interface import Store
from index.store.manifest import FORMAT_VERSION, IndexSettings, Manifest

# BM25's parameters, passed to bm25s and to Milvus's analyzer alike so that both stores score the
# same (bm25s's defaults); bot/answerability.py bounds a term's score by idf × (k1 + 1).
BM25_K1 = 1.5
BM25_B = 0.75


class MemoryStore(Store):
    """Chunks plus their dense and lexical indexes, in memory: what every engine shares.

    Verbs: `add` / `remove` change documents, `search_dense` / `search_bm25` query it; the
    engines (folder.IndexStore, milvus.MilvusStore) add `save` and `load`.
    """

    def __init__(self, settings: IndexSettings, embedding_dim: int, ann_threshold: int | None = None):
        self.manifest = Manifest(FORMAT_VERSION, settings, embedding_dim)
        # from this many chunks on, a save moves the vectors into approximate search (index/store/ann.py)
        self.ann_threshold = ann.threshold_from_env() if ann_threshold is None else ann_threshold
        self.documents: dict[str, Document] = {}
        self.chunks: dict[int, Chunk] = {}  # FAISS vector id -> chunk
        self.tokens: dict[int, list[str]] = {}
        self.dense: faiss.Index | ann.ApproximateIndex = faiss.IndexIDMap2(faiss.IndexFlatIP(embedding_dim))
        self._bm25: bm25s.BM25 | None = None
        self._bm25_ids: np.ndarray = np.zeros(0, dtype=np.int64)  # BM25 row -> vector id
        self._df: dict[str, int] = {}  # token -> number of chunks containing it
        # The bot ranks a passage's sentences by their similarity to the question;
        # embedding them at question time is too slow on a small CPU, so they are
        # embedded with the chunks and kept here, per FAISS vector id.
        self._units: dict[int, list[tuple[int, int]]] = {}
        self._unit_vectors: dict[int, np.ndarray] = {}
        self.version = ""  # the version folder this store was read from ("" if new)
        self.warning = ""  # why it is not the one CURRENT names, in Chinese ("" if it is)

    # ----- changing the contents -------------------------------------------------

    def add(
        self,
        document: Document,
        chunks: list[Chunk],
        tokens: list[list[str]],
        vectors: np.ndarray,
        sentence_vectors: list[np.ndarray],
    ) -> None:
        """Add (or replace) one document with its chunks, their tokens and embeddings.

        `sentence_vectors` holds one array per chunk: the unit-length embeddings of
        the chunk's answer units (`answer_units(chunk.text)`), one row per unit.
        """
        if not len(chunks) == len(tokens) == len(vectors) == len(sentence_vectors):
            raise ValueError(
                f"chunks, tokens, vectors and sentence_vectors must have the same length "
                f"(got {len(chunks)}, {len(tokens)}, {len(vectors)}, {len(sentence_vectors)})"
            )
        units = [answer_units(chunk.text) for chunk in chunks]
        unit_vectors = [frozen_rows(matrix) for matrix in sentence_vectors]
        for chunk, spans, matrix in zip(chunks, units, unit_vectors, strict=True):
            expected = (len(spans), self.manifest.embedding_dim)
            if matrix.shape != expected:
                raise ValueError(
                    f"sentence_vectors for {chunk.chunk_id} have shape {matrix.shape}, expected {expected}: "
                    "one row per answer unit of the chunk"
                )
        if document.doc_id in self.documents:
            self.remove(document.doc_id)
        ids = np.arange(self.manifest.next_vector_id, self.manifest.next_vector_id + len(chunks), dtype=np.int64)
        self.manifest.next_vector_id += len(chunks)
        if len(chunks):
            self.dense.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), ids)
        for vid, chunk, toks, spans, matrix in zip(ids.tolist(), chunks, tokens, units, unit_vectors, strict=True):
            self.chunks[vid] = chunk
            self.tokens[vid] = toks
            self._units[vid] = spans
            self._unit_vectors[vid] = matrix
        self.documents[document.doc_id] = document
        self.manifest.documents[document.doc_id] = {
            "hash": document.content_hash,
            "source": document.source,
            "title": document.title,
            "chunks": len(chunks),
            # an official document's 文号 and date of issue, for the document lists (issue 20)
            **{key: document.metadata[key] for key in ("doc_number", "issued") if document.metadata.get(key)},
        }
        self._bm25 = None

    def remove(self, doc_id: str) -> int:
        """Remove a document and its chunks; returns how many chunks went."""
        ids = [vid for vid, c in self.chunks.items() if c.doc_id == doc_id]
        if ids:
            self.dense.remove_ids(np.asarray(ids, dtype=np.int64))
        for vid in ids:
            del self.chunks[vid]
            del self.tokens[vid]
            del self._units[vid]
            del self._unit_vectors[vid]
        self.documents.pop(doc_id, None)
        self.manifest.documents.pop(doc_id, None)
        self._bm25 = None
        return len(ids)

    def has_unchanged(self, document: Document) -> bool:
        entry = self.manifest.documents.get(document.doc_id)
        return entry is not None and entry["hash"] == document.content_hash

    # ----- searching ------------------------------------------------------------

    def _ensure_bm25(self) -> None:
        """BM25 statistics (idf, average length) are global, so the lexical index
        is rebuilt from the stored tokens after a change; no text is re-tokenized."""
        if self._bm25 is not None:
            return
        ids = np.fromiter(sorted(self.chunks), dtype=np.int64, count=len(self.chunks))
        retriever = bm25s.BM25(k1=BM25_K1, b=BM25_B)
        # An empty token list would make bm25s fail; a placeholder keeps row numbers aligned.
        corpus = [self.tokens[int(v)] or ["\0"] for v in ids]
        if corpus:
            retriever.index(corpus, show_progress=False)
        self._bm25, self._bm25_ids = retriever, ids
        self._df = document_frequency(self.tokens.values())

    def search_dense(self, query_vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        if self.dense.ntotal == 0:
            return []
        scores, ids = self.dense.search(np.asarray(query_vector, dtype=np.float32).reshape(1, -1), k)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]

    def search_bm25(self, query_tokens: list[str] | Mapping[str, float], k: int) -> list[tuple[int, float]]:
        """The k best chunks by BM25 as (vector id, score), best first; chunks scoring 0 are left out.

        A list scores each token once per occurrence. A mapping gives each token a
        weight that multiplies its BM25 score, so a weight of 0 removes the token and
        weights of 1 score like the list of its keys. Tokens the index lacks are skipped.
        """
        self._ensure_bm25()
        assert self._bm25 is not None
        if isinstance(query_tokens, Mapping):
            scores = self._weighted_bm25_scores(query_tokens)
        else:
            known = [t for t in query_tokens if t in getattr(self._bm25, "vocab_dict", {})]
            scores = self._bm25.get_scores(known) if known and len(self._bm25_ids) else None
        if scores is None:
            return []
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(int(self._bm25_ids[r]), float(scores[r])) for r in top if scores[r] > 0]

    def _weighted_bm25_scores(self, weights: Mapping[str, float]) -> np.ndarray | None:
        """Per chunk, the sum of each known token's BM25 score times its weight
        (None if no token is known). bm25s sums the scores of a token list inside
        one call, so each token is scored alone and weighted here; the sum runs in
        the mapping's order and in bm25s's dtype, so weights of 1 give the very
        numbers the list form gives."""
        assert self._bm25 is not None
        vocab = getattr(self._bm25, "vocab_dict", {})
        known = [(vocab[token], weight) for token, weight in weights.items() if token in vocab]
        if not known or not len(self._bm25_ids):
            return None
        scores = np.zeros(len(self._bm25_ids), dtype=self._bm25.dtype)
        for token_id, weight in known:
            scores += self._bm25.get_scores_from_ids([token_id]) * weight
        return scores

    def idf(self, token: str) -> float:
        """Inverse document frequency of a token over the chunks (0 if unknown)."""
        self._ensure_bm25()
        df = self._df.get(token, 0)
        n = len(self.chunks)
        return float(np.log(1 + (n - df + 0.5) / (df + 0.5))) if n else 0.0

    def knows(self, token: str) -> bool:
        """Whether any chunk has the token."""
        self._ensure_bm25()
        return self._df.get(token, 0) > 0

    def chunk_vector(self, vector_id: int) -> np.ndarray:
        return self.dense.reconstruct(int(vector_id))

    def sentence_spans(self, vector_id: int) -> list[tuple[int, int]]:
        """The chunk's answer units as [start, end) offsets into chunk.text, in order."""
        return list(self._units[int(vector_id)])

    def sentence_vectors(self, vector_id: int) -> np.ndarray:
        """The unit-length embeddings of the chunk's answer units, shape (units, dim),
        row i for `sentence_spans(vector_id)[i]`. Read-only: it is the store's own copy."""
        return self._unit_vectors[int(vector_id)]


def frozen_rows(matrix: np.ndarray) -> np.ndarray:
    """A read-only float32 copy, so that a caller of `sentence_vectors` cannot change the store."""
    rows = np.array(matrix, dtype=np.float32)
    rows.setflags(write=False)
    return rows


def document_frequency(token_lists) -> dict[str, int]:
    df: dict[str, int] = {}
    for toks in token_lists:
        for t in set(toks):
            df[t] = df.get(t, 0) + 1
    return df


def document_to_json(doc: Document) -> dict:
    data = asdict(doc)
    data["paragraphs"] = [asdict(p) for p in doc.paragraphs]
    return data


def document_from_json(data: dict) -> Document:
    data["paragraphs"] = tuple(Paragraph(**p) for p in data["paragraphs"])
    return Document(**data)
