"""Approximate dense search past a size threshold: the same answers, and add/remove still work."""

from __future__ import annotations

import faiss
import numpy as np
import pytest

from bot.bot import Bot
from index.store import ann
from index.store.folder import IndexStore
from index.update import add_paths, remove_documents
from ui import config as cfg

from .conftest import SETTINGS


@pytest.fixture(scope="module")
def ivf_index(tmp_path_factory, bundled_index):
    """The bundled corpus's index saved again with a threshold it exceeds."""
    store = IndexStore.load(bundled_index, expected=SETTINGS)
    store.ann_threshold = 50
    folder = tmp_path_factory.mktemp("ivf-index")
    store.save(folder)
    return folder


def test_a_store_past_the_threshold_saves_and_loads_an_ivf_index(ivf_index, bundled_index):
    exact = IndexStore.load(bundled_index, expected=SETTINGS)
    store = IndexStore.load(ivf_index, expected=SETTINGS)
    assert not ann.is_approximate(exact.dense) and ann.is_approximate(store.dense)
    assert store.dense.ntotal == store.dense.codes.ntotal == len(store.chunks) == len(exact.chunks)
    assert store.dense.nlist == ann.cells_for(len(store.chunks)) > 1
    assert store.dense.nprobe == ann.nprobe_for(store.dense.nlist)  # nprobe is not saved by faiss
    # the exact vectors stay in dense.faiss, readable as they were below the threshold
    version = ivf_index / (ivf_index / "CURRENT").read_text().strip()
    assert isinstance(faiss.read_index(str(version / ann.EXACT_FILE)), faiss.IndexIDMap2)
    assert (version / ann.CODES_FILE).is_file() and not (bundled_index / ann.CODES_FILE).exists()
    # the vectors are kept exactly: same cosines, and a chunk finds itself first
    ids = sorted(store.chunks)[::25]
    for vid in ids:
        assert np.allclose(store.chunk_vector(vid), exact.chunk_vector(vid))
        assert store.search_dense(exact.chunk_vector(vid), 1)[0][0] == vid


def test_recall_against_exact_search_on_real_questions(ivf_index, bundled_index, embedder):
    exact = IndexStore.load(bundled_index, expected=SETTINGS)
    store = IndexStore.load(ivf_index, expected=SETTINGS)
    questions = ["试用期最长多久？", "工会会费怎么交？", "女职工产假有多少天？", "加班费怎么算？",
                 "年休假有几天？", "什么是劳动精神？", "用人单位可以随时解除劳动合同吗？", "工会主席怎么产生？"]
    found = 0
    for vector in embedder.encode_queries(questions):
        truth = {i for i, _ in exact.search_dense(vector, 10)}
        found += len(truth & {i for i, _ in store.search_dense(vector, 10)})
    assert found / (10 * len(questions)) >= 0.9


def test_the_bot_answers_from_an_ivf_index(ivf_index, embedder):
    bot = Bot(IndexStore.load(ivf_index, expected=SETTINGS), embedder)
    answer = bot.ask("试用期最长多久？")
    assert answer.status == "answered" and "六个月" in answer.text
    # 劳动合同法 第十九条 and 劳动法 第二十一条 both say 六个月
    assert any(c.title in ("中华人民共和国劳动合同法", "中华人民共和国劳动法") for c in answer.citations)


def test_add_and_remove_keep_working_on_an_ivf_index(ivf_index, tmp_path, embedder):
    doc = tmp_path / "疗休养.txt"
    doc.write_text("职工疗休养\n工会每年组织一线职工到海南疗休养，名额向劳模和技术工人倾斜，时间为五天。", encoding="utf-8")
    report = add_paths(ivf_index, [doc], SETTINGS, embedder, progress=False, ann_threshold=50)
    assert report.count("added") == 1
    store = IndexStore.load(ivf_index, expected=SETTINGS)
    assert ann.is_approximate(store.dense) and store.dense.ntotal == len(store.chunks)
    vector = embedder.encode_queries(["工会组织职工去海南疗休养几天？"])[0]
    best = store.search_dense(vector, 3)
    assert store.chunks[best[0][0]].doc_id == "added/疗休养"

    remove_documents(ivf_index, ["added/疗休养"], SETTINGS, ann_threshold=50)
    store = IndexStore.load(ivf_index, expected=SETTINGS)
    assert ann.is_approximate(store.dense) and store.dense.ntotal == len(store.chunks)
    assert all(store.chunks[i].doc_id != "added/疗休养" for i, _ in store.search_dense(vector, 50))


def test_the_threshold_is_configured_and_zero_keeps_exact_search(bundled_index, tmp_path, monkeypatch):
    monkeypatch.setenv("UNIONQA_ANN_THRESHOLD", "0")
    assert cfg.from_env().ann_threshold == 0
    store = IndexStore.load(bundled_index, expected=SETTINGS)
    assert store.ann_threshold == 0
    store.save(tmp_path / "exact")
    assert not ann.is_approximate(IndexStore.load(tmp_path / "exact").dense)
    monkeypatch.setenv("UNIONQA_ANN_THRESHOLD", "many")
    with pytest.raises(cfg.ConfigError, match="UNIONQA_ANN_THRESHOLD"):
        cfg.from_env()


# ----- the index itself, on synthetic vectors with cluster structure ----------------------


def clustered(count: int, dim: int = 64, centres: int = 50, seed: int = 0) -> np.ndarray:
    """Unit vectors around `centres` random directions, like embeddings of texts on a few topics."""
    rng = np.random.default_rng(seed)
    middle = rng.standard_normal((centres, dim)).astype(np.float32)
    vectors = middle[rng.integers(0, centres, count)] + 0.6 * rng.standard_normal((count, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def exact_index(vectors: np.ndarray, ids: np.ndarray) -> faiss.Index:
    index = faiss.IndexIDMap2(faiss.IndexFlatIP(vectors.shape[1]))
    index.add_with_ids(vectors, ids)
    return index


def recall_at_10(index, truth: faiss.Index, queries: np.ndarray) -> float:
    _, expected = truth.search(queries, 10)
    _, found = index.search(queries, 10)
    return float(np.mean([len(set(f) & set(e)) / 10 for f, e in zip(found, expected, strict=True)]))


@pytest.fixture(scope="module")
def synthetic():
    vectors = clustered(20_000)
    ids = np.arange(1000, 21_000, dtype=np.int64)  # ids are not row numbers, as in the store
    return vectors, ids, clustered(200, seed=1)


def test_recall_holds_and_comes_from_the_reranked_codes(synthetic):
    vectors, ids, queries = synthetic
    truth = exact_index(vectors, ids)
    index = ann.build(exact_index(vectors, ids))
    assert index.nlist == ann.cells_for(len(vectors)) and index.nprobe < index.nlist  # not a full scan
    assert recall_at_10(index, truth, queries) >= 0.98
    # the scores are the exact cosines of the ids returned
    scores, found = index.search(queries[:5], 10)
    assert np.allclose(scores, np.einsum("qd,qkd->qk", queries[:5], vectors[found - 1000]), atol=1e-5)
    # without re-ranking many candidates and with one cell probed, the codes alone do worse:
    # the recall above is the design's, not a full exact scan's
    index.rerank, index.k_factor, index.nprobe = 10, 1, 1
    assert recall_at_10(index, truth, queries) < 0.9


def test_add_remove_write_and_read_keep_both_parts_in_step(synthetic, tmp_path):
    vectors, ids, queries = synthetic
    index = ann.build(exact_index(vectors[:15_000], ids[:15_000]))
    index.add_with_ids(vectors[15_000:], ids[15_000:])
    gone = ids[::7]
    assert index.remove_ids(gone) == len(gone)
    assert index.ntotal == len(ids) - len(gone) and index.stale == len(gone)  # tombstones among the codes
    _, found = index.search(vectors[::7][:50] - 1e-3, 10)  # queries next to removed vectors
    assert not np.isin(found, gone).any()
    kept = np.setdiff1d(ids, gone)
    assert recall_at_10(index, exact_index(vectors[kept - 1000], kept), queries) >= 0.98
    assert np.allclose(index.reconstruct(int(kept[3])), vectors[kept[3] - 1000])

    # added after a removal (faiss's fast-scan lists lost most such vectors when removal went to them)
    fresh = clustered(500, seed=2)
    fresh_ids = np.arange(50_000, 50_500, dtype=np.int64)
    index.add_with_ids(fresh, fresh_ids)
    _, found = index.search(fresh[:100], 1)
    assert np.array_equal(found[:, 0], fresh_ids[:100])
    # and a removed id added back is found once, not twice
    index.add_with_ids(vectors[gone[:100] - 1000], gone[:100])
    _, found = index.search(vectors[gone[:100] - 1000], 10)
    assert np.array_equal(found[:, 0], gone[:100]) and all(len(set(f)) == 10 for f in found)

    ann.write(index, tmp_path)
    again = ann.read(tmp_path)
    assert ann.is_approximate(again) and again.ntotal == index.ntotal and again.stale == index.stale
    assert again.nprobe == index.nprobe
    assert np.array_equal(again.search(queries, 10)[1], index.search(queries, 10)[1])

    # a save clears the tombstones once they pass a tenth of the index: same cells, live codes only
    assert index.stale > ann.STALE_SHARE * index.ntotal
    cleared = ann.fit(index, threshold=1000)
    assert cleared.stale == 0 and cleared.nlist == index.nlist and cleared.ntotal == index.ntotal
    assert np.array_equal(cleared.search(queries, 10)[1], index.search(queries, 10)[1])


def test_small_exact_stays_exact_and_grown_codes_are_trained_anew(synthetic):
    vectors, ids, _ = synthetic
    small = exact_index(vectors[:1000], ids[:1000])
    assert ann.fit(small, threshold=5000) is small and ann.fit(small, threshold=0) is small
    index = ann.fit(small, threshold=1000)
    assert ann.is_approximate(index) and index.nlist == ann.cells_for(1000)
    index.add_with_ids(vectors[1000:3000], ids[1000:3000])
    assert ann.fit(index, threshold=1000) is index  # grew threefold: the cells still fit
    index.add_with_ids(vectors[3000:4000], ids[3000:4000])
    grown = ann.fit(index, threshold=1000)  # fourfold: sqrt(n) cells are twice as many
    assert grown is not index and grown.nlist == ann.cells_for(4000) and grown.ntotal == 4000


def test_an_ivf_flat_index_of_the_earlier_release_is_read_as_exact(synthetic, tmp_path):
    vectors, ids, queries = synthetic
    old = faiss.IndexIVFFlat(faiss.IndexFlatIP(vectors.shape[1]), vectors.shape[1], 16, faiss.METRIC_INNER_PRODUCT)
    old.train(vectors[:2000])
    old.add_with_ids(vectors[:2000], ids[:2000])
    faiss.write_index(old, str(tmp_path / ann.EXACT_FILE))
    index = ann.read(tmp_path)
    assert isinstance(index, faiss.IndexIDMap2) and index.ntotal == 2000
    assert recall_at_10(index, exact_index(vectors[:2000], ids[:2000]), queries) == 1.0
