"""The index store: manifest checks, atomic saves, a killed build leaving the old index usable."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from bot.bot import Bot
from corpus.loader import document_from_bytes
from index.build import BuildError, add_documents, build_index, prepare
from index.sentences import answer_units
from index.store.errors import IndexMismatchError, IndexMissingError
from index.store.folder import SENTENCES_FILE, IndexStore
from index.store.manifest import IndexSettings
from index.store.versions import SEAL_FILE, live_version

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


def test_an_edited_word_list_asks_for_a_rebuild(tmp_path, embedder):
    """jieba's word list (the bundled dictionary and glossary) cuts the passages into BM25
    tokens: the index records its hash, and settings with another one are refused with what to
    do; an index from before the hash was recorded ("") is read as it was."""
    from dataclasses import replace

    from index.dictionary import word_list_hash
    from index.store.manifest import Manifest

    index_dir = tmp_path / "index"
    build_index(write_corpus(tmp_path / "c", SMALL), index_dir, SETTINGS, embedder, progress=False)
    assert SETTINGS.word_list == word_list_hash() and len(SETTINGS.word_list) == 16
    assert IndexStore.load(index_dir).manifest.settings.word_list == word_list_hash()
    edited = replace(SETTINGS, word_list="0123456789abcdef")
    with pytest.raises(IndexMismatchError) as err:
        IndexStore.load(index_dir, expected=edited)
    assert "分词词表" in str(err.value) and "unionqa build" in str(err.value)
    old = Manifest.from_json({"format_version": 3, "embedding_dim": 384, "settings": {
        "embedding_model": SETTINGS.embedding_model, "chunk_chars": 300, "chunk_overlap": 1}})
    assert old.settings.word_list == "" and old.settings.differences(edited) == []


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

    import index.store.ann as store_module

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
        import index.store.ann as s
        from index.build import build_index
        from index.embedding.embedder import load_embedder
        from tests.conftest import SETTINGS  # registers the fake embedder SETTINGS names
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


# ----- answer units and their vectors ------------------------------------------------

# A sentence ending with a colon is one unit with the sentence after it.
UNITS = {
    "fund.txt": "工会经费\n工会经费的来源：会员缴纳的会费；企业按工资总额的百分之二拨缴的经费。"
    "工会经费主要用于为职工服务和工会活动。经费使用情况应当定期向会员大会报告。",
    **SMALL,
}


def test_answer_units_round_trip_and_match_the_unit_texts_embedded_alone(tmp_path, embedder):
    store = IndexStore(SETTINGS, embedder.dim)
    documents = [document_from_bytes(text.encode(), name) for name, text in UNITS.items()]
    add_documents(store, documents, embedder, progress=False)
    store.save(tmp_path / "index")
    loaded = IndexStore.load(tmp_path / "index", expected=SETTINGS)

    assert set(loaded.chunks) == set(store.chunks)
    assert any("来源：会员缴纳的会费；" in c.text[s:e] for c in loaded.chunks.values() for s, e in answer_units(c.text))
    for vid, chunk in loaded.chunks.items():
        spans = loaded.sentence_spans(vid)
        vectors = loaded.sentence_vectors(vid)
        assert spans == store.sentence_spans(vid) == answer_units(chunk.text) and spans
        assert vectors.dtype == np.float32 and vectors.shape == (len(spans), embedder.dim)
        assert np.array_equal(vectors, store.sentence_vectors(vid))
        assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
        direct = embedder.encode_passages([chunk.text[s:e] for s, e in spans])
        assert np.all(np.sum(vectors * direct, axis=1) > 1 - 1e-4), chunk.chunk_id
        with pytest.raises(ValueError):
            vectors[0, 0] = 0.0  # the store's own copy

    removed = loaded.remove("fund")
    assert removed and all(c.doc_id != "fund" for c in loaded.chunks.values())
    loaded.save(tmp_path / "index")
    again = IndexStore.load(tmp_path / "index")
    assert {vid: again.sentence_spans(vid) for vid in again.chunks} == {
        vid: loaded.sentence_spans(vid) for vid in loaded.chunks
    }


def test_add_checks_one_vector_array_per_chunk_and_one_row_per_unit(embedder):
    store = IndexStore(SETTINGS, embedder.dim)
    doc = document_from_bytes(UNITS["fund.txt"].encode(), "fund.txt")
    chunks, tokens = prepare(doc, SETTINGS)
    vectors = embedder.encode_passages([c.indexed_text() for c in chunks])
    units = [embedder.encode_passages([c.text[s:e] for s, e in answer_units(c.text)]) for c in chunks]
    store.add(doc, chunks, tokens, vectors, units)
    before = {vid: store.sentence_spans(vid) for vid in store.chunks}

    with pytest.raises(ValueError, match="sentence_vectors must have the same length"):
        store.add(doc, chunks, tokens, vectors, units[:-1])
    with pytest.raises(ValueError, match="one row per answer unit"):
        store.add(doc, chunks, tokens, vectors, [u[:-1] for u in units])
    with pytest.raises(ValueError, match="one row per answer unit"):
        store.add(doc, chunks, tokens, vectors, [u[:, :10] for u in units])
    # A rejected add leaves the document as it was.
    assert {vid: store.sentence_spans(vid) for vid in store.chunks} == before


def test_an_index_of_the_previous_format_is_refused(tmp_path, embedder):
    index_dir = tmp_path / "index"
    build_index(write_corpus(tmp_path / "c", SMALL), index_dir, SETTINGS, embedder, progress=False)
    manifest = live_version(index_dir) / "manifest.json"
    data = json.loads(manifest.read_text(encoding="utf-8"))
    data["format_version"] = 1
    manifest.write_text(json.dumps(data), encoding="utf-8")
    (manifest.parent / SEAL_FILE).unlink()  # the earlier program wrote no seal
    with pytest.raises(IndexMismatchError, match="格式版本为 1.*请运行 `unionqa build` 重建索引"):
        IndexStore.load(index_dir)


def test_missing_or_inconsistent_sentence_data_is_refused(tmp_path, embedder):
    index_dir = tmp_path / "index"
    build_index(write_corpus(tmp_path / "c", SMALL), index_dir, SETTINGS, embedder, progress=False)
    path = live_version(index_dir) / SENTENCES_FILE
    # A version written before seals: what the loader itself checks (a sealed one is refused
    # by its checksums first, see tests/test_fallback.py).
    (path.parent / SEAL_FILE).unlink()
    with np.load(path) as data:
        arrays = dict(data)

    def load_with(**changes) -> None:
        with open(path, "wb") as f:
            np.savez(f, **{**arrays, **changes})
        IndexStore.load(index_dir)

    load_with()  # written back unchanged, it loads
    with pytest.raises(IndexMismatchError, match="句子向量与段落不符.*unionqa build"):
        load_with(ids=arrays["ids"] + 1)
    with pytest.raises(IndexMismatchError, match="句子向量与段落不符"):
        load_with(vectors=arrays["vectors"][:-1])
    with pytest.raises(IndexMismatchError, match="句子向量与段落不符"):
        load_with(spans=arrays["spans"] + 1)
    path.write_bytes(b"not an npz file")
    with pytest.raises(IndexMismatchError, match="unionqa build"):
        IndexStore.load(index_dir)
    path.unlink()
    with pytest.raises(IndexMismatchError, match="没有可用的完整版本.*无法载入.*unionqa build"):
        IndexStore.load(index_dir)


# ----- weighted BM25 -----------------------------------------------------------------


def test_weighted_bm25_query(tmp_path, embedder):
    index_dir = tmp_path / "index"
    build_index(write_corpus(tmp_path / "c", UNITS), index_dir, SETTINGS, embedder, progress=False)
    store = IndexStore.load(index_dir)
    vocabulary = {t for toks in store.tokens.values() for t in toks}
    tokens = ["工会", "会费", "职工"]
    assert set(tokens) <= vocabulary

    as_list = store.search_bm25(tokens, 5)
    assert len(as_list) >= 3
    assert store.search_bm25(dict.fromkeys(tokens, 1.0), 5) == as_list
    assert store.search_bm25({"工会": 1.0, "会费": 1.0, "职工": 0.0}, 5) == store.search_bm25(["工会", "会费"], 5)
    assert store.search_bm25({"会费": 1.0, "没有这个词": 3.0}, 5) == store.search_bm25(["会费"], 5)
    assert store.search_bm25({"没有这个词": 1.0}, 5) == [] == store.search_bm25({"会费": 0.0}, 5)

    # A repeated token in a list counts twice, as it did before weights: the same as a weight of 2.
    repeated = store.search_bm25(["会费", "会费", "职工"], 5)
    weighted = store.search_bm25({"会费": 2.0, "职工": 1.0}, 5)
    assert [vid for vid, _ in repeated] == [vid for vid, _ in weighted]
    assert [s for _, s in repeated] == pytest.approx([s for _, s in weighted], rel=1e-6)
    # A weight scales the token's score: the ranking follows the heavier token.
    by_dues = store.search_bm25({"会费": 10.0, "职工": 0.1}, 1)[0][0]
    assert "会费" in store.tokens[by_dues]


def test_a_current_naming_a_half_written_folder_is_an_index_but_not_a_complete_one(tmp_path):
    """Any trace of an index counts as one (`serve` never rebuilds it from the corpus behind
    the user's back, `unionqa add` never starts a new one over it); `complete` asks whether
    there is a version to answer from."""
    from index.store.spec import has_index
    from index.store.versions import CURRENT_FILE

    assert not has_index("", tmp_path) and not has_index("", tmp_path, complete=True)
    (tmp_path / "v-half").mkdir()  # a writer died before the manifest
    (tmp_path / CURRENT_FILE).write_text("v-half\n", encoding="utf-8")
    assert has_index("", tmp_path)
    assert not has_index("", tmp_path, complete=True)
    (tmp_path / CURRENT_FILE).unlink()
    assert has_index("", tmp_path)  # a version folder without CURRENT is still an index
    (tmp_path / "v-half" / "manifest.json").write_text("{}", encoding="utf-8")
    assert has_index("", tmp_path, complete=True)  # an index written before seals: its files are checked on load
