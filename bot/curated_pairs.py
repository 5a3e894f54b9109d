"""Whether a new question asks what an approved answer answers: a logistic regression over
features of the pair, learned from real questions, rather than a cosine alone.

Why: with e5 a near topic scores as high as a paraphrase (「男的能休几天陪产假？」 is at 0.933 from
「女员工生育能休多少天假？」, while 「怀孕生小孩单位要给多长的假？」 is at 0.926 from its own
answer's 「女职工生孩子有多少天产假？」), so one cosine threshold cannot both accept paraphrases
and refuse neighbours. What tells them apart is which words differ: a paraphrase changes
everyday words, a neighbour brings in a telling word the approved answer never mentions.

The features of (new question, approved answer) (`FEATURES`): the highest cosine to one of the
answer's questions (query vectors of the index's model); the idf-weighted Jaccard of the
tokens (index.tokens.tokenize_query) with that question; the idf share of the new question's
tokens that the answer's questions, text and cited spans do not cover, and the highest idf
among them, with words of one synonym group of the domain dictionary counting as the same
word; whether an uncovered word is a domain-dictionary word; whether the new question has a
number the answer's texts do not; the ratio of the two questions' lengths. The idf is over
the training questions.

Fitted (`fit_pair_model`, run by `unionqa curated fit`) on pairs of real questions:
two consultations of legal_train citing the same articles ask the same thing (the approved
side: one of them, with its expert answer and the articles' text); two citing different
articles of the same law are a hard pair that does not, random ones an easy one; the dev
sets' answerable questions with the same gold likewise. The threshold is the highest score
of any dev-set out-of-scope question or other approved answer's question, plus a margin;
the regularization is the one under which most of the approved answers' own phrasings,
each left out of its answer in turn, still match. The paraphrases that test the matcher
(tests/data/curated_paraphrases.json) are never read. Coefficients, idf and threshold are
data (bot/calibration/curated_pairs.json), never code.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import numpy as np

from corpus.errors import UnionQAError
from index.dictionary import bundled_user_words, read_bundled
from index.normalize import normalize
from index.tokens import tokenize, tokenize_query

FEATURES = ("cosine", "overlap", "uncovered", "uncovered_max_idf", "uncovered_domain_word", "new_number",
            "length_ratio")
BUNDLED_PAIRS = Path(__file__).with_name("calibration") / "curated_pairs.json"
C_GRID = (0.001, 0.003, 0.01, 0.03, 0.1, 1.0)

_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?|[零一二两三四五六七八九十百千万半]+(?=[个天日月年周倍小时岁元%％])")


class PairModelError(UnionQAError, ValueError):
    """A pair-model file that does not read; the message says which and why."""


@cache
def _synonyms() -> tuple[dict[str, str], dict[str, frozenset[str]]]:
    """Each word of the domain dictionary's groups → the group's first word; and → the
    documents' terms it stands for (one way: 辞职 is covered by 解除劳动合同)."""
    canonical: dict[str, str] = {}
    terms: dict[str, set[str]] = {}
    for group in read_bundled()[0]:
        for word in group.words:
            canonical.setdefault(word, group.words[0])
            terms.setdefault(word, set()).update(group.terms)
    return canonical, {w: frozenset(t) for w, t in terms.items()}


@dataclass(frozen=True)
class Side:
    """A question as the features see it: unit query vector, tokens, numbers, length."""

    text: str
    vector: np.ndarray
    tokens: frozenset[str]
    numbers: frozenset[str]


def side(text: str, vector: np.ndarray) -> Side:
    text = normalize(text)
    vector = np.asarray(vector, dtype=np.float32)
    norm = float(np.linalg.norm(vector))
    return Side(text, vector / norm if norm else vector, frozenset(tokenize_query(text)),
                frozenset(_NUMBER.findall(text)))


@dataclass(frozen=True)
class Target:
    """An approved answer as the features see it: its questions, and every word and number
    of its questions, answer and cited spans (what it covers)."""

    questions: tuple[Side, ...]
    vectors: np.ndarray  # the questions' vectors, one row each
    words: frozenset[str]
    canonical: frozenset[str]
    numbers: frozenset[str]


def target(questions: Sequence[Side], support: Sequence[str]) -> Target:
    canonical_of, _ = _synonyms()
    text = normalize("\n".join(support))
    words = frozenset().union(*(q.tokens for q in questions)) | frozenset(tokenize(text))
    numbers = frozenset().union(*(q.numbers for q in questions)) | frozenset(_NUMBER.findall(text))
    vectors = np.stack([q.vector for q in questions]) if questions else np.zeros((0, 1), dtype=np.float32)
    return Target(tuple(questions), vectors, words, frozenset(canonical_of.get(w, w) for w in words), numbers)


def features(new: Side, answer: Target, idf: Mapping[str, float], unseen: float) -> list[float]:
    """The features of (new question, approved answer), in the order of FEATURES."""
    canonical_of, terms_of = _synonyms()

    def weight(tokens: frozenset[str]) -> float:
        return sum(idf.get(t, unseen) for t in tokens)

    cosines = answer.vectors @ new.vector
    best = answer.questions[int(np.argmax(cosines))]
    uncovered = frozenset(t for t in new.tokens if canonical_of.get(t, t) not in answer.canonical
                          and not terms_of.get(t, frozenset()) & answer.words)
    return [
        float(cosines.max()),
        weight(new.tokens & best.tokens) / (weight(new.tokens | best.tokens) or 1.0),
        weight(uncovered) / (weight(new.tokens) or 1.0),
        max((idf.get(t, unseen) for t in uncovered), default=0.0) / (unseen or 1.0),
        float(bool(uncovered & bundled_user_words())),
        float(bool(new.numbers - answer.numbers)),
        min(len(new.text), len(best.text)) / (max(len(new.text), len(best.text)) or 1),
    ]


@dataclass(frozen=True)
class PairModel:
    """A fitted model: score = coef · features + intercept (a logit); a new question is
    served the answer it scores highest with, when that score is at or above `threshold`."""

    coef: tuple[float, ...]
    intercept: float
    threshold: float
    idf: Mapping[str, float] = field(default_factory=dict)
    unseen: float = 1.0

    def score(self, new: Side, answer: Target) -> float:
        return float(np.dot(features(new, answer, self.idf, self.unseen), self.coef) + self.intercept)

    def best(self, new: Side, answers: Sequence[Target]) -> tuple[int, float]:
        """(index of the answer scored highest, its score); (-1, -inf) without any."""
        scores = [self.score(new, a) for a in answers]
        if not scores:
            return -1, -math.inf
        i = int(np.argmax(scores))
        return i, scores[i]


def probability(score: float) -> float:
    return 1.0 / (1.0 + math.exp(-score))


def idf_of(questions: Sequence[str], min_count: int = 1) -> tuple[dict[str, float], float]:
    """Smoothed idf of the tokens seen in at least `min_count` questions (a rarer one weighs
    as an unseen one), and the idf of an unseen token."""
    df = Counter(t for q in questions for t in set(tokenize_query(q)))
    n = len(questions)
    return ({t: round(math.log((n + 1) / (c + 1)) + 1.0, 4) for t, c in sorted(df.items()) if c >= min_count},
            round(math.log(n + 1) + 1.0, 4))


# ----- the file --------------------------------------------------------------------------------


def load_pair_model(embedding_model: str, paths: Sequence[Path]) -> PairModel | None:
    """The pair model for the embedding model from the first file that has one; None without."""
    for path in paths:
        if not path.is_file():
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            entry = data.get("models", {}).get(embedding_model)
            if entry is None:
                continue
            if list(data.get("features", ())) != list(FEATURES):
                raise PairModelError(f"{path} 的特征与本程序不一致，请重新运行 unionqa curated fit")
            coef = tuple(float(c) for c in entry["coef"])
            if len(coef) != len(FEATURES):
                raise PairModelError(f"{path}：{embedding_model} 的系数个数不对")
            idf = data["idf"]
            return PairModel(coef, float(entry["intercept"]), float(entry["threshold"]),
                             {str(k): float(v) for k, v in idf["tokens"].items()}, float(idf["unseen"]))
        except PairModelError:
            raise
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise PairModelError(f"无法读取审核回答匹配模型 {path}：{type(exc).__name__} {exc}") from exc
    return None


# ----- fitting -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Example:
    """A training question: its gold (same gold = asks the same), the sources it is from (a
    different gold from one source = a hard pair) and the texts that answer it."""

    question: str
    gold: object
    sources: frozenset[str]
    support: tuple[str, ...]


def legal_examples(questions: Sequence[object], articles: Mapping[tuple[str, str], str]) -> list[Example]:
    """legal_train's consultations (bot/eval/legal_data.load_legal): the gold is the set of
    articles cited, the support the expert answer and the articles' text."""
    return [Example(q.question, frozenset(q.articles), frozenset(law for law, _ in q.articles),
                    (q.answer, *(articles.get(a, "") for a in q.articles)))
            for q in questions]


def dev_examples(qa_sets: Sequence[object]) -> list[Example]:
    """The dev sets' answerable questions (bot.eval.qa_data.QASet): the gold is the cited article
    when the set names one, else the gold spans; the support the gold spans."""
    out = []
    for qa in qa_sets:
        for item in qa.answerable:
            gold = (item.doc, item.article) if item.doc and item.article else (str(qa.path), item.golds[0])
            out.append(Example(item.question, gold, frozenset([item.doc or str(qa.path)]), tuple(item.golds[0])))
    return out


def training_pairs(examples: Sequence[Example], rng: np.random.Generator,
                   negatives_per_positive: int = 4) -> list[tuple[int, int, int]]:
    """(new, approved, label) index pairs: every ordered two with the same gold (1); as many
    as `negatives_per_positive` times that with another gold from a shared source (0, hard);
    and as many again at random (0)."""
    by_gold: dict[object, list[int]] = {}
    for i, e in enumerate(examples):
        by_gold.setdefault(e.gold, []).append(i)
    pairs = [(a, b, 1) for members in by_gold.values() for a in members for b in members if a != b]
    wanted, n = max(len(pairs), 1) * negatives_per_positive, len(examples)
    hard = tries = 0
    while hard < wanted and tries < wanted * 200:
        tries += 1
        a, b = (int(x) for x in rng.integers(0, n, 2))
        if examples[a].gold != examples[b].gold and examples[a].sources & examples[b].sources:
            pairs.append((a, b, 0))
            hard += 1
    for _ in range(wanted):
        a, b = (int(x) for x in rng.integers(0, n, 2))
        if examples[a].gold != examples[b].gold:
            pairs.append((a, b, 0))
    return pairs


@dataclass(frozen=True)
class ApprovedSet:
    """An approved answer for the fit: its questions (question and phrasings) and the texts
    of its answer and cited spans."""

    questions: tuple[str, ...]
    support: tuple[str, ...]


@dataclass(frozen=True)
class PairFit:
    model: PairModel
    c: float
    highest_negative: float
    nearest: str
    margin: float
    phrasing_recall: float  # approved phrasings, each left out of its answer, that still match
    pairs: int
    positives: int


def _logistic(x: np.ndarray, y: np.ndarray, c: float) -> tuple[tuple[float, ...], float]:
    """Logistic regression (scikit-learn) on standardized features, the coefficients brought
    back to the raw features so that serving needs no scaler."""
    from sklearn.linear_model import LogisticRegression

    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale == 0] = 1.0
    fitted = LogisticRegression(C=c, class_weight="balanced", max_iter=5000).fit((x - mean) / scale, y)
    coef = fitted.coef_[0] / scale
    return tuple(round(float(v), 6) for v in coef), round(float(fitted.intercept_[0] - (coef * mean).sum()), 6)


def _hit(model: PairModel, new: Side, answers: Sequence[Target], own: int, threshold: float) -> bool:
    owner, score = model.best(new, answers)
    return owner == own and score >= threshold


def fit_pair_model(examples: Sequence[Example], approved: Sequence[ApprovedSet], out_of_scope: Sequence[str],
                   encode: Callable[[list[str]], np.ndarray], margin: float, seed: int = 0,
                   grid: Sequence[float] = C_GRID) -> PairFit:
    """Fit the pair model (see the module's docstring). `encode` gives query vectors."""
    texts = list(dict.fromkeys([e.question for e in examples] + [q for a in approved for q in a.questions]
                               + list(out_of_scope)))
    sides = {t: side(t, v) for t, v in zip(texts, encode(texts), strict=True)}
    idf, unseen = idf_of([e.question for e in examples] + [q for a in approved for q in a.questions])
    pairs = training_pairs(examples, np.random.default_rng(seed))
    x = np.array([features(sides[examples[a].question], target([sides[examples[b].question]], examples[b].support),
                           idf, unseen) for a, b, _ in pairs])
    y = np.array([label for _, _, label in pairs])

    targets = [target([sides[q] for q in a.questions], a.support) for a in approved]
    # negatives: each out-of-scope question against every answer; each approved question against the others
    negatives = [(sides[q], targets, q) for q in out_of_scope]
    negatives += [(sides[q], [t for j, t in enumerate(targets) if j != i], q)
                  for i, a in enumerate(approved) for q in a.questions]
    # the tune side's positives: a phrasing against its own answer without it, the others as they are
    held = [(sides[q], [target([sides[p] for p in a.questions if p != q], a.support) if j == i else t
                        for j, t in enumerate(targets)], i)
            for i, a in enumerate(approved) for q in a.questions if len(a.questions) > 1]
    best: PairFit | None = None
    for c in grid:
        coef, intercept = _logistic(x, y, c)
        model = PairModel(coef, intercept, 0.0, idf, unseen)
        highest, nearest = -math.inf, ""
        for new, answers, text in negatives:
            owner, score = model.best(new, answers)
            if score > highest:
                highest, nearest = score, f"{text} ~ {answers[owner].questions[0].text}"
        threshold = round(highest + margin, 4)
        recall = sum(_hit(model, new, answers, i, threshold) for new, answers, i in held) / max(len(held), 1)
        fit = PairFit(PairModel(coef, intercept, threshold, idf, unseen), c, round(highest, 4), nearest, margin,
                      round(recall, 4), len(pairs), int(y.sum()))
        if best is None or fit.phrasing_recall > best.phrasing_recall:
            best = fit
    assert best is not None
    return best
