"""The worker-question evaluation (`unionqa eval --qa`): loading dev files, the
tune / holdout split, matching answers with gold strings, the arithmetic of the
figures on a scripted bot, and a real run on the committed slices."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from bot.answerability import file_name
from bot.eval.qa_data import Dialogue, QAItem, QASet, RefuseItem, is_holdout, load_qa, plain
from bot.eval.qa_eval import (
    answer_matches,
    answered_right,
    evaluate_qa,
    format_qa_report,
    gold_rank,
    gold_set_matches,
)
from bot.records import ANSWERED, REFUSED, RELATED, Answer, Citation
from corpus import DEFAULT_CORPUS_DIR
from index.embedding.embedder import DEFAULT_MODEL
from tests.conftest import SETTINGS
from ui.cli import main


@pytest.fixture(scope="module")
def bot(model_bot):
    """The figures of a real run and the English answers are measured: the bot on the real model (which makes a test that uses it a `model` test)."""
    return model_bot

ROOT = Path(__file__).resolve().parents[1]

DATA = Path(__file__).resolve().parent / "data"
LAWS_SLICE = DATA / "laws_dev_slice.json"
ARTICLE_SLICE = DATA / "article_dev_slice.json"
ENGLISH = Path(__file__).resolve().parent.parent / "data" / "english"
SMALL_LAW = DEFAULT_CORPUS_DIR / "laws" / "职工带薪年休假条例(2007-12-14).md"


def write_json(path: Path, data) -> Path:
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


# ---------------------------------------------------------------- loading


def test_the_slices_load_with_every_part():
    laws, article = load_qa(LAWS_SLICE), load_qa(ARTICLE_SLICE)
    for qa in (laws, article):
        assert len(qa.answerable) == 12 and len(qa.refuse) == 4 and len(qa.dialogues) == 2
        assert qa.about
        assert len({item.kind for item in qa.answerable}) >= 5
        assert all(len(d.turns) == 2 for d in qa.dialogues)
    assert {"colloquial", "formal", "traditional"} <= {item.style for item in laws.answerable}
    assert {"english", "traditional"} <= {item.style for item in article.answerable}
    # the laws slice keeps questions that another provision answers equally well
    with_also = [item for item in laws.answerable if len(item.golds) > 1]
    assert len(with_also) >= 2
    assert all(item.doc and item.article for item in laws.answerable)


def test_also_becomes_an_alternative_gold_set_after_the_main_one(tmp_path):
    path = write_json(tmp_path / "dev.json", {
        "about": "测试",
        "answerable": [{
            "q": " 试用期最长多久？ ", "a": ["六个月"], "kind": "duration", "style": "colloquial",
            "doc": "劳动合同法", "article": "第十九条",
            "also": [{"doc": "劳动法", "article": "第二十一条", "a": ["试用期最长", "不得超过六个月"]}],
        }],
        "refuse": ["今天天气怎么样？"],
        "dialogues": [{"turns": [{"q": "产假多少天？", "a": ["98天产假"]}, {"q": "难产呢？", "a": ["增加产假15天"]}]}],
    })
    qa = load_qa(path)
    item = qa.answerable[0]
    assert item == QAItem("试用期最长多久？", (("六个月",), ("试用期最长", "不得超过六个月")), "duration",
                          "colloquial", "劳动合同法", "第十九条", is_holdout("试用期最长多久？"))
    assert qa.refuse == (RefuseItem("今天天气怎么样？", is_holdout("今天天气怎么样？")),)
    dialogue = qa.dialogues[0]
    assert dialogue.turns[1].golds == (("增加产假15天",),)
    assert dialogue.turns[0].kind == "" and dialogue.holdout == is_holdout("产假多少天？")


GOOD_ITEM = {"q": "试用期最长多久？", "a": ["六个月"]}


@pytest.mark.parametrize(
    "content, complaint",
    [
        ("{不是 JSON", "不是有效的 JSON"),
        (json.dumps([GOOD_ITEM]), "顶层"),
        (json.dumps({"refuse": ["天气？"]}), "answerable"),
        (json.dumps({"answerable": [{"a": ["六个月"]}]}), "answerable[0] 缺少问题 q"),
        (json.dumps({"answerable": [{"q": "试用期？", "a": []}]}), "answerable[0].a"),
        (json.dumps({"answerable": [{"q": "试用期？", "a": "六个月"}]}), "answerable[0].a"),
        (json.dumps({"answerable": [{"q": "试用期？", "a": ["六个月", 6]}]}), "answerable[0].a"),
        (json.dumps({"answerable": [{**GOOD_ITEM, "also": [{"a": [" "]}]}]}), "answerable[0].also[0].a"),
        (json.dumps({"answerable": [GOOD_ITEM], "refuse": ["", "天气？"]}), "refuse[0]"),
        (json.dumps({"answerable": [], "dialogues": [{"turns": [GOOD_ITEM]}]}), "dialogues[0]"),
        (json.dumps({"answerable": [], "refuse": []}), "没有可以评测的问题"),
    ],
)
def test_a_malformed_file_is_named_with_what_is_wrong(tmp_path, content, complaint):
    path = tmp_path / "坏文件.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError) as caught:
        load_qa(path)
    assert str(path) in str(caught.value)
    assert complaint in str(caught.value)


# ---------------------------------------------------------------- the split


def test_the_split_is_deterministic_and_about_a_third():
    questions = [f"第{i}个问题：加班费怎么算？" for i in range(3000)]
    held = [is_holdout(q) for q in questions]
    assert held == [is_holdout(q) for q in questions]
    assert 0.30 < sum(held) / len(held) < 0.37
    # surrounding spaces do not move a question to the other part
    assert all(is_holdout(f"  {q}\n") == h for q, h in zip(questions[:50], held, strict=False))


def test_the_slices_hold_tune_questions_only():
    """A holdout question in a test is one the code was shaped on: the slices keep to the tune part."""
    for slice_ in (load_qa(LAWS_SLICE), load_qa(ARTICLE_SLICE)):
        questions = [*slice_.answerable, *slice_.refuse, *slice_.dialogues]
        assert questions and not any(q.holdout for q in questions)
        assert all(not is_holdout(item.question) for item in slice_.answerable)


# ---------------------------------------------------------------- matching


def citation(text: str, n: int = 1) -> Citation:
    return Citation(n=n, doc_id="d", title="劳动合同法", section="", text=text, start=0, end=len(text), score=1.0)


def answer(text: str, cited: list[str], status: str = ANSWERED) -> Answer:
    return Answer(text, status == REFUSED, [citation(t, n) for n, t in enumerate(cited, start=1)], status=status)


ITEM = QAItem("辞职要提前多久？", (("提前三十日", "书面形式"), ("提前三日",)))


def test_markers_and_whitespace_do_not_hide_a_gold_string():
    assert plain("提前三十[1]日 以\n书面 形式。[12]") == "提前三十日以书面形式。"
    passage = "劳动者提前三十日\n以书面形式通知用人单位"
    assert gold_set_matches(["提前三十日以书面形式"], "劳动者提前三十日[1]以书面形式通知。", [passage])


def test_every_string_of_a_set_is_required():
    passage = "劳动者提前三十日以书面形式通知用人单位"
    assert answer_matches(ITEM, answer("劳动者提前三十日以书面形式通知。[1]", [passage]))
    assert not answer_matches(ITEM, answer("劳动者提前三十日通知。[1]", [passage]))


def test_the_strings_of_an_also_set_answer_as_well():
    assert answer_matches(ITEM, answer("劳动者在试用期内提前三日通知用人单位。[1]", ["在试用期内提前三日通知用人单位"]))


def test_a_gold_string_must_be_in_a_cited_passage_too():
    # said in the answer but backed by no citation
    assert not answer_matches(ITEM, answer("提前三十日以书面形式。", ["劳动者可以解除劳动合同"]))
    # the strings of one set may come from different cited passages
    assert answer_matches(ITEM, answer("提前三十日[1]以书面形式[2]", ["提前三十日", "以书面形式通知"]))


def test_only_an_answered_status_can_be_right():
    text, cited = "劳动者提前三十日以书面形式通知。[1]", ["劳动者提前三十日以书面形式通知用人单位"]
    assert answered_right(ITEM, answer(text, cited, ANSWERED))
    assert not answered_right(ITEM, answer(text, cited, RELATED))


def test_the_rank_is_where_the_union_of_passages_first_holds_a_set():
    assert gold_rank(ITEM, ["无关", "提前三十日", "其他", "以书面 形式", "提前三日"]) == 4
    assert gold_rank(ITEM, ["无关", "提前三日", "提前三十日以书面形式"]) == 2
    assert gold_rank(ITEM, ["提前三十日", "无关"]) is None


# ---------------------------------------------------------------- arithmetic on a scripted bot


class ScriptedBot:
    """Answers from a script: question -> (status, answer text, cited passages, ranked passages)."""

    def __init__(self, script: dict[str, tuple[str, str, list[str], list[str]]]):
        self.script = script
        self.asked: list[tuple[str, list | None]] = []

    def ask(self, question, history=None):
        self.asked.append((question, history))
        status, text, cited, _ = self.script[question]
        return answer(text, cited, status)

    def retrieve(self, question, history=None, top_k=None):
        hits = [SimpleNamespace(chunk=SimpleNamespace(text=t)) for t in self.script[question][3]]
        return question, hits[:top_k], None


def scripted_set() -> tuple[QASet, ScriptedBot]:
    right = QAItem("辞职提前几天？", (("三十日",),), "number", "colloquial", holdout=False)
    refused = QAItem("试用期多久？", (("六个月",), ("不得超过六个月",)), "number", "formal", holdout=True)
    related = QAItem("能押证件吗？", (("不得扣押",),), "yesno", "colloquial", holdout=False)
    first = QAItem("产假多少天？", (("98天产假",),))
    second = QAItem("难产呢？", (("增加产假15天",),))
    qa = QASet(
        Path("scripted.json"), "测试",
        (right, refused, related),
        (RefuseItem("天气怎么样？", False), RefuseItem("股票涨吗？", True)),
        (Dialogue((first, second), holdout=True),),
    )
    bot = ScriptedBot({
        right.question: (ANSWERED, "提前三十日[1]通知。", ["提前三十日以书面形式"], ["其他", "提前三十日以书面形式"]),
        refused.question: (REFUSED, "知识库中没有找到。", [], ["试用期不得超过六个月"]),
        related.question: (RELATED, "相关条文[1]", ["用人单位不得扣押"], []),
        "天气怎么样？": (REFUSED, "知识库中没有找到。", [], []),
        "股票涨吗？": (ANSWERED, "乱答一句[1]", ["乱答一句"], []),
        first.question: (ANSWERED, "女职工生育享受98天产假。[1]", ["女职工生育享受98天产假"], ["98天产假"]),
        second.question: (ANSWERED, "难产的另说。[1]", ["难产的另说"], []),
    })
    return qa, bot


@pytest.fixture(scope="module")
def scripted():
    qa, bot = scripted_set()
    return evaluate_qa(bot, qa, progress=False), bot


def test_figures_of_the_whole_set(scripted):
    report, _ = scripted
    whole = report["groups"]["all"]
    assert whole["questions"] == 3
    assert (whole["answered_right"], whole["answered_right_n"]) == (0.333, "1/3")
    assert (whole["hit@1_n"], whole["hit@5_n"], whole["hit@10_n"]) == ("1/3", "2/3", "2/3")
    assert (whole["answerable_refused_n"], whole["answerable_related_n"]) == ("1/3", "1/3")
    assert whole["oos_questions"] == 2
    assert (whole["oos_refused"], whole["oos_related"], whole["oos_answered"]) == (0.5, 0.0, 0.5)
    assert whole["oos_refused_or_related_n"] == "1/2"
    assert (whole["followup_turns"], whole["followup_first_right_n"], whole["followup_right_n"]) == (1, "1/1", "0/1")
    assert whole["asks"] == 7  # 3 answerable + 2 to refuse + 2 turns
    # answered answers only, markers removed: 提前三十日通知。 乱答一句 女职工生育享受98天产假。 难产的另说。
    assert whole["mean_answer_chars"] == round((8 + 4 + 13 + 6) / 4, 1)
    assert whole["latency_ms_p95"] >= whole["latency_ms_p50"] >= 0


def test_tune_and_holdout_split_the_whole(scripted):
    report, _ = scripted
    tune, holdout = report["groups"]["tune"], report["groups"]["holdout"]
    assert (tune["questions"], tune["answered_right_n"], tune["oos_refused_n"]) == (2, "1/2", "1/1")
    assert (holdout["questions"], holdout["answerable_refused_n"], holdout["oos_answered_n"]) == (1, "1/1", "1/1")
    # no dialogue in the tune part: no rate rather than a made-up zero
    assert (tune["followup_turns"], tune["followup_right"], tune["followup_right_n"]) == (0, None, "0/0")
    assert holdout["followup_right_n"] == "0/1"


def test_kind_and_style_groups_hold_answerable_questions_only(scripted):
    report, _ = scripted
    assert report["by_kind"]["number"]["answered_right_n"] == "1/2"
    assert report["by_kind"]["yesno"]["answerable_related_n"] == "1/1"
    assert report["by_style"]["colloquial"]["questions"] == 2
    assert report["by_style"]["formal"]["oos_questions"] == 0
    keys = set(report["groups"]["all"])
    assert all(set(g) == keys for g in [*report["groups"].values(), *report["by_kind"].values(),
                                         *report["by_style"].values()])


def test_the_follow_up_is_asked_with_the_first_turn_and_its_answer(scripted):
    _, bot = scripted
    assert ("难产呢？", [("产假多少天？", "女职工生育享受98天产假。[1]")]) in bot.asked
    assert all(history is None for question, history in bot.asked if question != "难产呢？")


def test_misses_are_listed_for_study(scripted):
    report, _ = scripted
    assert [(f["q"], f["status"]) for f in report["failures"]] == [("试用期多久？", REFUSED), ("能押证件吗？", RELATED)]
    assert report["failures"][0]["expected"] == [["六个月"], ["不得超过六个月"]]
    assert report["failures"][0]["rank"] == 1
    (followup,) = report["followup_failures"]
    assert followup["q"] == "难产呢？" and followup["first"]["q"] == "产假多少天？"
    assert [o["q"] for o in report["oos_answered"]] == ["股票涨吗？"]
    assert report["dialogues"] == [{"turns": ["产假多少天？", "难产呢？"], "holdout": True, "first_right": True,
                                    "followup_right": False, "followup_query": ""}]
    json.dumps(report)  # the report goes into the JSON file as it is


def test_the_printed_report_has_the_three_tables(scripted):
    report, _ = scripted
    text = format_qa_report(report, title="样例（hybrid）")
    assert text.startswith("### 样例（hybrid）")
    assert "| all | 0.333 (1/3) |" in text
    assert "| tune |" in text and "| holdout |" in text
    assert "| number | 2 | 0.5 (1/2) |" in text and "| formal |" in text
    assert "–" in text  # a rate over nothing
    assert "failures" not in text and "试用期多久" not in text  # the misses are in the JSON only


# ---------------------------------------------------------------- the real bot on the slices


def _count(figures: dict, key: str) -> tuple[int, int]:
    count, total = figures[f"{key}_n"].split("/")
    return int(count), int(total)


RATES = ["answered_right", "hit@1", "hit@5", "hit@10", "answerable_refused", "answerable_related", "oos_refused",
         "oos_related", "oos_answered", "oos_refused_or_related", "followup_first_right", "followup_right"]


@pytest.fixture(scope="module")
def real_reports(bot):
    return {path.stem: evaluate_qa(bot, load_qa(path), progress=False) for path in (LAWS_SLICE, ARTICLE_SLICE)}


@pytest.mark.parametrize("stem", ["laws_dev_slice", "article_dev_slice"])
def test_a_real_run_gives_consistent_figures(real_reports, stem):
    report = real_reports[stem]
    groups = report["groups"]
    whole, tune, holdout = groups["all"], groups["tune"], groups["holdout"]
    assert (whole["questions"], whole["oos_questions"], whole["followup_turns"]) == (12, 4, 2)
    assert whole["asks"] == 12 + 4 + 2 * 2
    every_group = [*groups.values(), *report["by_kind"].values(), *report["by_style"].values()]
    for figures in every_group:
        assert set(figures) == set(whole)
        for key in RATES:
            count, total = _count(figures, key)
            assert figures[key] == (round(count / total, 3) if total else None), key
        assert _count(figures, "hit@1")[0] <= _count(figures, "hit@5")[0] <= _count(figures, "hit@10")[0]
    for key in ["questions", "oos_questions", "followup_turns", "asks"]:
        assert tune[key] + holdout[key] == whole[key], key
    for key in RATES:
        assert _count(tune, key)[0] + _count(holdout, key)[0] == _count(whole, key)[0], key
    for parts in (report["by_kind"], report["by_style"]):
        assert sum(g["questions"] for g in parts.values()) == whole["questions"]
        assert sum(_count(g, "answered_right")[0] for g in parts.values()) == _count(whole, "answered_right")[0]
    assert sum(_count(whole, k)[0] for k in ("oos_refused", "oos_related", "oos_answered")) == 4
    assert whole["latency_ms_p95"] >= whole["latency_ms_p50"] > 0
    assert whole["mean_answer_chars"] is None or whole["mean_answer_chars"] > 0
    assert len(report["failures"]) == 12 - _count(whole, "answered_right")[0]
    assert len(report["dialogues"]) == 2
    json.dumps(report)


@pytest.mark.parametrize("stem", ["laws_dev_en", "article_dev_en"])
def test_the_english_translations_split_with_their_chinese_originals(stem):
    english = load_qa(ENGLISH / f"{stem}.json")
    assert {i.style for i in english.answerable} == {"english"}
    assert sum(i.holdout for i in english.answerable) == sum(
        is_holdout(raw.get("zh") or raw["q"]) for raw in json.loads((ENGLISH / f"{stem}.json").read_text())["answerable"]
    )
    assert any(i.holdout for i in english.answerable) and any(r.holdout for r in english.refuse)


def test_english_questions_are_answered_from_the_chinese_documents(bot, tmp_path):
    # The first 12 answerable questions, 4 out-of-scope ones and 2 dialogues of each English
    # file: read through the glossary, about half are answered right (without it, 1 of 24).
    right = 0
    for stem in ("laws_dev_en", "article_dev_en"):
        data = json.loads((ENGLISH / f"{stem}.json").read_text(encoding="utf-8"))
        data.update(answerable=data["answerable"][:12], refuse=data["refuse"][:4], dialogues=data["dialogues"][:2])
        path = tmp_path / f"{stem}.json"
        path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
        whole = evaluate_qa(bot, load_qa(path), progress=False)["groups"]["all"]
        assert whole["questions"] == 12 and whole["oos_questions"] == 4
        right += _count(whole, "answered_right")[0]
    assert right >= 10


def test_a_real_run_prints_its_tables(real_reports):
    text = format_qa_report(real_reports["article_dev_slice"])
    assert text.startswith("### article_dev_slice")
    assert re.search(r"\| all \| [\d.]+ \(\d+/12\) \|", text)
    assert "| english |" in text and "| definition |" in text


# ---------------------------------------------------------------- the command


def test_cli_eval_qa_on_a_small_corpus(tmp_path, model_cache, capsys, monkeypatch):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(SMALL_LAW, corpus / SMALL_LAW.name)
    monkeypatch.setenv("UNIONQA_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("UNIONQA_MODEL_CACHE", str(model_cache))
    out = tmp_path / "report.json"
    # a fit made elsewhere (say, without this collection) decides instead of the bundled one:
    # this one refuses everything
    bundled = json.loads((ROOT / "bot" / "calibration" / file_name(DEFAULT_MODEL)).read_text(encoding="utf-8"))
    refusing = write_json(tmp_path / "refusing.json", {**bundled, "answer_threshold": 2.0, "related_threshold": 2.0,
                                                       "fitted": {"command": "a fit that refuses everything"}})
    code = main(["eval", "--qa", str(LAWS_SLICE), "--corpus", str(corpus), "--index", str(tmp_path / "index"),
                 "--modes", "hybrid,bm25", "--model", SETTINGS.embedding_model, "--chunk-chars", str(SETTINGS.chunk_chars),
                 "--chunk-overlap", str(SETTINGS.chunk_overlap), "--out", str(out), "--calibration", str(refusing)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "### laws_dev_slice（hybrid）" in printed and "### laws_dev_slice（bm25）" in printed
    assert "| all |" in printed and "| holdout |" in printed and "| traditional |" in printed
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["qa_index"]["documents"] == 1 and data["qa_index"]["corpus"] == str(corpus)
    entry = data["qa"]["laws_dev_slice"]
    assert entry["file"] == str(LAWS_SLICE)
    assert list(entry["modes"]) == ["hybrid", "bm25"]
    assert entry["modes"]["bm25"]["groups"]["all"]["questions"] == 12
    assert data["qa_index"]["calibration"] == "a fit that refuses everything"
    assert entry["modes"]["hybrid"]["groups"]["all"]["answerable_refused_n"] == "12/12"
    assert data["machine"]
    # the questions were asked on an index in memory: the live one was neither used nor built
    assert not (tmp_path / "index").exists()


def test_cli_eval_qa_reports_a_missing_or_malformed_file(tmp_path, capsys):
    assert main(["eval", "--qa", str(tmp_path / "无此文件.json")]) == 2
    assert "找不到数据文件" in capsys.readouterr().err
    bad = write_json(tmp_path / "bad.json", {"answerable": [{"q": "试用期？"}]})
    assert main(["eval", "--qa", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "bad.json" in err and "answerable[0].a" in err and "Traceback" not in err
    broken = tmp_path / "cal.json"
    broken.write_text("{}", encoding="utf-8")
    assert main(["eval", "--qa", str(LAWS_SLICE), "--calibration", str(broken)]) == 2
    assert "校准文件" in capsys.readouterr().err


def test_cli_eval_qa_refuses_an_unknown_mode(capsys):
    assert main(["eval", "--qa", str(LAWS_SLICE), "--modes", "fuzzy"]) == 2
    assert "fuzzy" in capsys.readouterr().err
