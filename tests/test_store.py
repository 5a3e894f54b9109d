"""The index store: manifest checks, atomic saves, a killed build leaving the old index usable."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bot.bot import Bot
from index.build import BuildError, build_index
from index.store import IndexMismatchError, IndexMissingError, IndexSettings, IndexStore, live_version

from .conftest import SETTINGS

ROOT = Path(__file__).resolve().parents[1]


def write_corpus(folder: Path, texts: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in texts.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


SMALL = {
    "a.txt": "职工疗休养\n工会每年组织一线职工疗休养，名额向劳模和技术工人倾斜。疗休养时间一般为五天。",
    "b.txt": "工会会费\n会员按月缴纳会费，标准为本人工资收入的千分之五。会费用于会员活动。",
}


def test_missing_index_says_how_to_build(tmp_path):
    with pytest.raises(IndexMissingError, match="unionqa build"):
        IndexStore.load(tmp_path / "nothing-here")


def test_manifest_mismatch_says_how_to_rebuild(tmp_path, embedder):
    index_dir = tmp_path / "index"
    build_index(write_corpus(tmp_path / "c", SMALL), index_dir, SETTINGS, embedder, progress=False)
    other = IndexSettings(SETTINGS.embedding_model, chunk_chars=500, chunk_overlap=1)
    with pytest.raises(IndexMismatchError) as err:
        IndexStore.load(index_dir, expected=other)
    assert "chunk_chars" in str(err.value) and "unionqa build" in str(err.value)
    assert IndexStore.load(index_dir, expected=SETTINGS).manifest.counts["documents"] == 2


def test_manifest_records_what_the_index_depends_on(tmp_path, embedder):
    index_dir = tmp_path / "index"
    build_index(write_corpus(tmp_path / "c", SMALL), index_dir, SETTINGS, embedder, progress=False)
    store = IndexStore.load(index_dir)
    m = store.manifest
    assert m.settings == SETTINGS and m.embedding_dim == embedder.dim == 384
    assert set(m.documents) == {"a", "b"}
    assert all(len(entry["hash"]) == 16 and entry["chunks"] >= 1 for entry in m.documents.values())
    assert m.counts == {"documents": 2, "chunks": len(store.chunks)}
    assert store.dense.ntotal == len(store.chunks)


def test_empty_corpus_fails_and_keeps_previous_index(tmp_path, embedder):
    index_dir = tmp_path / "index"
    build_index(write_corpus(tmp_path / "c", SMALL), index_dir, SETTINGS, embedder, progress=False)
    before = live_version(index_dir)
    with pytest.raises(BuildError, match="没有可读取的文档"):
        build_index(write_corpus(tmp_path / "empty", {}), index_dir, SETTINGS, embedder, progress=False)
    assert live_version(index_dir) == before


def test_a_save_that_fails_half_way_leaves_the_old_index_loadable(tmp_path, embedder, monkeypatch):
    index_dir = tmp_path / "index"
    build_index(write_corpus(tmp_path / "c", SMALL), index_dir, SETTINGS, embedder, progress=False)
    before = live_version(index_dir)

    import index.store as store_module

    def broken_write_index(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(store_module.faiss, "write_index", broken_write_index)
    with pytest.raises(OSError, match="disk full"):
        build_index(tmp_path / "c", index_dir, SETTINGS, embedder, progress=False)
    monkeypatch.undo()
    assert live_version(index_dir) == before
    assert not [p for p in index_dir.iterdir() if p.name.startswith(".tmp-")]
    assert len(IndexStore.load(index_dir).chunks) >= 2


def test_a_build_killed_mid_save_leaves_the_old_index_usable(tmp_path, embedder, model_cache):
    """A real process, killed with SIGKILL while it writes the new version."""
    index_dir = tmp_path / "index"
    corpus = write_corpus(tmp_path / "c", SMALL)
    build_index(corpus, index_dir, SETTINGS, embedder, progress=False)
    before = live_version(index_dir)
    (corpus / "c.txt").write_text("劳动争议调解\n企业劳动争议调解委员会由职工代表和企业代表组成。", encoding="utf-8")

    # The child stops itself inside the save, after some files of the new
    # version are written, and the parent kills it there.
    script = textwrap.dedent(
        f"""
        import os, signal, sys
        sys.path.insert(0, {str(ROOT)!r})
        import index.store as s
        from index.build import build_index
        from index.embedder import load_embedder
        from tests.conftest import SETTINGS
        real = s.faiss.write_index
        def write_then_stop(*a, **k):
            real(*a, **k)
            print("SAVING", flush=True)
            os.kill(os.getpid(), signal.SIGSTOP)
        s.faiss.write_index = write_then_stop
        emb = load_embedder(SETTINGS.embedding_model, {str(model_cache)!r})
        build_index({str(corpus)!r}, {str(index_dir)!r}, SETTINGS, emb, progress=False)
        """
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "SAVING"
    child.kill()
    child.wait(timeout=30)

    assert live_version(index_dir) == before
    assert any(p.name.startswith(".tmp-") for p in index_dir.iterdir()), "the kill should leave a half-written version"
    bot = Bot.load(index_dir, model_cache=model_cache)
    assert set(bot.documents) == {"a", "b"}
    answer = bot.ask("工会会费的标准是多少？")
    assert not answer.refused and "千分之五" in answer.text


def test_a_new_save_switches_atomically_and_keeps_few_versions(tmp_path, embedder):
    index_dir = tmp_path / "index"
    corpus = write_corpus(tmp_path / "c", SMALL)
    for _ in range(4):
        build_index(corpus, index_dir, SETTINGS, embedder, progress=False)
    versions = [p for p in index_dir.iterdir() if p.name.startswith("v-")]
    assert len(versions) <= 2
    assert (index_dir / "CURRENT").read_text().strip() in {p.name for p in versions}
    assert os.path.isfile(live_version(index_dir) / "manifest.json")
