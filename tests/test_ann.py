"""Approximate dense search past a size threshold: the same answers, and add/remove still work."""

from __future__ import annotations

import numpy as np
import pytest

from bot.bot import Bot
from index import ann
from index.store import IndexStore
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
    assert store.dense.ntotal == len(store.chunks) == len(exact.chunks)
    assert store.dense.nprobe == ann.nprobe_for(store.dense.nlist) > 1  # nprobe is not saved by faiss
    # the vectors are kept exactly: same cosines, and a chunk finds itself first
    ids = sorted(store.chunks)[::25]
    for vid in ids:
        assert np.allclose(store.chunk_vector(vid), exact.chunk_vector(vid))
        assert store.search_dense(exact.chunk_vector(vid), 1)[0][0] == vid


def test_recall_against_exact_search_on_real_questions(ivf_index, bundled_index, embedder):
    exact = IndexStore.load(bundled_index, expected=SETTINGS)
    store = IndexStore.load(ivf_index, expected=SETTINGS)
    questions = ["试用期最长多久？", "工会会费怎么交？", "女职工产假有多少天？", "加班费怎么算？",
                 "年休假有几天？", "什么是工匠精神？", "用人单位可以随时解除劳动合同吗？", "工会主席怎么产生？"]
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
