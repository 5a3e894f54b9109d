"""The index in Milvus: the same store as the folder store (index/store/folder.py, `IndexStore`), with the
dense vectors and the BM25 full-text index held by a Milvus server (or a local
milvus-lite file) instead of FAISS and bm25s files.

Layout, for a store named N (``unionqa_<name>``, see index/store/spec.py)::

    N            alias: the live version, the `CURRENT` of the folder store
    N_v0007      one version's chunks: id, dense vector, BM25 text (-> sparse), doc_id, meta
    N_v0007_units  the chunks' answer units: id, chunk id, vector (row order = span order)
    N_v0007_docs   the manifest and the documents, as JSON lines cut into pieces

Chunk rows keep what the bot reads besides the two searches: the chunk record,
its BM25 tokens and its sentence spans (JSON), and the unit vectors (float32
vectors, so they round-trip exactly). A save writes all three collections of a
new version, then moves the alias in one call, then drops every version but the
new one and the one it replaced (as the folder store keeps two); a save that fails
drops what it wrote, so the previous version stays live. A store loaded from Milvus caches the chunk records, tokens, sentence
spans and vectors and the documents in memory (the bot reads them for every
question); Milvus holds the chunk vectors and the full-text index and answers
both searches.

BM25 (`search_bm25`). The text field is the chunk's own BM25 tokens (index/tokens.py:
normalized, domain words kept whole, stopwords removed) joined by spaces, analyzed
by Milvus's jieba tokenizer in exact mode with the domain words in its dictionary:
a token jieba knows stays whole, so both sides count nearly the same terms as the
bm25s store. The bot's weighted terms become a query text in which each term is
repeated round(weight * WEIGHT_STEPS) times: Milvus counts a repeated query term
once per occurrence (checked in tests/test_milvus_store.py), so the score is the
weighted sum bm25s computes, with weights rounded to 1/WEIGHT_STEPS. Milvus scores
idf * tf * (k1 + 1) / (tf + k1 * norm) and bm25s (Lucene's variant) the same without
the (k1 + 1); the scores are divided by it and by WEIGHT_STEPS, so the answerability
model, calibrated on bm25s scores, reads the same numbers when the tokens agree.

Hybrid search (`search_hybrid`): Milvus's `hybrid_search`, both searches fused in
the server by RRF or weights, in one round-trip. The bot does not rank with it: the
answerability model needs each search's own scores, which the fused list no longer
has, and the bot's own fusion (normalized scores plus the best sentence cosine,
bot/retrieve.py) ranks better. So the bot asks Milvus for the two searches and fuses
them itself, and the ranking is the FAISS store's; `search_hybrid` is for callers
that want Milvus's fusion (the benchmark compares both, docs/benchmark.md).
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path

import numpy as np

from index.records import Chunk
from index.store.errors import IndexMismatchError, IndexMissingError, StoreError
from index.store.interface import Store
from index.store.manifest import IndexSettings, Manifest, check_manifest
from index.store.memory import (
    BM25_B,
    BM25_K1,
    MemoryStore,
    document_frequency,
    document_from_json,
    document_to_json,
    frozen_rows,
)
from index.store.milvus_client import (
    BATCH,
    MilvusLocation,
    as_list,
    batches,
    client_for,
    create_collection,
    drop_version,
    live_collection,
    query_rows,
    version_collections,
)

WEIGHT_STEPS = 20  # a term's weight is rounded to 1/20 (its copies in the query text)
PIECE_CHARS = 16_000  # of the documents' JSON per row: at most 64,000 bytes in UTF-8, under VARCHAR's 65,535
TEXT_BYTES = 65_535  # Milvus's VARCHAR limit
METADATA_FIELDS = ["id", "meta"]


class MilvusStore(MemoryStore):
    """A store (interface.Store) whose searches run in Milvus and whose versions are collections.

    Adding and removing work in memory as in every store (memory.MemoryStore) (the vectors added since the
    load wait in `self.dense`, an in-memory FAISS index used only as a staging area);
    `save` writes a new version collection: the new chunks from memory, the unchanged
    ones copied from the version they were loaded from.
    """

    def __init__(self, settings: IndexSettings, embedding_dim: int, location: MilvusLocation):
        super().__init__(settings, embedding_dim, ann_threshold=0)
        self.location = location
        self.collection = ""  # the version this store was loaded from or last saved to
        self._stored: set[int] = set()  # vector ids whose rows are in `self.collection`

    @classmethod
    def from_store(cls, source: Store, location: MilvusLocation) -> MilvusStore:
        """An unsaved Milvus store with the same contents as `source` (nothing re-embedded):
        for moving a FAISS index into Milvus, and for comparing the two on one index."""
        store = cls(source.manifest.settings, source.manifest.embedding_dim, location)
        store.manifest = Manifest.from_json(source.manifest.to_json())
        store.documents = dict(source.documents)
        store.chunks, store.tokens = dict(source.chunks), dict(source.tokens)
        store._units, store._unit_vectors = dict(source._units), dict(source._unit_vectors)
        ids = np.asarray(sorted(source.chunks), dtype=np.int64)
        if len(ids):
            vectors = np.stack([source.chunk_vector(int(i)) for i in ids]).astype(np.float32)
            store.dense.add_with_ids(vectors, ids)
        return store

    @property
    def _client(self):
        return client_for(self.location)

    # ----- searching ------------------------------------------------------------

    def search_dense(self, query_vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        if not self.chunks or not self.collection:
            return []
        result = self._client.search(
            self.collection, data=[as_list(query_vector)], anns_field="dense", limit=k,
            search_params={"metric_type": "IP"}, output_fields=[],
        )
        return [(int(hit["id"]), float(hit["distance"])) for hit in result[0]]

    def search_bm25(self, query_tokens: list[str] | Mapping[str, float], k: int) -> list[tuple[int, float]]:
        """As MemoryStore.search_bm25, by Milvus's full-text search (see the module docstring)."""
        text, scale = bm25_query_text(query_tokens)
        if not text or not self.chunks or not self.collection:
            return []
        result = self._client.search(
            self.collection, data=[text], anns_field="sparse", limit=k,
            search_params={"metric_type": "BM25"}, output_fields=[],
        )
        hits = [(int(hit["id"]), abs(float(hit["distance"])) / scale) for hit in result[0]]
        # milvus-lite returns -score as the distance, a Milvus server the score itself
        return [(i, s) for i, s in hits if s > 0]

    def search_hybrid(
        self, query_vector: np.ndarray, query_tokens: list[str] | Mapping[str, float], k: int,
        ranker: str = "rrf", weights: tuple[float, float] = (1.0, 1.0), candidates: int = 50,
    ) -> list[tuple[int, float]]:
        """Milvus's own hybrid search: the dense and the BM25 search fused in the server
        (`ranker` "rrf", k=60, or "weighted" with `weights` for dense and BM25), as
        (vector id, fused score), best first."""
        from pymilvus import AnnSearchRequest, RRFRanker, WeightedRanker

        if not self.chunks or not self.collection:
            return []
        text, _ = bm25_query_text(query_tokens)
        requests = [AnnSearchRequest([as_list(query_vector)], "dense", {"metric_type": "IP"}, candidates)]
        if text:
            requests.append(AnnSearchRequest([text], "sparse", {"metric_type": "BM25"}, candidates))
        fusion = RRFRanker(60) if ranker == "rrf" else WeightedRanker(*weights[: len(requests)])
        result = self._client.hybrid_search(self.collection, requests, fusion, limit=k, output_fields=[])
        return [(int(hit["id"]), float(hit["distance"])) for hit in result[0]]

    def chunk_vector(self, vector_id: int) -> np.ndarray:
        vector_id = int(vector_id)
        if vector_id not in self._stored:
            return self.dense.reconstruct(vector_id)
        rows = self._client.query(self.collection, ids=[vector_id], output_fields=["dense"])
        return np.asarray(rows[0]["dense"], dtype=np.float32)

    # ----- changing the contents -------------------------------------------------

    def remove(self, doc_id: str) -> int:
        ids = {vid for vid, c in self.chunks.items() if c.doc_id == doc_id}
        self._stored -= ids
        return super().remove(doc_id)

    # ----- versions ---------------------------------------------------------------

    def live_name(self, index_dir: Path | None = None) -> str:
        return live_collection(self.location)

    def load_live(self, index_dir: Path | None = None, expected: IndexSettings | None = None) -> MilvusStore:
        return MilvusStore.load_from(self.location, expected)

    def save(self, index_dir: Path | None = None) -> Path:
        """Write a new version (three collections), then point the alias at it. Returns
        the version's name as a Path, like IndexStore.save returns its folder."""
        client = self._client
        existing = version_collections(client, self.location.name)
        number = max((int(c.rsplit("_v", 1)[1]) for c in existing), default=0) + 1
        name = f"{self.location.name}_v{number:04d}"
        self.manifest.counts = {"documents": len(self.documents), "chunks": len(self.chunks)}
        self.manifest.created_at = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        try:
            self._create(name)
            self._write_chunks(name)
            self._write_documents(name + "_docs")
            for collection in (name, name + "_units", name + "_docs"):
                client.flush(collection)
                client.load_collection(collection)
            previous = live_collection(self.location)
            if previous:
                client.alter_alias(name, self.location.name)
            else:
                client.create_alias(name, self.location.name)
        except BaseException as exc:
            with contextlib.suppress(Exception):  # a lost connection must not hide the first error
                drop_version(client, name)
            if isinstance(exc, Exception) and not isinstance(exc, StoreError):
                raise StoreError(f"无法写入 Milvus（{exc}），原索引未改动。") from exc
            raise
        self.collection, self._stored = name, set(self.chunks)
        self._reset_staging()
        # Kept: the new version and the one it replaced, for readers still loading that one
        # (KEEP_VERSIONS, as in the folder store); dropped: older ones, and any a killed save left.
        for old in version_collections(client, self.location.name):
            if old not in (name, previous):
                drop_version(client, old)
        return Path(name)

    def _reset_staging(self) -> None:
        import faiss

        self.dense = faiss.IndexIDMap2(faiss.IndexFlatIP(self.manifest.embedding_dim))

    def _create(self, name: str) -> None:
        from pymilvus import DataType, Function, FunctionType

        client, dim = self._client, self.manifest.embedding_dim
        chunks = client.create_schema(auto_id=False)
        chunks.add_field("id", DataType.INT64, is_primary=True)
        chunks.add_field("dense", DataType.FLOAT_VECTOR, dim=dim)
        analyzer = {"tokenizer": {"type": "jieba", "dict": self._jieba_dictionary(), "mode": "exact", "hmm": False}}
        chunks.add_field("text", DataType.VARCHAR, max_length=TEXT_BYTES, enable_analyzer=True,
                         analyzer_params=analyzer)
        chunks.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        chunks.add_field("doc_id", DataType.VARCHAR, max_length=TEXT_BYTES)
        chunks.add_field("meta", DataType.JSON)
        chunks.add_function(Function(name="bm25", function_type=FunctionType.BM25,
                                     input_field_names=["text"], output_field_names=["sparse"]))
        index = client.prepare_index_params()
        # exact search, as the FAISS store below its ANN threshold; a cluster with
        # millions of chunks would choose HNSW here (README, Milvus)
        index.add_index("dense", index_type="FLAT", metric_type="IP")
        index.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25",
                        params={"bm25_k1": BM25_K1, "bm25_b": BM25_B})
        create_collection(client, name, chunks, index)

        units = client.create_schema(auto_id=False)
        units.add_field("id", DataType.INT64, is_primary=True)
        units.add_field("chunk", DataType.INT64)
        units.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
        index = client.prepare_index_params()
        index.add_index("vector", index_type="FLAT", metric_type="IP")
        create_collection(client, name + "_units", units, index)

        # Milvus wants a vector field in every collection: a two-number placeholder
        docs = client.create_schema(auto_id=False)
        docs.add_field("id", DataType.INT64, is_primary=True)
        docs.add_field("body", DataType.VARCHAR, max_length=TEXT_BYTES)
        docs.add_field("pad", DataType.FLOAT_VECTOR, dim=2)
        index = client.prepare_index_params()
        index.add_index("pad", index_type="FLAT", metric_type="L2")
        create_collection(client, name + "_docs", docs, index)

    def _jieba_dictionary(self) -> list[str]:
        """jieba's own dictionary, plus the domain words for a Milvus server. milvus-lite's
        analyzer is this process's jieba, which index/tokens.py has already given the domain
        words with its own care (only those jieba would cut); adding them again there would
        change their frequencies under index/tokens.py."""
        if self.location.lite:
            return ["_default_"]
        from index.tokens import _user_words

        return ["_default_", *sorted(_user_words())]

    def _write_chunks(self, name: str) -> None:
        """The chunk rows, new ones from memory, the others copied from the loaded version;
        then the unit rows, all from memory."""
        client, ids = self._client, sorted(self.chunks)
        copied = [vid for vid in ids if vid in self._stored]
        for batch in batches(copied, BATCH):
            rows = client.query(self.collection, ids=batch, output_fields=["dense"])
            vectors = {int(row["id"]): row["dense"] for row in rows}
            client.insert(name, [self._chunk_row(vid, vectors[vid]) for vid in batch])
        fresh = [vid for vid in ids if vid not in self._stored]
        for batch in batches(fresh, BATCH):
            client.insert(name, [self._chunk_row(vid, as_list(self.dense.reconstruct(vid))) for vid in batch])
        rows = ({"id": 0, "chunk": vid, "vector": vector}
                for vid in ids for vector in self._unit_vectors[vid].tolist())
        for number, batch in enumerate(batches(rows, BATCH)):
            for i, row in enumerate(batch):
                row["id"] = number * BATCH + i
            client.insert(name + "_units", batch)

    def _chunk_row(self, vid: int, vector: list[float]) -> dict:
        chunk, tokens = self.chunks[vid], self.tokens[vid]
        text = " ".join(tokens)
        if len(text.encode("utf-8")) > TEXT_BYTES:
            raise StoreError(f"段落 {chunk.chunk_id} 太长，超过 Milvus 文本字段的上限（{TEXT_BYTES} 字节）。")
        meta = {"chunk": asdict(chunk), "tokens": tokens, "spans": [list(s) for s in self._units[vid]]}
        return {"id": vid, "dense": vector, "text": text, "doc_id": chunk.doc_id, "meta": meta}

    def _write_documents(self, name: str) -> None:
        lines = [json.dumps(self.manifest.to_json(), ensure_ascii=False)]
        lines += [json.dumps(document_to_json(doc), ensure_ascii=False) for doc in self.documents.values()]
        text = "\n".join(lines)
        pieces = [text[i : i + PIECE_CHARS] for i in range(0, len(text), PIECE_CHARS)]
        rows = [{"id": i, "body": piece, "pad": [0.0, 0.0]} for i, piece in enumerate(pieces)]
        for batch in batches(rows, BATCH):
            self._client.insert(name, batch)

    # ----- loading ----------------------------------------------------------------

    @classmethod
    def load_from(cls, location: MilvusLocation, expected: IndexSettings | None = None) -> MilvusStore:
        """The live version: the collections the alias points at, read whole into memory
        except the chunk vectors, which stay in Milvus for the searches."""
        name = live_collection(location)
        if not name:
            raise IndexMissingError(f"Milvus 中找不到索引 {location.name}（{location.uri}）。请先运行 `unionqa build` 建立索引。")
        try:
            return cls._load_version(location, name, expected)
        except StoreError:
            raise
        except Exception as exc:  # a version dropped under us, or written by something else
            raise IndexMismatchError(
                f"Milvus 中的索引 {name} 无法读取（{exc}）。请运行 `unionqa build` 重建索引。"
            ) from exc

    @classmethod
    def _load_version(cls, location: MilvusLocation, name: str, expected: IndexSettings | None) -> MilvusStore:
        client = client_for(location)
        for collection in (name, name + "_units", name + "_docs"):
            # milvus-lite forgets on restart what was loaded into memory; a server keeps it (a no-op then)
            client.load_collection(collection)
        pieces = sorted(client.query(name + "_docs", filter="id >= 0", output_fields=["id", "body"], limit=16_384),
                        key=lambda r: r["id"])
        lines = "".join(row["body"] for row in pieces).split("\n")
        try:
            manifest = Manifest.from_json(json.loads(lines[0]))
        except (ValueError, TypeError, KeyError) as exc:
            raise IndexMismatchError(f"索引清单无法读取（{exc}）。请运行 `unionqa build` 重建索引。") from exc
        check_manifest(manifest, expected, f"Milvus {name}")
        store = cls(manifest.settings, manifest.embedding_dim, location)
        store.manifest = manifest
        for line in lines[1:]:
            doc = document_from_json(json.loads(line))
            store.documents[doc.doc_id] = doc
        for row in query_rows(client, name, METADATA_FIELDS, manifest.next_vector_id):
            vid, meta = int(row["id"]), row["meta"]
            store.chunks[vid] = Chunk(**meta["chunk"])
            store.tokens[vid] = meta["tokens"]
            store._units[vid] = [(int(s), int(e)) for s, e in meta["spans"]]
        units: dict[int, list[tuple[int, list[float]]]] = {vid: [] for vid in store.chunks}
        total_units = sum(len(spans) for spans in store._units.values())
        for row in query_rows(client, name + "_units", ["id", "chunk", "vector"], total_units):
            units[int(row["chunk"])].append((int(row["id"]), row["vector"]))
        for vid, rows in units.items():
            rows.sort()
            matrix = frozen_rows(np.array([v for _, v in rows], dtype=np.float32).reshape(-1, manifest.embedding_dim))
            if len(matrix) != len(store._units[vid]):
                raise IndexMismatchError(f"索引已损坏（{store.chunks[vid].chunk_id} 的句子向量与句子数不符）。"
                                         "请运行 `unionqa build` 重建索引。")
            store._unit_vectors[vid] = matrix
        if len(store.chunks) != manifest.counts.get("chunks", len(store.chunks)):
            raise IndexMismatchError(f"索引已损坏（段落数与清单不符）。请运行 `unionqa build` 重建索引（Milvus {name}）。")
        store.collection, store._stored = name, set(store.chunks)
        return store

    def _ensure_bm25(self) -> None:
        """Only the document frequencies (for idf and knows): the BM25 index is Milvus's.
        MemoryStore.add and remove mark a change by clearing `_bm25`; here a marker object
        stands for "frequencies up to date"."""
        if self._bm25 is None:
            self._df = document_frequency(self.tokens.values())
            self._bm25 = _DF_FRESH


_DF_FRESH = object()


def bm25_query_text(query_tokens: list[str] | Mapping[str, float]) -> tuple[str, float]:
    """The query text for Milvus's BM25 search, and what its scores are to be divided by
    to give bm25s's: (k1 + 1), and WEIGHT_STEPS for a weighted query."""
    if isinstance(query_tokens, Mapping):
        words = [t for t, w in query_tokens.items() if t.strip() for _ in range(round(w * WEIGHT_STEPS))]
        return " ".join(words), (BM25_K1 + 1) * WEIGHT_STEPS
    return " ".join(t for t in query_tokens if t.strip()), BM25_K1 + 1
