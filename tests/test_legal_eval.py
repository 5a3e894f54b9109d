"""The legal_train evaluation (bot/eval/legal_data.py, bot/eval/legal_eval.py) on a tiny folder written here:
the fold by law, the law Markdown the corpus reads as a law, and the figures it reports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.eval.legal_data import is_heldout_law, law_markdown, load_legal, split, write_laws
from bot.eval.legal_eval import evaluate_legal, format_legal_report, summarize_legal
from corpus.loader import load_corpus

from .conftest import SETTINGS


def _names(held: bool, count: int) -> list[str]:
    """Law names on the wanted side of the fold, found by the fold's own rule (no hash hard-coded)."""
    found = [f"测试条例{i}" for i in range(200) if is_heldout_law(f"测试条例{i}") == held]
    return found[:count]


@pytest.fixture
def legal_folder(tmp_path: Path) -> Path:
    (held,) = _names(True, 1)
    (kept,) = _names(False, 1)
    articles = [
        {"law": held, "article": "第一条", "text": "第一条 为了规范宠物饲养管理，制定本条例。"},
        {"law": held, "article": "第二条", "text": "第二条 饲养犬只应当办理登记。\n未登记的，由公安机关责令改正。"},
        {"law": held, "article": "第三条", "text": "第三条 携犬出户应当束犬链，由成年人牵领。"},
        {"law": kept, "article": "第一条", "text": "第一条 为了保护古树名木，制定本条例。"},
        {"law": kept, "article": "第二条", "text": "第二条 禁止砍伐古树名木。"},
        {"law": kept, "article": "第三条", "text": "第三条 古树名木由园林部门养护。"},
    ]
    questions = [
        {"q": "养狗要不要去登记？", "articles": [[held, "第二条"]], "answer": "", "source": "t#0"},
        {"q": "遛狗必须拴绳吗？", "articles": [[held, "第三条"]], "answer": "", "source": "t#1"},
        {"q": "小区的老树能砍吗？", "articles": [[kept, "第二条"]], "answer": "", "source": "t#2"},
        {"q": "狗咬坏了古树怎么办？", "articles": [[held, "第二条"], [kept, "第二条"]], "answer": "", "source": "t#3"},
    ]
    (tmp_path / "articles.jsonl").write_text(
        "".join(json.dumps(a, ensure_ascii=False) + "\n" for a in articles), encoding="utf-8")
    (tmp_path / "questions.json").write_text(json.dumps(questions, ensure_ascii=False), encoding="utf-8")
    return tmp_path


def test_split_holds_out_whole_laws_and_drops_questions_across_the_fold(legal_folder):
    data = load_legal(legal_folder)
    train, heldout = split(data)
    assert [q.question for q in heldout] == ["养狗要不要去登记？", "遛狗必须拴绳吗？"]
    assert [q.question for q in train] == ["小区的老树能砍吗？"]  # the mixed question is in neither
    assert not is_heldout_law("民法典")


def test_laws_are_written_as_laws_the_corpus_recognises(legal_folder, tmp_path):
    data = load_legal(legal_folder)
    (held,) = _names(True, 1)
    write_laws(data, [held], tmp_path / "laws")
    (document,) = load_corpus(tmp_path / "laws").documents
    assert document.title == held and document.metadata["kind"] == "law"
    # an article's second paragraph stays with it
    assert "第二条 饲养犬只应当办理登记。\n\n未登记的" in law_markdown(held, [a for (law, _), a in data.articles.items()
                                                                   if law == held])


def test_a_malformed_folder_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="缺少"):
        load_legal(tmp_path)


def test_summary_counts_each_outcome():
    rows = [
        {"rank": 1, "status": "answered", "cited": True, "seconds": 0.01},
        {"rank": 4, "status": "related", "cited": False, "seconds": 0.02},
        {"rank": None, "status": "refused", "cited": False, "seconds": 0.03},
        {"rank": None, "status": "answered", "cited": False, "seconds": 0.04},
    ]
    s = summarize_legal(rows)
    assert s["counts"] == {"top1": 1, "top5": 2, "cited": 1, "answered": 2, "related": 1, "refused": 1}
    assert (s["top5"], s["answered"], s["related"], s["refused"]) == (0.5, 0.5, 0.25, 0.25)


def test_evaluate_legal_asks_the_held_out_questions_on_the_held_out_laws(legal_folder, embedder):
    report = evaluate_legal(embedder, SETTINGS, legal_folder, top_k=5, modes=["hybrid"])
    result = report["modes"]["hybrid"]
    assert report["laws"] == 1 and result["questions"] == 2
    # three articles in the index and five passages retrieved: every labelled article is found
    assert result["top5"] == 1.0
    assert result["answered"] + result["related"] + result["refused"] == pytest.approx(1.0)
    assert "legal_train" in format_legal_report(report)


def test_cli_eval_legal_reports_the_fold(legal_folder, tmp_path, model_cache, capsys, monkeypatch):
    from ui.cli import main

    monkeypatch.setenv("UNIONQA_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("UNIONQA_MODEL_CACHE", str(model_cache))
    out = tmp_path / "report.json"
    code = main(["eval", "--legal", str(legal_folder), "--modes", "hybrid,bm25", "--index", str(tmp_path / "index"),
                 "--model", SETTINGS.embedding_model, "--out", str(out)])
    assert code == 0
    assert "legal_train 留出法律" in capsys.readouterr().out
    data = json.loads(out.read_text(encoding="utf-8"))["legal"]
    assert list(data["modes"]) == ["hybrid", "bm25"] and data["modes"]["bm25"]["questions"] == 2
    assert not (tmp_path / "index").exists()  # asked on an index in memory


def test_cli_eval_legal_reports_a_missing_folder(tmp_path, capsys):
    from ui.cli import main

    assert main(["eval", "--legal", str(tmp_path / "无此目录")]) == 2
    assert "缺少" in capsys.readouterr().err


@pytest.mark.model
def test_calibrate_fits_on_consultations_labelled_by_article(legal_folder, tmp_path, model_cache, monkeypatch):
    """`unionqa calibrate --legal`: the training side's consultations are asked on their own laws
    (answerable when a labelled article is retrieved) and on the corpus (unanswerable there)."""
    import shutil

    from bot.answerability import Calibration
    from ui.cli import main

    root = Path(__file__).resolve().parents[1]
    corpus = tmp_path / "corpus"
    shutil.copytree(root / "corpus" / "default" / "laws", corpus)
    monkeypatch.setenv("UNIONQA_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("UNIONQA_MODEL_CACHE", str(model_cache))
    out = tmp_path / "cal.json"
    assert main(["calibrate", "--qa", str(root / "tests" / "data" / "laws_dev_slice.json"), "--corpus", str(corpus),
                 "--legal", str(legal_folder), "--out", str(out)]) == 0
    fitted = Calibration.from_json(json.loads(out.read_text(encoding="utf-8")))
    assert "--legal" in fitted.fitted["command"]
    # the one training-side question (the old trees), once on its law and once on the union's laws
    assert fitted.fitted["examples"]["legal"] == {"answerable": 1, "unanswerable": 1}


def test_a_consultation_is_judged_by_its_labelled_articles():
    from bot.eval.tune_questions import LEGAL, Asked
    from bot.records import ANSWERED, Answer, Citation

    asked = Asked(None, LEGAL, (), True, [], None, frozenset({("古树条例", "第二条")}))
    assert asked.holds_answer("任何文字", "古树条例", "第二条")
    assert not asked.holds_answer("禁止砍伐古树名木。", "古树条例", "第三条")
    cite = Citation(1, "d", "古树条例", "", "第二条 禁止砍伐古树名木。", 0, 10, 1.0, article="第二条")
    assert asked.is_right(Answer("禁止砍伐古树名木。[1]", False, [cite], status=ANSWERED))
    # a labelled article shown only as 「其他相关规定」 is not the answer's lead
    other = Citation(1, "d", "古树条例", "", "第二条 禁止砍伐古树名木。", 0, 10, 1.0, article="第二条", role="other")
    assert not asked.is_right(Answer("……", False, [other], status=ANSWERED))
