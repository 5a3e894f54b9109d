"""The learned matcher of approved answers (bot/curated_pairs.py) on the fake embedder: its
features, `unionqa curated fit --legal` end to end on a small set of real-looking questions,
the file it writes and what a bad file does. Its quality on the real model is measured in
tests/test_curated_model.py and scripts/bench_curated.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.curated_match import CuratedMatcher, load_pairs
from bot.curated_pairs import FEATURES, PairModelError, features, load_pair_model, probability, side, target
from bot.curated_store import CuratedStore
from tests.fake_embedder import FAKE_MODEL
from ui.cli import main

# consultations as legal_train has them: two per article set, asked differently
LEGAL = [
    ("试用期最长可以约定几个月？", [["劳动合同法", "第十九条"]]),
    ("签一年合同试用期能定多久？", [["劳动合同法", "第十九条"]]),
    ("辞职需要提前多少天通知单位？", [["劳动合同法", "第三十七条"]]),
    ("员工离职要提前几天打招呼？", [["劳动合同法", "第三十七条"]]),
    ("加班费按工资的多少倍支付？", [["劳动法", "第四十四条"]]),
    ("延长工作时间的工资怎么算？", [["劳动法", "第四十四条"]]),
    ("女职工产假有多少天？", [["女职工劳动保护特别规定", "第七条"]]),
    ("生孩子能休几天产假？", [["女职工劳动保护特别规定", "第七条"]]),
    ("用人单位不签劳动合同要付几倍工资？", [["劳动合同法", "第八十二条"]]),
    ("没签书面合同能要双倍工资吗？", [["劳动合同法", "第八十二条"]]),
]
ARTICLES = {
    ("劳动合同法", "第十九条"): "第十九条 劳动合同期限三个月以上不满一年的，试用期不得超过一个月。",
    ("劳动合同法", "第三十七条"): "第三十七条 劳动者提前三十日以书面形式通知用人单位，可以解除劳动合同。",
    ("劳动法", "第四十四条"): "第四十四条 安排劳动者延长工作时间的，支付不低于工资的百分之一百五十的工资报酬。",
    ("女职工劳动保护特别规定", "第七条"): "第七条 女职工生育享受98天产假。",
    ("劳动合同法", "第八十二条"): "第八十二条 用人单位未与劳动者订立书面劳动合同的，应当向劳动者每月支付二倍的工资。",
}
APPROVED = {"answers": [
    {"question": "试用期最长多久？", "phrasings": ["试用期最多几个月？"], "answer": "不得超过六个月。[1]",
     "cite": {"doc": "劳动合同法", "text": "试用期不得超过六个月。"}},
    {"question": "产假是几天？", "phrasings": ["女职工生孩子休多少天假？"], "answer": "98天。[1]",
     "cite": {"doc": "女职工劳动保护特别规定", "text": "女职工生育享受98天产假。"}},
]}
DEV = {"answerable": [
    {"q": "加班工资怎么算？", "a": ["百分之一百五十"], "doc": "劳动法", "article": "第四十四条"},
    {"q": "晚上加班多给多少钱？", "a": ["百分之一百五十"], "doc": "劳动法", "article": "第四十四条"},
], "refuse": ["个人所得税怎么申报？", "住房公积金怎么提取？"]}


@pytest.fixture
def files(tmp_path) -> dict[str, Path]:
    legal = tmp_path / "legal_train"
    legal.mkdir()
    (legal / "questions.json").write_text(json.dumps(
        [{"q": q, "articles": a, "answer": "您好，" + ARTICLES[tuple(a[0])]} for q, a in LEGAL], ensure_ascii=False),
        encoding="utf-8")
    (legal / "articles.jsonl").write_text("".join(
        json.dumps({"law": law, "article": art, "text": text}, ensure_ascii=False) + "\n"
        for (law, art), text in ARTICLES.items()), encoding="utf-8")
    (tmp_path / "approved.json").write_text(json.dumps(APPROVED, ensure_ascii=False), encoding="utf-8")
    (tmp_path / "dev.json").write_text(json.dumps(DEV, ensure_ascii=False), encoding="utf-8")
    return {"legal": legal, "approved": tmp_path / "approved.json", "dev": tmp_path / "dev.json",
            "pairs": tmp_path / "pairs.json", "thresholds": tmp_path / "thresholds.json"}


def fit(files: dict[str, Path]) -> int:
    return main(["curated", "fit", "--model", FAKE_MODEL, "--approved", str(files["approved"]),
                 "--qa", str(files["dev"]), "--legal", str(files["legal"]), "--train-qa", str(files["dev"]),
                 "--out", str(files["thresholds"]), "--pairs-out", str(files["pairs"])])


def test_features_see_a_word_the_answer_does_not_cover_and_synonyms_as_covered(embedder):
    def s(text):
        return side(text, embedder.encode_queries([text])[0])

    answer = target([s("产假是几天？")], ["女职工生育享受98天产假。"])
    paternity = dict(zip(FEATURES, features(s("男的能休几天陪产假？"), answer, {}, 5.0), strict=True))
    maternity = dict(zip(FEATURES, features(s("产假有几天？"), answer, {}, 5.0), strict=True))
    assert paternity["uncovered_domain_word"] == 1.0 and maternity["uncovered_domain_word"] == 0.0
    assert paternity["uncovered"] > maternity["uncovered"]
    # 离职 is 辞职's synonym in the domain dictionary: covered by an answer that says 辞职
    resign = target([s("辞职要提前多少天？")], ["劳动者提前三十日通知用人单位"])
    assert features(s("离职要提前多少天？"), resign, {}, 5.0)[FEATURES.index("uncovered")] == 0.0
    assert features(s("试用期能定3个月吗？"), answer, {}, 5.0)[FEATURES.index("new_number")] == 1.0


def test_curated_fit_learns_a_pair_model_that_matches_no_negative_and_serves_phrasings(files, embedder):
    assert fit(files) == 0
    data = json.loads(files["pairs"].read_text(encoding="utf-8"))
    assert data["features"] == list(FEATURES) and "unionqa curated fit" in data["command"]
    entry = data["models"][FAKE_MODEL]
    assert entry["training_questions"] == len(LEGAL) + len(DEV["answerable"])
    assert entry["positive_pairs"] == 2 * 6  # five pairs of consultations and one of dev questions, both ways
    assert entry["threshold"] > entry["highest_negative"]
    model = load_pair_model(FAKE_MODEL, [files["pairs"]])
    assert model is not None and len(model.coef) == len(FEATURES)

    def s(text):
        return side(text, embedder.encode_queries([text])[0])

    targets = [target([s(q) for q in [a["question"], *a["phrasings"]]], [a["answer"], a["cite"]["text"]])
               for a in APPROVED["answers"]]
    for question in DEV["refuse"]:  # the fit's own negatives stay below its threshold
        assert model.best(s(question), targets)[1] < model.threshold
    assert model.best(s("试用期最多几个月？"), targets)[0] == 0


def test_a_fit_on_other_training_questions_drops_the_other_models(files, capsys):
    files["pairs"].write_text(json.dumps({"features": list(FEATURES), "idf": {"unseen": 1.0, "tokens": {}},
                                          "models": {"other:model": {"coef": [0] * len(FEATURES)}}}), encoding="utf-8")
    assert fit(files) == 0
    assert list(json.loads(files["pairs"].read_text(encoding="utf-8"))["models"]) == [FAKE_MODEL]
    assert "other:model" in capsys.readouterr().err


def test_bad_inputs_are_clear_errors(files, capsys, tmp_path):
    (files["legal"] / "articles.jsonl").write_text("{broken\n", encoding="utf-8")
    assert fit(files) == 2
    assert "无法读取训练问题" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"features": ["cosine"], "models": {FAKE_MODEL: {}}}), encoding="utf-8")
    with pytest.raises(PairModelError, match="特征与本程序不一致"):
        load_pair_model(FAKE_MODEL, [bad])
    assert load_pair_model(FAKE_MODEL, [tmp_path / "missing.json"]) is None
    assert load_pairs(FAKE_MODEL) is None  # none bundled for the fake: the cosine threshold decides


def test_the_matcher_uses_the_pair_model_when_it_has_one(files, embedder, tmp_path):
    from bot.curated import CuratedAnswer, find_excerpt
    from corpus.records import Document

    assert fit(files) == 0
    model = load_pair_model(FAKE_MODEL, [files["pairs"]])
    text = "女职工生育享受98天产假。"
    documents = {"d1": Document(doc_id="d1", title="女职工劳动保护特别规定", source="d1.txt", text=text, paragraphs=())}
    store = CuratedStore(tmp_path / "curated.json")
    store.add(CuratedAnswer("a1", "产假是几天？", "98天。[1]", (find_excerpt(documents, "d1", text),),
                            ("女职工生孩子休多少天假？",)), documents)
    matcher = CuratedMatcher(store, None, model)
    found = matcher.match("产假是几天？", documents, embedder)
    assert found is not None and found[0].id == "a1" and probability(model.threshold) <= found[1] <= 1.0
    assert matcher.match("个人所得税怎么申报？", documents, embedder) is None
    assert CuratedMatcher(store, None, None).match("产假是几天？", documents, embedder) is None
