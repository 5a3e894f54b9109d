"""The folder store: the index as FAISS + bm25s files in a version folder (the layout is in
index/store/__init__.py). A save writes a whole new version folder and only then points
CURRENT at it; a load reads the live one, falling back to the newest complete one."""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
import zipfile
from dataclasses import asdict
from pathlib import Path

import bm25s
import numpy as np

from corpus.records import Document
from index.records import Chunk
from index.sentences import answer_units
from index.store import ann, versions
from index.store.errors import IndexCorruptError, IndexMismatchError, IndexMissingError
from index.store.manifest import IndexSettings, Manifest, check_manifest, manifest_at
from index.store.memory import MemoryStore, document_frequency, document_from_json, document_to_json
from index.store.versions import (
    CURRENT_FILE,
    fsync,
    live_version,
    remove_old_versions,
    version_name,
    write_atomic,
)

SENTENCES_FILE = "sentences.npz"
LOAD_ATTEMPTS = 5  # a reader whose version was deleted under it tries the newer live one

# What reading a damaged file can raise, besides our own IndexMismatchError: faiss reports
# a missing or cut file as RuntimeError, json and Unicode errors are ValueErrors, a cut
# .npz is a BadZipFile or EOFError, a row with a field missing a TypeError or KeyError.
_DAMAGE = (OSError, RuntimeError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile, IndexMismatchError)
log = logging.getLogger(__name__)


class IndexStore(MemoryStore):
    """The store in an index folder: MemoryStore's contents, saved as a version folder."""

    # ----- saving and loading ---------------------------------------------------

    def live_name(self, index_dir: Path) -> str:
        """The name of the live version where this store came from ("" if none): a server
        compares it with the one it answers from (ui/asking.py). The Milvus store
        (index/store/milvus.py) answers with its alias instead of `index_dir`'s CURRENT."""
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
            fsync(index_dir)
            write_atomic(index_dir / CURRENT_FILE, name + "\n")
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        remove_old_versions(index_dir, keep=name)
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
                f.write(json.dumps(document_to_json(doc), ensure_ascii=False) + "\n")
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
                fsync(path)
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
                manifest = manifest_at(choice.folder)
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
                doc = document_from_json(json.loads(line))
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
            store._df = document_frequency(store.tokens.values())
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


def read_documents(index_dir: Path) -> list[Document]:
    """The documents of the live version, without loading its indexes."""
    with open(live_version(index_dir) / "documents.jsonl", encoding="utf-8") as f:
        return [document_from_json(json.loads(line)) for line in f]


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


def _damage_text(exc: BaseException) -> str:
    text = str(exc).split("。请运行")[0]
    return f"无法载入（{type(exc).__name__}：{text[:120]}）"
