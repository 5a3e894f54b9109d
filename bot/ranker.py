"""The learned candidate ranker: which of the retrieved passages answers the question.

The dense and lexical retrievers each return their 50 best passages. Adding their spread
scores with fixed weights (`bot/retrieve.fuse_scores`) treats every question alike; real
consultations are long stories whose right article is often found by one retriever only,
or is one of several articles of a law the question names. The ranker scores each
candidate from what both retrievers, the sentence vectors and the document say about it,
with weights learned on real consultations and the articles lawyers labelled for them
(`scripts/train_ranker.py`, never on the collections it is measured on).

The weights are a conditional logit's (`fit_listwise`): per question, a softmax over its
candidates, fitted to give the labelled articles the largest share. Its score only orders
candidates: the answer decision (bot/answerability.py) still judges whether the best answers.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from index.records import Chunk
from index.store.folder import IndexStore

CALIBRATION_DIR = Path(__file__).parent / "calibration"

# Each candidate's features, in the order the fitted weights are stored.
FEATURES = (
    "dense",  # cosine to the question (the lowest listed one when dense search missed it)
    "dense_gap",  # how far below the best passage's cosine
    "dense_rank",  # log(1 + rank) in the dense list (51 when missing)
    "bm25",  # BM25 score over the best BM25 score (0 when missing)
    "bm25_rank",  # log(1 + rank) in the lexical list (51 when missing)
    "sentence",  # the cosine of its sentence closest to the question
    "sentence_gap",  # how far below the best sentence of any candidate
    "coverage",  # the share of the query's idf-weighted words it contains
    "asking",  # the same share of the words of the clause that asks (bot/query.asking_clause)
    "title",  # the share of its document title's character pairs that the question names
    "doc_best",  # how far its document's best cosine is below the best passage's
    "doc_share",  # the share of the 20 best dense passages that come from its document
    "length",  # log of its length in characters
)
MISSING_RANK = 51
DOC_WINDOW = 20


@dataclass(frozen=True)
class Ranker:
    """A linear scorer over FEATURES, standardised by the training rows' mean and scale."""

    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    fitted: dict = field(default_factory=dict)  # how it was fitted: command, data hash, figures

    def score(self, rows: np.ndarray) -> np.ndarray:
        standard = (rows - np.asarray(self.mean)) / np.asarray(self.scale)
        return standard @ np.asarray(self.coef)

    def to_json(self) -> dict:
        return {"features": list(FEATURES), "mean": list(self.mean), "scale": list(self.scale),
                "coef": list(self.coef), "fitted": self.fitted}

    @classmethod
    def from_json(cls, data: dict) -> Ranker:
        if list(data.get("features", [])) != list(FEATURES):
            raise ValueError("排序模型文件的特征与代码不符，请重新拟合（scripts/train_ranker.py）。")
        return cls(tuple(data["mean"]), tuple(data["scale"]), tuple(data["coef"]), data.get("fitted", {}))


def ranker_path(embedding_model: str) -> Path:
    """Where the ranker fitted for an embedding model lives (its cosines are that model's)."""
    name = embedding_model.replace(":", "-").replace("/", "-")
    return CALIBRATION_DIR / f"ranker-{name}.json"


def load_ranker(embedding_model: str) -> Ranker | None:
    """The ranker fitted for this embedding model, or None when none was fitted."""
    path = ranker_path(embedding_model)
    if not path.is_file():
        return None
    return Ranker.from_json(json.loads(path.read_text(encoding="utf-8")))


def title_share(title: str, question: str) -> float:
    """The share of the title's character pairs found in the question: 「劳动合同法规定…」
    names 《中华人民共和国劳动合同法》 although the question leaves out 中华人民共和国."""
    core = title.replace("中华人民共和国", "").strip("《》 ")
    pairs = {core[i : i + 2] for i in range(len(core) - 1)}
    if not pairs:
        return 0.0
    return sum(1 for p in pairs if p in question) / len(pairs)


def candidate_features(
    store: IndexStore,
    question: str,
    terms: Mapping[str, float],
    asking: tuple[str, ...],
    dense: list[tuple[int, float]],
    lexical: list[tuple[int, float]],
    sentences: Mapping[int, float],
    ids: list[int],
) -> np.ndarray:
    """One row of FEATURES per candidate id, from one question's retrievals."""
    chunks = store.chunks
    dense_score = dict(dense)
    dense_rank = {i: r for r, (i, _) in enumerate(dense, start=1)}
    lexical_score = dict(lexical)
    lexical_rank = {i: r for r, (i, _) in enumerate(lexical, start=1)}
    best_dense = dense[0][1] if dense else 0.0
    floor = dense[-1][1] if dense else 0.0
    best_bm25 = (lexical[0][1] if lexical else 0.0) or 1.0
    best_sentence = max(sentences.values(), default=0.0)
    weights = {t: w * store.idf(t) for t, w in terms.items()}
    total = sum(weights.values()) or 1.0
    asked = {t: store.idf(t) for t in set(asking) if store.knows(t)}
    asked_total = sum(asked.values()) or 1.0

    doc_best: dict[str, float] = {}
    for i, cosine in dense:
        doc = chunks[i].doc_id
        doc_best[doc] = max(doc_best.get(doc, cosine), cosine)
    window = [chunks[i].doc_id for i, _ in dense[:DOC_WINDOW]]

    rows = []
    for i in ids:
        chunk: Chunk = chunks[i]
        cosine = dense_score.get(i, floor)
        present = set(store.tokens.get(i) or ())
        rows.append((
            cosine,
            best_dense - cosine,
            math.log1p(dense_rank.get(i, MISSING_RANK)),
            lexical_score.get(i, 0.0) / best_bm25,
            math.log1p(lexical_rank.get(i, MISSING_RANK)),
            sentences.get(i, cosine),
            best_sentence - sentences.get(i, cosine),
            sum(w for t, w in weights.items() if t in present) / total,
            sum(w for t, w in asked.items() if t in present) / asked_total,
            title_share(chunk.title, question),
            best_dense - doc_best.get(chunk.doc_id, floor),
            window.count(chunk.doc_id) / max(len(window), 1),
            math.log1p(len(chunk.text)),
        ))
    return np.asarray(rows, dtype=np.float64).reshape(len(ids), len(FEATURES))


def fit_listwise(z: np.ndarray, labels: np.ndarray, groups: np.ndarray, l2: float = 0.01) -> np.ndarray:
    """Weights that maximise each question's softmax probability of its labelled candidates
    (a conditional logit over the question's candidate list), with an L2 penalty."""
    from scipy.optimize import minimize
    from scipy.special import logsumexp

    lists = [(z[groups == g], labels[groups == g]) for g in np.unique(groups)]
    lists = [(rows, labelled) for rows, labelled in lists if labelled.any()]

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        total, gradient = 0.0, np.zeros_like(w)
        for rows, labelled in lists:
            scores = rows @ w
            every, right = logsumexp(scores), logsumexp(scores[labelled])
            total += every - right
            gradient += rows.T @ (np.exp(scores - every) - np.where(labelled, np.exp(scores - right), 0.0))
        return total / len(lists) + l2 * w @ w, gradient / len(lists) + 2 * l2 * w

    return minimize(loss, np.zeros(z.shape[1]), jac=True, method="L-BFGS-B").x
