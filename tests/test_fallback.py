"""An index that falls back (issue 23): a broken CURRENT, a missing live folder and a
damaged file of the live version all make the store read the newest complete version,
with a Chinese warning; with none complete it refuses with what to do; a killed writer's
.tmp- folder goes as soon as no writer holds the lock."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from index.build import build_index
from index.store.errors import IndexCorruptError, IndexMissingError
from index.store.folder import IndexStore
from index.store.versions import (
    CURRENT_FILE,
    SEAL_FILE,
    live_version,
    remove_leftovers,
    seal_problem,
    version_folders,
    writer_lock,
)
from index.update import add_paths

from .conftest import SETTINGS
from .test_store import SMALL, write_corpus

NEW = "职工书屋\n工会职工书屋每周二、周四晚上开放，可借阅图书两本。"


@pytest.fixture(scope="module")
def two_versions(tmp_path_factory, embedder) -> Path:
    """An index with two complete versions: the bundled-like small corpus, then one document added."""
    root = tmp_path_factory.mktemp("fallback")
    index_dir = root / "index"
    build_index(write_corpus(root / "corpus", SMALL), index_dir, SETTINGS, embedder, progress=False)
    (root / "new").mkdir()
    (root / "new" / "书屋.txt").write_text(NEW, encoding="utf-8")
    add_paths(index_dir, [root / "new" / "书屋.txt"], SETTINGS, embedder, progress=False)
    return index_dir


@pytest.fixture
def index_dir(two_versions, tmp_path) -> Path:
    """A fresh copy to break."""
    copy = tmp_path / "index"
    shutil.copytree(two_versions, copy)
    return copy


def live_and_previous(index_dir: Path) -> tuple[Path, Path]:
    live = live_version(index_dir)
    [previous] = [p for p in version_folders(index_dir) if p != live]
    return live, previous


def test_a_healthy_index_loads_its_live_version_without_a_warning(index_dir):
    live, _ = live_and_previous(index_dir)
    store = IndexStore.load(index_dir, expected=SETTINGS)
    assert store.version == live.name and store.warning == ""
    assert "added/书屋" in store.documents
    assert not seal_problem(live)


@pytest.mark.parametrize("pointer", ["", "\n", "垃圾内容 \x00\xff", "../../etc", "v-does-not-exist"])
def test_a_broken_current_falls_back_to_the_newest_complete_version(index_dir, pointer, caplog):
    live, _ = live_and_previous(index_dir)
    (index_dir / CURRENT_FILE).write_text(pointer, encoding="utf-8")
    with caplog.at_level("WARNING"):
        store = IndexStore.load(index_dir, expected=SETTINGS)
    assert store.version == live.name  # the newest complete one is still the newest
    assert "已改用最近的完整版本" in store.warning and "CURRENT" in store.warning
    assert store.warning in caplog.text


def test_a_missing_current_file_falls_back_too(index_dir):
    live, _ = live_and_previous(index_dir)
    (index_dir / CURRENT_FILE).unlink()
    store = IndexStore.load(index_dir, expected=SETTINGS)
    assert store.version == live.name and "缺失或为空" in store.warning


def test_a_deleted_live_folder_falls_back_to_the_previous_version(index_dir):
    live, previous = live_and_previous(index_dir)
    shutil.rmtree(live)
    store = IndexStore.load(index_dir, expected=SETTINGS)
    assert store.version == previous.name
    assert "added/书屋" not in store.documents and f"CURRENT 指向的版本 {live.name} 不可用" in store.warning


def files_of(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def test_every_file_of_the_live_version_cut_short_or_overwritten_falls_back(two_versions, tmp_path):
    """Fault injection: each file of the live version in turn truncated to half, then
    overwritten in place with the same size (only the checksum notices that)."""
    live = live_version(two_versions)
    names = files_of(live)
    assert {"manifest.json", "chunks.jsonl", "documents.jsonl", "dense.faiss", SEAL_FILE,
            "sentences.npz"} <= set(names)
    for name in names:
        for how in ("truncate", "overwrite"):
            index_dir = tmp_path / f"{how}-{name.replace('/', '_')}"
            shutil.copytree(two_versions, index_dir)
            live, previous = live_and_previous(index_dir)
            path = live / name
            data = path.read_bytes()
            if how == "truncate":
                path.write_bytes(data[: len(data) // 2])
            else:
                path.write_bytes(bytes(b ^ 0x5A for b in data[:64]) + data[64:])
            store = IndexStore.load(index_dir, expected=SETTINGS)
            assert store.version == previous.name, (name, how)
            assert "已改用最近的完整版本" in store.warning, (name, how)
            assert "added/书屋" not in store.documents and len(store.chunks) > 0
            shutil.rmtree(index_dir)


def test_no_complete_version_is_a_clear_refusal_not_a_traceback(index_dir):
    for folder in version_folders(index_dir):
        (folder / "chunks.jsonl").write_text("{半行", encoding="utf-8")
    with pytest.raises(IndexCorruptError) as caught:
        IndexStore.load(index_dir, expected=SETTINGS)
    message = str(caught.value)
    assert "没有可用的完整版本" in message and "chunks.jsonl" in message
    assert "unionqa build" in message and "uploads" in message


def test_an_empty_folder_is_still_a_missing_index(tmp_path):
    with pytest.raises(IndexMissingError, match="找不到索引"):
        IndexStore.load(tmp_path)


def test_a_writer_on_a_broken_current_starts_from_the_newest_complete_version(index_dir, embedder, tmp_path):
    """`unionqa add` (and the admin page) after CURRENT broke: the new version holds every
    document of the last complete one plus the new one, and CURRENT is whole again."""
    (index_dir / CURRENT_FILE).write_text("garbage", encoding="utf-8")
    (tmp_path / "more.txt").write_text("女职工休息室\n女职工休息室设在三楼，全天开放。", encoding="utf-8")
    report = add_paths(index_dir, [tmp_path / "more.txt"], SETTINGS, embedder, progress=False)
    store = IndexStore.load(index_dir, expected=SETTINGS)
    assert store.version == report.version and store.warning == ""
    assert {"added/书屋", "added/more", "a", "b"} <= set(store.documents)


def test_an_empty_tmp_folder_goes_at_once_when_no_writer_holds_the_lock(index_dir):
    leftover = index_dir / ".tmp-v-20260101-000000-1-000001"
    with writer_lock(index_dir):
        leftover.mkdir()  # as if this writer were saving
        (index_dir / ".CURRENT.tmp-123").write_text("v-x")
        assert remove_leftovers(index_dir) == []  # a writer is at work: its folder may be in use
        assert leftover.exists()
    assert sorted(remove_leftovers(index_dir)) == [".CURRENT.tmp-123", leftover.name]
    leftover.mkdir()
    with writer_lock(index_dir):  # a writer taking the lock clears them too
        assert not leftover.exists()


def test_checking_the_checksums_costs_little_next_to_loading(two_versions):
    """Hashing every file on every load is affordable: here a small share of the load."""
    live = live_version(two_versions)
    started = time.perf_counter()
    for _ in range(5):
        assert seal_problem(live) == ""
    hashing = (time.perf_counter() - started) / 5
    started = time.perf_counter()
    IndexStore.load(two_versions, expected=SETTINGS)
    loading = time.perf_counter() - started
    size = sum(os.path.getsize(live / n) for n in files_of(live))
    print(f"\nchecksums of {size / 1e6:.2f} MB: {hashing * 1000:.1f} ms; whole load {loading * 1000:.0f} ms")
    assert hashing < max(0.05, loading / 2)


def test_build_repairs_an_index_with_no_complete_version(index_dir, tmp_path, embedder):
    """The refusal says to run `unionqa build`: it must then work, from the corpus folder."""
    for folder in version_folders(index_dir):
        (folder / "dense.faiss").write_bytes(b"")
    build_index(write_corpus(tmp_path / "corpus", SMALL), index_dir, SETTINGS, embedder, progress=False)
    store = IndexStore.load(index_dir, expected=SETTINGS)
    assert set(store.documents) == {"a", "b"} and store.warning == ""
