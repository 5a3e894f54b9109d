"""The evaluation (`unionqa eval`) on a committed 12-paragraph slice of CMRC 2018,
with the real model: structure and sane values of the report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.eval.evaluate import RANK_DEPTH, ask_ranked, evaluate, format_report, is_holdout, load_squad
from index.store.folder import IndexStore
from tests.conftest import MODEL_SETTINGS, SETTINGS
from ui.cli import main

ROOT = Path(__file__).resolve().parents[1]
SLICE = ROOT / "tests" / "data" / "cmrc2018_slice.json"
METRICS = {"questions", "hit@1", "hit@5", "hit@10", "mrr@10", "answer_hit", "mean_answer_chars",
           "false_refusal_rate", "latency_ms_p50", "latency_ms_p95"}


def test_the_slice_loads_as_one_document_per_paragraph():
    documents, items = load_squad(SLICE)
    assert len(documents) == 12 and len(items) == 53
    assert all(item.answers for item in items)
    assert {d.doc_id for d in documents} == {item.doc_id for item in items}
    # both parts are represented, split by article title
    assert {item.holdout for item in items} == {True, False}
    assert is_holdout("泡泡战士") and not is_holdout("龙胆")


@pytest.mark.parametrize("question", ["工匠精神是什么？", "试用期最长多久？", "今天天气怎么样？"])
def test_the_evaluation_gets_the_answer_the_chat_gives(model_bot, question):
    answer, ranked = ask_ranked(model_bot, question)
    assert answer == model_bot.ask(question)
    assert len(ranked) == RANK_DEPTH


@pytest.fixture(scope="module")
def report(model_embedder, model_index):
    """All three modes on the slice's chunks, the slice's questions asked again
    against the bundled corpus as negatives: the figures are the real model's."""
    bundled = IndexStore.load(model_index, expected=MODEL_SETTINGS)
    return evaluate(model_embedder, MODEL_SETTINGS, ["hybrid", "bm25", "dense"], dataset=SLICE, negatives=SLICE,
                    negatives_store=bundled)


def test_every_mode_reports_every_metric(report):
    assert list(report["modes"]) == ["hybrid", "bm25", "dense"]
    assert report["index"]["documents"] == 12 and report["index"]["chunks"] >= 12
    for metrics in report["modes"].values():
        assert METRICS <= set(metrics)
        assert metrics["questions"] == 53
        assert metrics["tune"]["questions"] + metrics["holdout"]["questions"] == 53
        assert 0 <= metrics["hit@1"] <= metrics["hit@5"] <= metrics["hit@10"] <= 1
        assert metrics["latency_ms_p95"] >= metrics["latency_ms_p50"] > 0
        assert metrics["index_chunks_per_second"] > 0


def test_values_are_sane_on_the_slice(report):
    hybrid = report["modes"]["hybrid"]
    # on 12 paragraphs retrieval is easy: the bar only catches a broken pipeline
    assert hybrid["hit@5"] >= 0.9
    assert hybrid["mrr@10"] >= 0.8
    assert hybrid["answer_hit"] >= 0.5
    assert 0 < hybrid["mean_answer_chars"] <= 160
    assert hybrid["false_refusal_rate"] <= 0.1
    # questions about Wikipedia articles are not answered from the trade-union corpus
    assert all(m["refusal_rate"] >= 0.9 for m in report["modes"].values())


def test_report_prints_tune_and_holdout_tables(report):
    text = format_report(report)
    assert "| hybrid |" in text and "tune" in text and "holdout" in text


def test_cli_eval_writes_the_report(tmp_path, model_cache, capsys, monkeypatch):
    # on the fake: the report's form is tested here, its figures above
    out = tmp_path / "report.json"
    monkeypatch.setenv("UNIONQA_MODEL_CACHE", str(model_cache))
    code = main(["eval", "--dataset", str(SLICE), "--limit", "2", "--modes", "bm25", "--model", SETTINGS.embedding_model,
                 "--chunk-chars", str(SETTINGS.chunk_chars), "--chunk-overlap", str(SETTINGS.chunk_overlap),
                 "--out", str(out)])
    assert code == 0
    assert "| bm25 |" in capsys.readouterr().out
    data = json.loads(out.read_text(encoding="utf-8"))
    assert list(data["modes"]) == ["bm25"]
    assert data["index"]["documents"] == 2
    assert data["modes"]["bm25"]["questions"] > 0
    assert data["machine"]


def test_cli_eval_needs_a_dataset_or_negatives(capsys):
    assert main(["eval"]) == 2
    assert "--dataset" in capsys.readouterr().err
