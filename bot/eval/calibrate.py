"""Fitting the two small models the bot decides with (`unionqa calibrate`):

- the sentence model (bot/compose.py), which scores the candidate sentences of
  the retrieved passages: fitted on questions with known answers, a sentence that
  holds a gold string being a positive;
- the answerability model (bot/answerability.py): fitted on the evidence of
  questions the documents answer (positives: their gold string is in the passages
  an answer is composed from) and of questions they cannot answer (negatives: the
  `refuse` lists, and questions of another corpus asked against this one).

Only the tune part of each file is used (bot/eval/qa_data.is_holdout, and for SQuAD
files the article split of bot/eval/evaluate.is_holdout), so the holdout part stays a
fair test. The worker questions weigh as much as the SQuAD ones in total;
see `_weights`: the few worker questions are not drowned by a thousand
encyclopaedia questions.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, replace

import numpy as np
from sklearn.linear_model import LogisticRegression

from bot.answerability import FEATURES, Calibration, LogisticModel
from bot.compose import SENTENCE_FEATURES
from bot.eval import qa_data
from bot.eval.tune_questions import LEGAL, SQUAD, Asked, bootstrap_calibration, holds_gold
from bot.records import ANSWERED

# What showing related passages instead of an answer costs an answerable question,
# against 1 for refusing it: the reader still finds the answer, with some reading.
RELATED_COST_ANSWERABLE = 0.65
# L2 regularization of both models (scikit-learn's default strength)
REGULARIZATION_C = 1.0


@dataclass(frozen=True)
class Example:
    """One question's evidence: its answerability features, its candidate sentences
    with their labels, and whether the documents answer it (None: unknown)."""

    source: str
    features: dict[str, float]
    answerable: bool | None
    sentences: list[tuple[dict[str, float], bool]]
    # Whether the answer the bot would compose holds a gold set (answerable questions only):
    # an answer from the right passages can still quote a neighbouring provision.
    right: bool = False


def examples(asked: list[Asked], calibration: Calibration) -> list[Example]:
    """The questions' features and labelled candidate sentences, ranked by `calibration`'s
    sentence model (the answerability features read the best-ranked sentences)."""
    return [_example(a, calibration) for a in asked]


def _example(asked: Asked, calibration: Calibration) -> Example:
    _, candidates, features = asked.bot.assess(asked.hits, asked.evidence, calibration)
    if not asked.answerable:
        return Example(asked.source, features, False, [])
    if asked.articles:
        if not any(asked.holds_answer("", h.chunk.title, h.chunk.article) for h in asked.hits[:asked.bot.settings.evidence_passages]):
            return Example(asked.source, features, None, [])
        # a sentence of a labelled article is a positive
        labelled = [(c.features, asked.holds_answer("", c.hit.chunk.title, c.hit.chunk.article))
                    for c in candidates]
        return Example(asked.source, features, True, labelled, _would_be_right(asked, candidates, calibration))
    passages = [h.chunk.text for h in asked.hits[:asked.bot.settings.evidence_passages]]
    found = [g for g in asked.gold_sets if _all_in(g, passages)]
    if not found:  # the answer is not in what the bot reads: nothing to learn here
        return Example(asked.source, features, None, [])
    golds = tuple(s for g in found for s in g)
    labelled = [(c.features, holds_gold(c.text, golds)) for c in candidates]
    return Example(asked.source, features, True, labelled, _would_be_right(asked, candidates, calibration))


def _would_be_right(asked: Asked, candidates: list, calibration: Calibration) -> bool:
    """Whether the answer the bot would give from these candidates, were it to answer,
    holds one of the question's gold sets in what it quotes from its leading provision."""
    if not candidates:
        return False
    answer = asked.bot.claim("", asked.evidence.query.text, candidates, asked.evidence, calibration)
    return asked.is_right(answer)


def _all_in(golds: tuple[str, ...], passages: list[str]) -> bool:
    texts = [qa_data.plain(p) for p in passages]
    return all(any(qa_data.plain(g) in t for t in texts) for g in golds)


# Sources whose answerable questions come with unrelated copies asked against the corpus:
# their balance of answerable and unanswerable is made up, so each side weighs half.
PAIRED = (SQUAD, LEGAL)
# Each group's share of the weight, among the groups present. Worker questions and SQuAD weigh
# the same, as before the legal consultations (`--legal`) came; those weigh half as much. The
# mixes tried (1:1:1, 2:1:1, 4:2:1, 2:2:1) are compared in README ("The answer decision fitted
# on real consultations"); none was better on both held-out collections.
SHARES = {"dev": 2.0, SQUAD: 2.0, LEGAL: 1.0}


def _weights(groups: list[tuple[str, bool]]) -> np.ndarray:
    """Sample weights that sum to 1. The worker questions (every source but the paired ones)
    and each paired source (SQuAD, legal consultations) weigh the same in total. Each worker
    question counts once, as it would in use, whether answerable or not; a paired source's
    answerable questions and their unrelated copies (asked against the corpus) weigh the
    same, since that balance is made up."""
    sources = np.array([source if source in PAIRED else "dev" for source, _ in groups])
    present = [name for name in ("dev", *PAIRED) if (sources == name).any()]
    weights = np.zeros(len(groups))
    for name in present:
        share = SHARES[name] / sum(SHARES[n] for n in present)
        chosen = sources == name
        if name == "dev":
            weights[chosen] = share / chosen.sum()
            continue
        labels = np.array([lab for _, lab in groups])
        sides = [chosen & (labels == lab) for lab in (True, False) if (chosen & (labels == lab)).any()]
        for side in sides:
            weights[side] = share / len(sides) / side.sum()
    return weights


def fit_logistic(rows: list[dict[str, float]], labels: list[bool], weights: np.ndarray, names: tuple[str, ...]) -> LogisticModel:
    x = np.array([[r[f] for f in names] for r in rows], dtype=float)
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale == 0] = 1.0
    model = LogisticRegression(C=REGULARIZATION_C, max_iter=2000)
    model.fit((x - mean) / scale, np.array(labels, dtype=int), sample_weight=weights * len(weights))
    return LogisticModel(
        names,
        tuple(round(float(v), 6) for v in mean),
        tuple(round(float(v), 6) for v in scale),
        tuple(round(float(v), 6) for v in model.coef_[0]),
        round(float(model.intercept_[0]), 6),
    )


def fit_sentences(examples: list[Example]) -> LogisticModel:
    """Each question's candidates weigh 1 in all, each source the same in total."""
    rows, labels, groups, per_question = [], [], [], []
    for ex in examples:
        if not ex.sentences or not any(lab for _, lab in ex.sentences):
            continue
        for features, label in ex.sentences:
            rows.append(features)
            labels.append(label)
            groups.append((ex.source, label))
            per_question.append(1.0 / len(ex.sentences))
    if not rows or all(labels) or not any(labels):
        raise ValueError("校准数据不足：没有一个问题的答案出现在检索到的段落里，无法拟合句子打分。")
    weights = _weights(groups) * np.array(per_question)
    return fit_logistic(rows, labels, weights / weights.sum(), SENTENCE_FEATURES)


def outcome_costs(examples: list[Example]) -> np.ndarray:
    """Per example, the cost of answering, of showing related passages, and of refusing.

    A wrong answer and a refused answerable question cost 1. Related passages cost an
    answerable question RELATED_COST_ANSWERABLE (it still has to read them), whether its answer would have
    been right or wrong: so where the bot's answer would quote the wrong provision but the
    right one is among the passages shown, related passages are the better outcome. For a
    question the dev files list as out of scope they are the right outcome (near, not
    decisive); for another corpus's question they are noise, as bad as an answer."""
    costs = []
    for ex in examples:
        if ex.answerable:
            costs.append((0.0 if ex.right else 1.0, RELATED_COST_ANSWERABLE, 1.0))
        elif ex.source in PAIRED:
            costs.append((1.0, 1.0, 0.0))
        else:
            costs.append((1.0, 0.0, 0.0))
    return np.array(costs)


def choose_thresholds(probabilities: np.ndarray, costs: np.ndarray, weights: np.ndarray) -> tuple[float, float]:
    """The answer and related thresholds with the least weighted cost, searched over
    percentiles of the fitted probabilities."""
    grid = np.unique(np.concatenate([np.quantile(probabilities, np.linspace(0, 1, 101)), [0.0, 1.0 + 1e-9]]))
    best = (np.inf, 0.5, 0.5)
    for answer in grid:
        answered = probabilities >= answer
        for related in grid[grid <= answer]:
            outcome = np.where(answered, 0, np.where(probabilities >= related, 1, 2))
            cost = float((weights * costs[np.arange(len(costs)), outcome]).sum())
            if cost < best[0] - 1e-12:
                best = (cost, float(answer), float(related))
    return round(best[1], 4), round(best[2], 4)


def fit(examples: list[Example], embedding_model: str, sentences: LogisticModel, notes: dict) -> Calibration:
    known = [ex for ex in examples if ex.answerable is not None]
    labels = np.array([bool(ex.answerable) for ex in known])
    if labels.all() or not labels.any():
        raise ValueError("校准数据不足：调优部分需要既有文件能回答的问题（答案在检索到的段落里），"
                         "也有文件不能回答的问题（refuse，或加 --squad）。")
    weights = _weights([(ex.source, bool(ex.answerable)) for ex in known])
    # The model learns whether the answer is among the passages (labelling "the composed
    # answer is right" instead was tried: fewer right answers on every holdout); whether
    # the composed answer would be right enters through the costs.
    model = fit_logistic([ex.features for ex in known], list(labels), weights, FEATURES)
    probabilities = np.array([model.probability(ex.features) for ex in known])
    costs = outcome_costs(known)
    answer_t, related_t = choose_thresholds(probabilities, costs, weights)
    counts: dict[str, dict[str, int]] = {}
    for ex in examples:
        key = {True: "answerable", False: "unanswerable", None: "answer_not_retrieved"}[ex.answerable]
        counts.setdefault(ex.source, {}).setdefault(key, 0)
        counts[ex.source][key] += 1
    outcome = np.where(probabilities >= answer_t, 0, np.where(probabilities >= related_t, 1, 2))
    cost = float((weights * costs[np.arange(len(costs)), outcome]).sum() / weights.sum())
    fitted = {**notes, "examples": counts, "weighted_cost_on_tune": round(cost, 4),
              "fitted_at": time.strftime("%Y-%m-%d %H:%M:%S")}
    return Calibration(embedding_model, model, answer_t, related_t, sentences, fitted)


def calibrate(asked: list[Asked], notes: dict | None = None) -> Calibration:
    """Fit the sentence model, then, with it ranking the candidates, the answerability model."""
    model_name = asked[0].bot.store.manifest.settings.embedding_model if asked else ""
    start = bootstrap_calibration(model_name)
    sentences = fit_sentences(examples(asked, start))
    ranked = Calibration(model_name, start.answerability, 0.0, 0.0, sentences)
    return with_near_margin(fit(examples(asked, ranked), model_name, sentences, notes or {}), asked)


# ---------------------------------------------------------------- the same-matter margin

# The share of tune questions whose gold passage ranks below the best one and that the
# margin is to treat as "the same matter": half of them, the median gap.
NEAR_QUANTILE = 0.5


def fit_near_margin(asked: list[Asked], quantile: float = NEAR_QUANTILE) -> float | None:
    """The fused-score margin within which two passages are on the same matter
    (bot/provisions.py): the `quantile` of the gap between the best passage and the
    passage holding the gold answer, over the tune questions whose gold passage is among
    the retrieved ones but not first. None when no question is like that (the
    calibration then keeps its default)."""
    gaps = []
    for a in asked:
        if not a.answerable or not a.hits or a.source in PAIRED:
            continue
        holding = [i for i, h in enumerate(a.hits) if a.holds_answer(h.chunk.text, h.chunk.title, h.chunk.article)]
        if holding and holding[0] > 0:
            gaps.append(a.hits[0].score - a.hits[holding[0]].score)
    if not gaps:
        return None
    return round(float(np.quantile(gaps, quantile)), 4)


# The cosines tried for two near provisions' best sentences to rule on the same matter;
# above 1, never.
SAME_MATTER_GRID = (0.9, 0.92, 0.93, 0.94, 0.945, 0.95, 0.955, 0.96, 0.97, 1.01)


def fit_same_matter(asked: list[Asked], calibration: Calibration) -> float:
    """The same-matter cosine (bot/provisions.arrange) that answers the most tune
    questions right, with `calibration` deciding; on a tie the loosest: precedence is
    the Legislation Law's rule, not a guess, so it applies wherever the tune questions
    do not show that it picks the wrong provision."""
    dev = [a for a in asked if a.answerable and a.source not in PAIRED and a.hits]
    best = (-1, SAME_MATTER_GRID[-1])
    for threshold in sorted(SAME_MATTER_GRID):
        trial = replace(calibration, same_matter=threshold)
        right = 0
        for a in dev:
            bot = copy.copy(a.bot)
            bot.calibration = trial
            answer = bot.answer_from("", a.evidence.query.text, a.hits, a.evidence)
            right += answer.status == ANSWERED and a.is_right(answer)
        if right > best[0]:
            best = (right, threshold)
    return best[1]


def with_near_margin(calibration: Calibration, asked: list[Asked]) -> Calibration:
    """`calibration` with the same-matter margin and cosine fitted on the same tune questions."""
    margin = fit_near_margin(asked)
    if margin is not None:
        calibration = replace(calibration, near_margin=margin)
    same_matter = fit_same_matter(asked, calibration)
    fitted = {**calibration.fitted,
              "near_margin": f"median fused-score gap to the gold passage (NEAR_QUANTILE {NEAR_QUANTILE}), "
                             "bot/eval/calibrate.fit_near_margin",
              "same_matter": "the loosest cosine of SAME_MATTER_GRID with the most tune questions answered "
                             "right, bot/eval/calibrate.fit_same_matter"}
    return replace(calibration, same_matter=same_matter, fitted=fitted)
