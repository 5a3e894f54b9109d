"""How an index was built (its settings, format, documents and counts), and the check that a
program with given settings can read it."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from index.dictionary import word_list_hash
from index.embedding.backends import DEFAULT_BACKEND, vector_family
from index.store.errors import IndexMismatchError
from index.store.versions import MANIFEST_FILE, live_version

FORMAT_VERSION = 3  # 2: sentences.npz; 3: law articles chunked one by one


@dataclass(frozen=True)
class IndexSettings:
    """What an index depends on: change any of these and it must be rebuilt.

    `embedding_backend` records the backend that built the index. Only a change of vectors
    needs a rebuild: torch and fp32 ONNX give the same vectors, int8 ONNX other ones
    (index.embedding.backends.vector_family).
    """

    embedding_model: str
    chunk_chars: int
    chunk_overlap: int
    embedding_backend: str = DEFAULT_BACKEND
    # The hash of jieba's word list (index.dictionary.word_list_hash), taken when the settings
    # are made: the tokens of a built index depend on it. "" in an index built before it was
    # recorded, which is then not compared.
    word_list: str = field(default_factory=word_list_hash)

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
        if self.word_list and other.word_list and self.word_list != other.word_list:
            found.append("分词词表（index/domain_dictionary.txt、index/english_glossary.txt）在建立索引后改动过")
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
        # (and one written before the word list's hash was recorded has none to compare)
        data["settings"] = IndexSettings(**{"embedding_backend": "torch", "word_list": "", **data["settings"]})
        return cls(**data)


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


def read_manifest(index_dir: Path) -> Manifest:
    return manifest_at(live_version(index_dir))


def manifest_at(folder: Path) -> Manifest:
    try:
        return Manifest.from_json(json.loads((folder / MANIFEST_FILE).read_text(encoding="utf-8")))
    except (ValueError, TypeError, KeyError) as exc:
        raise IndexMismatchError(f"索引清单无法读取（{exc}）。请运行 `unionqa build` 重建索引。") from exc
