"""The on-disk index: a FAISS inner-product index of the normalized chunk
embeddings, a BM25 index of the jieba tokens, the chunks and documents
themselves, and a manifest that says how it was built.

Layout of an index folder::

    index_dir/
      CURRENT            name of the live version folder (replaced atomically)
      v-<stamp>/         one complete, immutable version
        manifest.json
        documents.jsonl  full documents, so sources can be looked up
        chunks.jsonl     chunk records with their BM25 tokens and FAISS ids
        dense.faiss      IndexIDMap2(IndexFlatIP): the exact vectors
        dense-ann.faiss  past the ANN threshold: IVF fast-scan codes of them (index/ann.py)
        bm25/            bm25s files
        sentences.npz    each chunk's answer units (spans in chunk.text) and their embeddings
        checksums.json   written last: every file's size and SHA-256 (index/versions.py)

A save writes a whole new version folder and only then points CURRENT at it,
so a crash at any moment leaves the previous version loadable, and a reader
always sees one complete version. A reader that finds CURRENT broken, or the
version it names damaged, reads the newest complete version instead and says so
(`IndexStore.warning`); with none complete it refuses, with what to do.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import time
import zipfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import bm25s
import faiss
import numpy as np

from corpus.errors import UnionQAError
from corpus.records import Document, Paragraph
from index import ann, versions
from index.backends import DEFAULT_BACKEND, vector_family
from index.records import Chunk
from index.sentences import answer_units

FORMAT_VERSION = 3  # 2: sentences.npz; 3: law articles chunked one by one
SENTENCES_FILE = "sentences.npz"
CURRENT_FILE = versions.CURRENT_FILE
LOCK_FILE = versions.LOCK_FILE
# A build of a large corpus holds the lock for minutes; ten of them is a writer that hangs.
LOCK_TIMEOUT = 600.0
KEEP_VERSIONS = 2  # the live one and the one before, for readers still loading it
LOAD_ATTEMPTS = 5  # a reader whose version was deleted under it tries the newer live one


class StoreError(UnionQAError):
    """An index problem to show to the user, with what to do about it."""


class StoreLockedError(StoreError):
    """Another writer held the index folder's lock for too long."""


class IndexMissingError(StoreError):
    pass


class IndexMismatchError(StoreError):
    pass


class IndexCorruptError(IndexMismatchError):
    """Versions exist but none of them is complete: nothing to answer from."""


# What reading a damaged file can raise, besides our own IndexMismatchError: faiss reports
# a missing or cut file as RuntimeError, json and Unicode errors are ValueErrors, a cut
# .npz is a BadZipFile or EOFError, a row with a field missing a TypeError or KeyError.
_DAMAGE = (OSError, RuntimeError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile, IndexMismatchError)
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IndexSettings:
    """What an index depends on: change any of these and it must be rebuilt.

    `embedding_backend` records the backend that built the index. Only a change of vectors
    needs a rebuild: torch and fp32 ONNX give the same vectors, int8 ONNX other ones
    (index.backends.vector_family).
    """

    embedding_model: str
    chunk_chars: int
    chunk_overlap: int
    embedding_backend: str = DEFAULT_BACKEND

    def differences(self, other: IndexSettings) -> list[str]:
        found = [
            f"{name}: 索引中为 {getattr(self, name)!r}，当前配置为 {getattr(other, name)!r}"
            for name in ("embedding_model", "chunk_chars", "chunk_overlap")
            if getattr(self, name) != getattr(other, name)
        ]
        if vector_family(self.embedding_backend) != vector_family(other.embedding_backend):
            found.append(
                f"embedding_backend: 索引由 {self.embedding_backend!r} 后端建立，当前配置为 "
                f"{other.embedding_backend!r}，两者的向量不同"
            )
        return found


@dataclass
class Manifest:
    format_version: int
    settings: IndexSettings
    embedding_dim: int
    documents: dict[str, dict] = field(default_factory=dict)  # doc_id -> {hash, source, title, chunks}
    counts: dict[str, int] = field(default_factory=dict)
    next_vector_id: int = 0
    created_at: str = ""

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> Manifest:
        data = dict(data)
        # an index written before backends were recorded was built with torch
        data["settings"] = IndexSettings(**{"embedding_backend": "torch", **data["settings"]})
        return cls(**data)


class IndexStore:
    """Chunks plus their dense and lexical indexes, in memory.

    Verbs: `add` / `remove` change documents, `save` writes a new version,
    `load` reads the live one, `search_dense` / `search_bm25` query it.
    """

    def __init__(self, settings: IndexSettings, embedding_dim: int, ann_threshold: int | None = None):
        self.manifest = Manifest(FORMAT_VERSION, settings, embedding_dim)
        # from this many chunks on, a save moves the vectors into approximate search (index/ann.py)
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
        unit_vectors = [_frozen_rows(matrix) for matrix in sentence_vectors]
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
        retriever = bm25s.BM25()
        # An empty token list would make bm25s fail; a placeholder keeps row numbers aligned.
        corpus = [self.tokens[int(v)] or ["\0"] for v in ids]
        if corpus:
            retriever.index(corpus, show_progress=False)
        self._bm25, self._bm25_ids = retriever, ids
        self._df = _document_frequency(self.tokens.values())

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

    # ----- saving and loading ---------------------------------------------------

    def live_name(self, index_dir: Path) -> str:
        """The name of the live version where this store came from ("" if none): a server
        compares it with the one it answers from (ui/asking.py). The Milvus store
        (index/milvus_store.py) answers with its alias instead of `index_dir`'s CURRENT."""
        return version_name(index_dir)

    def load_live(self, index_dir: Path, expected: IndexSettings | None = None) -> IndexStore:
        """The live version from where this store came from."""
        return type(self).load(index_dir, expected)

    def save(self, index_dir: Path) -> Path:
        """Write a complete new version, then switch CURRENT to it atomically."""
        index_dir = Path(index_dir)
        index_dir.mkdir(parents=True, exist_ok=True)
        name = f"v-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{time.monotonic_ns() % 10**6:06d}"
        tmp = index_dir / f".tmp-{name}"
        tmp.mkdir()
        try:
            self._write_version(tmp)
            final = index_dir / name
            os.replace(tmp, final)
            _fsync(index_dir)
            write_atomic(index_dir / CURRENT_FILE, name + "\n")
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        _remove_old_versions(index_dir, keep=name)
        return final

    def _write_version(self, folder: Path) -> None:
        self._ensure_bm25()
        assert self._bm25 is not None
        self.manifest.counts = {"documents": len(self.documents), "chunks": len(self.chunks)}
        self.manifest.created_at = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        self.dense = ann.fit(self.dense, self.ann_threshold)
        ann.write(self.dense, folder)
        if len(self._bm25_ids):
            self._bm25.save(str(folder / "bm25"), show_progress=False)
        with open(folder / "documents.jsonl", "w", encoding="utf-8") as f:
            for doc in self.documents.values():
                f.write(json.dumps(_document_to_json(doc), ensure_ascii=False) + "\n")
        with open(folder / "chunks.jsonl", "w", encoding="utf-8") as f:
            for vid, chunk in sorted(self.chunks.items()):
                row = {"id": vid, "tokens": self.tokens[vid], **asdict(chunk)}
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
        self._write_sentences(folder / SENTENCES_FILE)
        # The manifest goes last: a folder without one is never taken for an index.
        (folder / "manifest.json").write_text(
            json.dumps(self.manifest.to_json(), ensure_ascii=False, indent=1), encoding="utf-8"
        )
        for path in folder.rglob("*"):
            if path.is_file():
                _fsync(path)
        versions.write_seal(folder)  # last: only a folder whose every file is on disk gets one

    def _write_sentences(self, path: Path) -> None:
        """All chunks' units in one file: chunk i (of `ids`) owns rows
        offsets[i]:offsets[i+1] of `spans` and `vectors`."""
        ids = sorted(self.chunks)
        counts = [len(self._units[vid]) for vid in ids]
        spans = [span for vid in ids for span in self._units[vid]]
        vectors = [self._unit_vectors[vid] for vid in ids]
        with open(path, "wb") as f:
            np.savez(
                f,
                ids=np.asarray(ids, dtype=np.int64),
                offsets=np.concatenate([[0], np.cumsum(counts, dtype=np.int64)]),
                spans=np.asarray(spans, dtype=np.int32).reshape(-1, 2),
                vectors=np.concatenate(vectors) if vectors else np.zeros((0, self.manifest.embedding_dim), np.float32),
            )

    @classmethod
    def load(cls, index_dir: Path, expected: IndexSettings | None = None) -> IndexStore:
        """The live version: the one CURRENT names, or, if CURRENT is missing, empty or
        garbage, or that version is gone or damaged, the newest complete one (with
        `warning` saying so). IndexMissingError if the folder holds no index at all,
        IndexCorruptError if no version of it is complete. A writer may switch CURRENT
        and delete the version being read (it keeps only the newest few): then the
        newer live version is read instead."""
        index_dir = Path(index_dir)
        unreadable: dict[str, str] = {}  # versions whose seal matched but which failed to load
        for _ in range(LOAD_ATTEMPTS + len(versions.version_folders(index_dir))):
            named = version_name(index_dir)
            choice = versions.choose(index_dir, skip=unreadable)
            if choice is None:
                break
            try:
                manifest = _manifest_at(choice.folder)
            except _DAMAGE as exc:
                if version_name(index_dir) == named:
                    unreadable[choice.folder.name] = _damage_text(exc)
                continue
            check_manifest(manifest, expected, index_dir)  # other settings: a rebuild, not a fallback
            try:
                store = cls._load_version(index_dir, choice.folder, manifest)
            except _DAMAGE as exc:
                if version_name(index_dir) == named:  # else a writer switched versions: look again
                    unreadable[choice.folder.name] = _damage_text(exc)
                continue
            store.version = choice.folder.name
            store.warning = choice.warning
            if store.warning:
                log.warning("%s", store.warning, extra={"event": "index_fallback", "index_version": store.version})
            return store
        if not versions.has_versions(index_dir):
            raise IndexMissingError(f"找不到索引：{index_dir}。请先运行 `unionqa build` 建立索引。")
        problems = [f"{name}：{why}" for name, why in unreadable.items()]
        problems += [p for p in versions.problems_of(index_dir) if p.split("：")[0] not in unreadable]
        raise IndexCorruptError(versions.no_complete_version(index_dir, problems))

    @classmethod
    def _load_version(cls, index_dir: Path, folder: Path, manifest: Manifest) -> IndexStore:
        store = cls(manifest.settings, manifest.embedding_dim)
        store.manifest = manifest
        store.dense = ann.read(folder)
        with open(folder / "documents.jsonl", encoding="utf-8") as f:
            for line in f:
                doc = _document_from_json(json.loads(line))
                store.documents[doc.doc_id] = doc
        with open(folder / "chunks.jsonl", encoding="utf-8") as f:
            for line in f:
                row = json.loads(line)
                vid = row.pop("id")
                store.tokens[vid] = row.pop("tokens")
                store.chunks[vid] = Chunk(**row)
        if (folder / "bm25").is_dir():
            store._bm25 = bm25s.BM25.load(str(folder / "bm25"), show_progress=False)
            store._bm25_ids = np.fromiter(sorted(store.chunks), dtype=np.int64, count=len(store.chunks))
            store._df = _document_frequency(store.tokens.values())
        if store.dense.ntotal != len(store.chunks):
            raise IndexMismatchError(f"索引已损坏（向量数与段落数不符）。请运行 `unionqa build` 重建索引（{index_dir}）。")
        if set(manifest.documents) != set(store.documents):
            raise IndexMismatchError(f"索引已损坏（文档与清单不符）。请运行 `unionqa build` 重建索引（{index_dir}）。")
        store._read_sentences(folder / SENTENCES_FILE, index_dir)
        return store

    def _read_sentences(self, path: Path, index_dir: Path) -> None:
        """Load sentences.npz into per-chunk views of one read-only matrix. A missing
        file raises OSError, which `load` reports (or retries, if a writer deleted the
        version); a file that does not fit the chunks is a broken index."""

        def broken(reason: object) -> IndexMismatchError:
            return IndexMismatchError(
                f"索引已损坏（句子向量与段落不符：{reason}）。请运行 `unionqa build` 重建索引（{index_dir}）。"
            )

        try:
            with np.load(path, allow_pickle=False) as data:
                ids, offsets, spans, vectors = (data[name] for name in ("ids", "offsets", "spans", "vectors"))
        except (ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            raise broken(exc) from exc
        problem = _sentences_problem(self, ids, offsets, spans, vectors)
        if problem:
            raise broken(problem)
        vectors.setflags(write=False)
        for i, vid in enumerate(ids.tolist()):
            rows = slice(int(offsets[i]), int(offsets[i + 1]))
            self._units[vid] = [(int(s), int(e)) for s, e in spans[rows]]
            self._unit_vectors[vid] = vectors[rows]


def check_manifest(manifest: Manifest, expected: IndexSettings | None, where: object) -> None:
    """IndexMismatchError, with what to do, if an index of this manifest cannot be read by
    this program or was built with other settings than `expected`."""
    if manifest.format_version != FORMAT_VERSION:
        raise IndexMismatchError(
            f"索引格式版本为 {manifest.format_version}，本程序需要 {FORMAT_VERSION}。"
            f"请运行 `unionqa build` 重建索引（{where}）。"
        )
    if expected is not None:
        diffs = manifest.settings.differences(expected)
        if diffs:
            raise IndexMismatchError(
                "索引与当前配置不一致：" + "；".join(diffs) + f"。请运行 `unionqa build` 重建索引（{where}）。"
            )


def version_name(index_dir: Path) -> str:
    """What CURRENT names ("" if there is none): one small read, cheap enough for a server
    to check for a new version before answering. Garbage in it (even bytes that are not
    UTF-8) is returned as read, for the caller to compare; `IndexStore.load` falls back."""
    return versions.current_name(Path(index_dir))


def live_version(index_dir: Path) -> Path:
    """The folder of the version to read: the one CURRENT names if it is complete, else the
    newest complete one (see `IndexStore.load`); IndexMissingError with what to do if none."""
    index_dir = Path(index_dir)
    choice = versions.choose(index_dir)
    if choice is not None:
        return choice.folder
    if not versions.has_versions(index_dir):
        raise IndexMissingError(f"找不到索引：{index_dir}。请先运行 `unionqa build` 建立索引。")
    raise IndexCorruptError(versions.no_complete_version(index_dir, versions.problems_of(index_dir)))


def read_documents(index_dir: Path) -> list[Document]:
    """The documents of the live version, without loading its indexes."""
    with open(live_version(index_dir) / "documents.jsonl", encoding="utf-8") as f:
        return [_document_from_json(json.loads(line)) for line in f]


@contextmanager
def writer_lock(index_dir: Path, timeout: float | None = None) -> Iterator[None]:
    """Hold the index folder's writer lock for a whole load-change-save, so two
    writers (a build, `unionqa add`, the admin page) cannot lose each other's
    changes. Readers need no lock: versions are immutable. The kernel drops the
    lock when the process dies, so a killed writer never leaves the index locked.
    A lock held by another writer for longer than `timeout` seconds (default
    LOCK_TIMEOUT) is a StoreError that says so, instead of a wait without end."""
    index_dir = Path(index_dir)
    index_dir.mkdir(parents=True, exist_ok=True)
    timeout = LOCK_TIMEOUT if timeout is None else timeout
    with open(index_dir / LOCK_FILE, "a") as handle:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise StoreLockedError(
                        f"索引正被另一个程序更新（等待写入锁超过 {timeout:g} 秒）：{index_dir / LOCK_FILE}。"
                        "请等它完成后重试。"
                    ) from None
                time.sleep(0.1)
        # Every save runs under this lock, so with it held any .tmp- folder is a killed writer's.
        versions.remove_leftovers(index_dir, locked=True)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def read_manifest(index_dir: Path) -> Manifest:
    return _manifest_at(live_version(index_dir))


def _manifest_at(folder: Path) -> Manifest:
    try:
        return Manifest.from_json(json.loads((folder / "manifest.json").read_text(encoding="utf-8")))
    except (ValueError, TypeError, KeyError) as exc:
        raise IndexMismatchError(f"索引清单无法读取（{exc}）。请运行 `unionqa build` 重建索引。") from exc


def _sentences_problem(
    store: IndexStore, ids: np.ndarray, offsets: np.ndarray, spans: np.ndarray, vectors: np.ndarray
) -> str:
    """What is wrong with stored sentence data for the store's chunks ("" if nothing)."""
    if not np.array_equal(ids, np.asarray(sorted(store.chunks), dtype=np.int64)):
        return "段落编号不符"
    if offsets.shape != (len(ids) + 1,) or offsets[0] != 0 or np.any(np.diff(offsets) < 0):
        return "偏移表无效"
    if spans.shape != (int(offsets[-1]), 2) or vectors.shape != (int(offsets[-1]), store.manifest.embedding_dim):
        return "句子数或向量维度不符"
    for i, vid in enumerate(ids.tolist()):
        rows = spans[int(offsets[i]) : int(offsets[i + 1])]
        # The bot pairs rows with the units it would cut itself, so they must be the same.
        if rows.tolist() != [list(span) for span in answer_units(store.chunks[vid].text)]:
            return f"{store.chunks[vid].chunk_id} 的句子切分不同"
    return ""


def _frozen_rows(matrix: np.ndarray) -> np.ndarray:
    """A read-only float32 copy, so that a caller of `sentence_vectors` cannot change the store."""
    rows = np.array(matrix, dtype=np.float32)
    rows.setflags(write=False)
    return rows


def _document_frequency(token_lists) -> dict[str, int]:
    df: dict[str, int] = {}
    for toks in token_lists:
        for t in set(toks):
            df[t] = df.get(t, 0) + 1
    return df


def _document_to_json(doc: Document) -> dict:
    data = asdict(doc)
    data["paragraphs"] = [asdict(p) for p in doc.paragraphs]
    return data


def _document_from_json(data: dict) -> Document:
    data["paragraphs"] = tuple(Paragraph(**p) for p in data["paragraphs"])
    return Document(**data)


def write_atomic(path: Path, text: str) -> None:
    """Replace a small text file whole: a reader sees the old content or the new, never part."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync(path.parent)


def _fsync(path: Path) -> None:
    """Flush a file, or a folder's entries (so a rename in it survives a crash), to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _damage_text(exc: BaseException) -> str:
    text = str(exc).split("。请运行")[0]
    return f"无法载入（{type(exc).__name__}：{text[:120]}）"


def _remove_old_versions(index_dir: Path, keep: str) -> None:
    """Keep the new version and the newest complete ones before it (KEEP_VERSIONS in all),
    for readers still loading them and for falling back to; incomplete or damaged versions
    (sizes checked: cheap) are removed, so that they never push out a good one."""
    kept = 1
    for folder in versions.version_folders(index_dir):
        if folder.name == keep:
            continue
        if kept < KEEP_VERSIONS and not versions.seal_problem(folder, hashes=False):
            kept += 1
            continue
        shutil.rmtree(folder, ignore_errors=True)
    for p in index_dir.iterdir():
        # leftovers of builds that were killed half-way (a save outside the writer lock
        # cannot tell them from another writer's, so only old ones; writer_lock removes all)
        if p.name.startswith(".tmp-") and time.time() - p.stat().st_mtime > 3600:
            shutil.rmtree(p, ignore_errors=True)
