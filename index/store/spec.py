"""Which engine holds the index, chosen by one setting (UNIONQA_STORE, `--store`; ui/config.py):

- ``""`` or ``faiss`` (the default): FAISS + bm25s files in versioned folders of the index
  folder (index/store/folder.py);
- ``milvus://host:19530`` (or ``milvus://user:password@host:19530``): a Milvus server
  (index/store/milvus.py);
- ``milvus-lite:///path/to/index.db``, or any path ending in ``.db``: a local milvus-lite
  file, Milvus in this process (one process at a time may open it).

``?name=...`` after either Milvus form names the index (default ``main``): its live version
is the alias ``unionqa_<name>``, so several unionqa installations can share one server.

The callers (index/build.py, index/update.py, bot/bot.py, ui/) go through these functions
and never branch on the engine themselves; the index folder is still where writers take
their lock (`writer_lock`) and where the admin page keeps uploads, whichever engine it is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from corpus.records import Document
from index.store.errors import StoreError
from index.store.folder import IndexStore
from index.store.folder import read_documents as read_folder_documents
from index.store.manifest import IndexSettings, Manifest
from index.store.manifest import read_manifest as read_folder_manifest
from index.store.milvus import MilvusStore
from index.store.milvus_client import MilvusLocation, live_collection
from index.store.versions import has_versions, live_version, version_name

DEFAULT_NAME = "main"
_NAME = re.compile(r"[A-Za-z0-9_]{1,40}")


class StoreSpecError(StoreError, ValueError):
    """A UNIONQA_STORE value that names no engine."""


@dataclass(frozen=True)
class StoreSpec:
    """A parsed UNIONQA_STORE: the folder store (`milvus` None) or a Milvus location."""

    milvus: MilvusLocation | None = None

    def describe(self, index_dir: Path) -> str:
        """Where the index is, for messages."""
        if self.milvus is None:
            return str(index_dir)
        kind = "Milvus Lite" if self.milvus.lite else "Milvus"
        return f"{kind} {self.milvus.uri}（{self.milvus.name}）"


def parse_store(spec: str | StoreSpec | None) -> StoreSpec:
    """The engine a UNIONQA_STORE value names; StoreSpecError, in Chinese, if none."""
    if isinstance(spec, StoreSpec):
        return spec
    spec = (spec or "").strip()
    if spec in ("", "faiss"):
        return StoreSpec()
    bad = StoreSpecError(
        f"索引存储设置无效：{spec!r}。可用 faiss（默认）、milvus://主机:端口 或 milvus-lite:///路径/文件.db。"
    )
    parts = urlsplit(spec)
    names = parse_qs(parts.query).get("name", [DEFAULT_NAME])
    if len(names) != 1 or not _NAME.fullmatch(names[0]):
        raise StoreSpecError(f"索引名称无效：{names!r}，只能用字母、数字和下划线（至多 40 个）。")
    if "://" not in spec and parts.path.endswith(".db"):
        return StoreSpec(MilvusLocation(str(Path(parts.path).expanduser()), _alias(names[0])))
    if parts.scheme == "milvus-lite" and parts.path.endswith(".db") and not parts.netloc:
        return StoreSpec(MilvusLocation(unquote(parts.path), _alias(names[0])))
    if parts.scheme == "milvus" and parts.hostname:
        try:
            port = parts.port or 19530
        except ValueError:
            raise bad from None
        token = f"{unquote(parts.username)}:{unquote(parts.password or '')}" if parts.username else ""
        return StoreSpec(MilvusLocation(f"http://{parts.hostname}:{port}", _alias(names[0]), token))
    raise bad


def _alias(name: str) -> str:
    return f"unionqa_{name}"


def new_store(spec: str | StoreSpec, settings: IndexSettings, dim: int, ann_threshold: int | None = None) -> IndexStore:
    """An empty store of the configured engine; its `save` makes it the live version."""
    location = parse_store(spec).milvus
    if location is None:
        return IndexStore(settings, dim, ann_threshold)
    return MilvusStore(settings, dim, location)


def load_store(spec: str | StoreSpec, index_dir: Path, expected: IndexSettings | None = None) -> IndexStore:
    """The live version (index.store.IndexMissingError if there is none yet)."""
    location = parse_store(spec).milvus
    if location is None:
        return IndexStore.load(Path(index_dir), expected=expected)
    return MilvusStore.load_from(location, expected)


def live_name(spec: str | StoreSpec, index_dir: Path) -> str:
    """The name of the live version, "" if there is none."""
    location = parse_store(spec).milvus
    return version_name(Path(index_dir)) if location is None else live_collection(location)


def has_index(spec: str | StoreSpec, index_dir: Path, complete: bool = False) -> bool:
    """Whether the store holds an index. Without `complete`, any trace of one counts (a
    CURRENT, complete or broken versions): only a new index folder may be built from the
    corpus alone, and `unionqa add` must read a broken one (falling back to its newest
    complete version, or saying it cannot) rather than start a new one over it. With
    `complete`, whether a folder store has a complete version to answer from."""
    if parse_store(spec).milvus is not None:
        return bool(live_name(spec, index_dir))
    if not complete:
        return has_versions(Path(index_dir))
    try:
        live_version(Path(index_dir))
    except StoreError:
        return False
    return True


def read_documents(spec: str | StoreSpec, index_dir: Path) -> list[Document]:
    """The documents of the live version."""
    location = parse_store(spec).milvus
    if location is None:
        return read_folder_documents(Path(index_dir))
    return list(MilvusStore.load_from(location).documents.values())


def read_manifest(spec: str | StoreSpec, index_dir: Path) -> Manifest:
    location = parse_store(spec).milvus
    if location is None:
        return read_folder_manifest(Path(index_dir))
    return MilvusStore.load_from(location).manifest


__all__ = ["StoreSpec", "StoreSpecError", "has_index", "live_name", "load_store",
           "new_store", "parse_store", "read_documents", "read_manifest"]
