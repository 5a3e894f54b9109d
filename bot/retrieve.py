"""Hybrid retrieval: dense (FAISS) and lexical (BM25) results fused by their
normalized scores (or, for comparison, by reciprocal-rank fusion).

The lexical query is weighted: the question's own words count 1, the words the
domain dictionary adds for them (老板 → 用人单位) and the words that relevance
feedback takes from the best dense passages count less. Workers ask in everyday
words and the laws are written in legal ones; the dense model bridges some of
that gap, and feedback brings the legal words it found back to BM25.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from bot.query import Query
from bot.ranker import Ranker, candidate_features
from bot.settings import DEFAULTS
from index.embedding.embedder import Embedder
from index.records import Chunk
from index.store.folder import IndexStore

MODES = ("hybrid", "dense", "bm25")
# "learned": the ranker fitted on real consultations (bot/ranker.py) scores each candidate;
# "scores" and "rrf" are the untrained fusions, kept for comparison
FUSIONS = ("learned", "scores", "rrf")

# Pseudo-relevance feedback (RM3), with the usual defaults of Lucene/Anserini's RM3
# scaled to short passages: terms from the best FEEDBACK_DOCS dense passages, the
# FEEDBACK_TERMS strongest, together weighing FEEDBACK_WEIGHT of the question's own.
FEEDBACK_DOCS = 3
FEEDBACK_TERMS = 10
FEEDBACK_WEIGHT = 0.5


@dataclass(frozen=True)
class Hit:
    vector_id: int
    chunk: Chunk
    score: float  # the fused score that ranks the hits
    dense: float | None  # cosine similarity, when the dense retriever found it
    bm25: float | None  # BM25 score, when the lexical retriever found it


@dataclass(frozen=True)
class Evidence:
    """What the retrievers saw for one query: the raw rankings, for the
    answerability decision, and the candidates after the top k."""

    query: Query
    terms: dict[str, float]  # the weighted lexical query actually searched
    dense: tuple[tuple[int, float], ...] = ()  # (vector id, cosine), best first
    lexical: tuple[tuple[int, float], ...] = ()  # (vector id, BM25 score), best first
    # the fused candidates ranked after the top k, for answers that have to look further
    more: tuple[Hit, ...] = ()
    vector: np.ndarray | None = None  # the question's embedding, for scoring sentences

    @property
    def best_dense(self) -> float:
        return self.dense[0][1] if self.dense else 0.0


def rrf(rankings: list[list[int]], weights: list[float], k: int = 60) -> dict[int, float]:
    """Reciprocal-rank fusion: each list adds weight / (k + rank) to its items."""
    fused: dict[int, float] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        for rank, item in enumerate(ranking, start=1):
            fused[item] = fused.get(item, 0.0) + weight / (k + rank)
    return fused


def fuse_scores(
    dense: list[tuple[int, float]], lexical: list[tuple[int, float]], dense_weight: float = 1.0, bm25_weight: float = 1.0
) -> dict[int, float]:
    """Score fusion: each list's scores brought to [0, 1] and added.

    Unlike RRF it keeps how far ahead the best hit is: a passage with twice the
    BM25 score of the next is not merely one rank better. BM25 is divided by the
    best score; cosines, which all sit in a narrow band, are spread from the
    worst candidate (0) to the best (1). On the CMRC 2018 trial set (tune part)
    this lifted MRR@10 from 0.923 (RRF) to 0.946; see docs/benchmark.md.
    """
    fused: dict[int, float] = {}
    if lexical:
        best = lexical[0][1] or 1.0
        for i, score in lexical:
            fused[i] = fused.get(i, 0.0) + bm25_weight * score / best
    if dense:
        high, low = dense[0][1], dense[-1][1]
        for i, score in dense:
            fused[i] = fused.get(i, 0.0) + dense_weight * (score - low) / ((high - low) or 1.0)
    return fused


def best_sentence_cosines(store: IndexStore, ids: list[int], vector: np.ndarray) -> dict[int, float]:
    """Per passage, the cosine of its sentence closest to the question. A passage whose
    one sentence says exactly what was asked beats one that is vaguely about it all
    through: on the worker questions (tune part) this third signal, weighted like the
    other two, lifted hit@1 from 39 to 44 of 67 and hit@5 from 59 to 62."""
    best = {}
    for i in ids:
        vectors = store.sentence_vectors(i)
        if len(vectors):
            best[i] = float((vectors @ vector).max())
    return best


def spread(scores: dict[int, float]) -> dict[int, float]:
    """Scores brought to [0, 1]: the worst candidate 0, the best 1."""
    if not scores:
        return {}
    high, low = max(scores.values()), min(scores.values())
    return {i: (s - low) / ((high - low) or 1.0) for i, s in scores.items()}


def feedback_terms(
    store: IndexStore, dense: list[tuple[int, float]], known: dict[str, float], docs: int = FEEDBACK_DOCS
) -> dict[str, float]:
    """RM3 expansion terms from the best dense passages: a term weighs its share of
    each passage, times that passage's weight (its cosine, spread like in fusion),
    times its idf, so that words every passage has ("劳动者") do not crowd out the
    telling ones. The strongest terms together weigh FEEDBACK_WEIGHT of the query."""
    if not dense or not known:
        return {}
    top = dense[:docs]
    low = dense[min(len(dense) - 1, 2 * docs)][1]
    scores: Counter[str] = Counter()
    for vid, cosine in top:
        tokens = store.tokens.get(vid) or []
        if not tokens:
            continue
        weight = max(cosine - low, 1e-6)
        for token, count in Counter(tokens).items():
            if token not in known and len(token) > 1:
                scores[token] += weight * count / len(tokens) * store.idf(token)
    best = scores.most_common(FEEDBACK_TERMS)
    total = sum(s for _, s in best)
    if not total:
        return {}
    budget = FEEDBACK_WEIGHT * sum(known.values())
    return {t: budget * s / total for t, s in best}


class Retriever:
    def __init__(
        self,
        store: IndexStore,
        embedder: Embedder,
        mode: str = "hybrid",
        candidates: int = DEFAULTS.candidates,
        dense_weight: float = DEFAULTS.dense_weight,
        bm25_weight: float = DEFAULTS.bm25_weight,
        rrf_k: int = DEFAULTS.rrf_k,
        fusion: str = "scores",
        feedback: bool = DEFAULTS.feedback,
        sentence_weight: float = DEFAULTS.sentence_weight,
        ranker: Ranker | None = None,
        pool: int = DEFAULTS.pool,
    ):
        if mode not in MODES:
            raise ValueError(f"unknown retrieval mode {mode!r}; expected one of {', '.join(MODES)}")
        if fusion not in FUSIONS:
            raise ValueError(f"unknown fusion {fusion!r}; expected one of {', '.join(FUSIONS)}")
        self.store = store
        self.embedder = embedder
        self.mode = mode
        self.candidates = candidates
        self.dense_weight = dense_weight
        self.bm25_weight = bm25_weight
        self.rrf_k = rrf_k
        self.fusion = fusion
        self.feedback = feedback
        self.sentence_weight = sentence_weight
        self.ranker = ranker
        self.pool = pool  # fused candidates kept for the answer to look through, top k included

    @property
    def learned(self) -> bool:
        """Whether the learned ranker orders the hybrid candidates (without one, the
        untrained score fusion does)."""
        return self.mode == "hybrid" and self.fusion == "learned" and self.ranker is not None

    def retrievals(
        self, query: Query
    ) -> tuple[dict[str, float], np.ndarray, list[tuple[int, float]], list[tuple[int, float]]]:
        """The weighted lexical query, the question's vector, and both retrievers' rankings."""
        terms = {t: w for t, w in query.terms.items() if telling(self.store, t, w)}
        vector = self.embedder.encode_queries([query.text])[0]
        dense = self.store.search_dense(vector, self.candidates)
        if self.feedback and dense:
            terms.update(feedback_terms(self.store, dense, terms))
        lexical = self.store.search_bm25(terms, self.candidates) if terms else []
        return terms, vector, dense, lexical

    def search(self, query: Query, top_k: int) -> tuple[list[Hit], Evidence]:
        # Both rankings are read in every mode: the answer's sentences are chosen, and
        # answerability judged, on the same evidence; the mode only decides what is fused.
        terms, vector, dense, lexical = self.retrievals(query)
        dense_scores = dict(dense)
        bm25_scores = dict(lexical)
        found, found_with = dense, vector
        if query.reading:
            # An English question is judged, and its sentences chosen, on the evidence of
            # the Chinese question it was read into: the calibration and the ranker were
            # fitted on Chinese questions, whose cosines run higher than an English
            # sentence's to Chinese text. Its passages are still found with both forms.
            vector = self.embedder.encode_queries([query.reading])[0]
            dense = self.store.search_dense(vector, self.candidates)
        if self.mode == "bm25":
            fused = dict(lexical)
        elif self.learned:
            ids, rows = candidate_rows(self.store, query, terms, vector, dense, lexical,
                                       also=[i for i, _ in found])
            fused = dict(zip(ids, (float(s) for s in self.ranker.score(rows)), strict=True))
        elif self.mode == "hybrid" and self.fusion in ("scores", "learned"):
            fused = fuse_scores(found, lexical, self.dense_weight, self.bm25_weight)
        elif self.mode == "hybrid":
            fused = rrf(
                [[i for i, _ in found], [i for i, _ in lexical]],
                [self.dense_weight, self.bm25_weight],
                self.rrf_k,
            )
        else:
            fused = dict(found)
        if self.mode != "bm25" and self.sentence_weight and not self.learned:
            for i, score in spread(best_sentence_cosines(self.store, list(fused), found_with)).items():
                fused[i] += self.sentence_weight * score
        order = sorted(fused, key=lambda i: fused[i], reverse=True)[: max(top_k, self.pool)]
        ranked = [
            Hit(i, self.store.chunks[i], fused[i], dense_scores.get(i), bm25_scores.get(i)) for i in order
        ]
        evidence = Evidence(query, terms, tuple(dense), tuple(lexical), tuple(ranked[top_k:]), vector)
        return ranked[:top_k], evidence


def candidate_rows(
    store: IndexStore,
    query: Query,
    terms: dict[str, float],
    vector: np.ndarray,
    dense: list[tuple[int, float]],
    lexical: list[tuple[int, float]],
    also: list[int] | None = None,
) -> tuple[list[int], np.ndarray]:
    """Every candidate either retriever found (and `also` those), and its row of the
    ranker's features, read for the Chinese form of the question."""
    ids = list(dict.fromkeys([i for i, _ in dense] + [i for i, _ in lexical] + (also or [])))
    sentences = best_sentence_cosines(store, ids, vector)
    question = query.reading or query.text
    return ids, candidate_features(store, question, terms, query.asking, dense, lexical, sentences, ids)


def telling(store: IndexStore, token: str, weight: float = 1.0) -> bool:
    """Whether a query token can tell passages apart. Not an expansion the corpus never
    uses, nor a lone character it never uses ("算" left of 怎么算): those match nothing
    and would only dilute coverage."""
    if store.knows(token):
        return True
    return weight >= 1.0 and len(token) > 1
