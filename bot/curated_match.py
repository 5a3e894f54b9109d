"""Matching a question to the approved answers (bot/curated.py) it may be served.

The question is embedded with the index's own model (as a query, as the approved questions
and their extra phrasings are) and scored against each approved answer by the learned pair
model of bot/curated_pairs.py (cosine, word coverage, numbers…); the answer scored highest
at or above the fitted threshold wins. The model is per embedding model, in
`bot/calibration/curated_pairs.json` (or `UNIONQA_HOME/calibration/`), written by
`unionqa curated fit --legal …`. For a model without one, the fitted cosine threshold of
`curated.json` decides (the best approved question at or above it); without either, no
approved answer is served.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bot.curated import ACTIVE, CuratedAnswer, CuratedError
from bot.curated_pairs import (
    BUNDLED_PAIRS,
    PairModel,
    PairModelError,
    Target,
    load_pair_model,
    probability,
    side,
    target,
)
from bot.curated_store import CuratedStore, HashCache, source_changes
from corpus.records import Document
from index.embedding.embedder import Embedder
from index.paths import unionqa_home

log = logging.getLogger(__name__)

THRESHOLDS_NAME = "curated.json"  # the fitted cosine thresholds, per embedding model
BUNDLED_THRESHOLDS = Path(__file__).with_name("calibration") / THRESHOLDS_NAME


def thresholds_path() -> Path:
    return unionqa_home() / "calibration" / THRESHOLDS_NAME


def load_threshold(embedding_model: str) -> float | None:
    """The fitted threshold for the model: the union's own refit first, then the bundled
    one; None when neither has this model (then no approved answer is served)."""
    for path in (thresholds_path(), BUNDLED_THRESHOLDS):
        if not path.is_file():
            continue
        try:
            entry = json.loads(path.read_text(encoding="utf-8")).get("models", {}).get(embedding_model)
        except (OSError, ValueError, AttributeError):
            log.warning("无法读取审核回答阈值文件 %s", path)
            continue
        if isinstance(entry, dict) and isinstance(entry.get("threshold"), int | float):
            return float(entry["threshold"])
    return None


def pairs_path() -> Path:
    return unionqa_home() / "calibration" / BUNDLED_PAIRS.name


def load_pairs(embedding_model: str) -> PairModel | None:
    """The fitted pair model for the model (bot/curated_pairs.py): the union's own refit
    first, then the bundled one; None when neither has this model (then the cosine
    threshold of load_threshold decides, if there is one)."""
    try:
        return load_pair_model(embedding_model, (pairs_path(), BUNDLED_PAIRS))
    except PairModelError as exc:
        log.warning("%s；改用余弦阈值", exc)
        return None


def best_match(question_vector: np.ndarray, vectors: np.ndarray, owners: Sequence[int]) -> tuple[int, float]:
    """(owner of the most similar approved question, its cosine); (-1, -1.0) without any."""
    if len(owners) == 0:
        return -1, -1.0
    scores = vectors @ question_vector
    best = int(np.argmax(scores))
    return owners[best], float(scores[best])


@dataclass
class _Loaded:
    stamp: tuple[int, int] | None = None
    answers: list[CuratedAnswer] = field(default_factory=list)
    serving: list[CuratedAnswer] = field(default_factory=list)  # active, sources unchanged
    vectors: np.ndarray = field(default_factory=lambda: np.zeros((0, 1), dtype=np.float32))
    owners: list[int] = field(default_factory=list)  # index into serving, per row of vectors
    targets: list[Target] = field(default_factory=list)  # per serving answer, for the pair model
    documents: Mapping[str, Document] | None = None


class CuratedMatcher:
    """Serves the approved answers of a store: re-read whenever its file changes (another
    process may have written it), re-checked against the documents whenever the index
    version changes. Thread-safe.

    With a fitted pair model (`pairs`), it decides: the answer the question scores highest
    with, at or above the model's threshold. Without one, the cosine `threshold` decides;
    without either, no approved answer is served."""

    def __init__(self, store: CuratedStore, threshold: float | None, pairs: PairModel | None = None):
        self.store = store
        self.threshold = threshold
        self.pairs = pairs
        self._loaded = _Loaded()
        self._lock = threading.Lock()
        self._vectors: dict[tuple[str, str], np.ndarray] = {}  # (model, text) -> vector

    def sync(self, documents: Mapping[str, Document]) -> None:
        """At the load of an index version: suspend, in the file, what its changes touch."""
        try:
            self.store.sync(documents)
        except (CuratedError, OSError) as exc:
            log.warning("审核回答未能复核：%s", exc)

    def _current(self, documents: Mapping[str, Document], embedder: Embedder) -> _Loaded:
        stamp = self.store.stamp()
        loaded = self._loaded
        if loaded.stamp == stamp and loaded.documents is documents:
            return loaded
        with self._lock:
            try:
                answers = self.store.load() if stamp is not None else []
            except CuratedError as exc:
                log.warning("%s", exc)
                answers = []
            hashes = HashCache(documents)
            serving = [a for a in answers if a.state == ACTIVE and not source_changes(a, documents, hashes)]
            texts, owners = [], []
            for i, a in enumerate(serving):
                for q in a.questions:
                    texts.append(q)
                    owners.append(i)
            vectors = self.vectors(texts, embedder)
            targets = []
            if self.pairs is not None:
                for i, a in enumerate(serving):
                    rows = [k for k, owner in enumerate(owners) if owner == i]
                    targets.append(target([side(texts[k], vectors[k]) for k in rows],
                                          [a.answer, *(span.text for span in a.citations)]))
            self._loaded = _Loaded(stamp, answers, serving, vectors, owners, targets, documents)
            return self._loaded

    def vectors(self, texts: list[str], embedder: Embedder) -> np.ndarray:
        """Unit query vectors of the texts, each embedded once per model."""
        missing = [t for t in dict.fromkeys(texts) if (embedder.name, t) not in self._vectors]
        if missing:
            for t, v in zip(missing, embedder.encode_queries(missing), strict=True):
                self._vectors[(embedder.name, t)] = _unit(v)
        if not texts:
            return np.zeros((0, getattr(embedder, "dim", 1)), dtype=np.float32)
        return np.stack([self._vectors[(embedder.name, t)] for t in texts])

    def match(self, question: str, documents: Mapping[str, Document], embedder: Embedder) -> tuple[CuratedAnswer, float] | None:
        """The approved answer for the question, with its score (the pair model's
        probability, or the cosine), or None."""
        if self.threshold is None and self.pairs is None:
            return None
        loaded = self._current(documents, embedder)
        if not loaded.owners:
            return None
        vector = _unit(embedder.encode_queries([question])[0])
        if self.pairs is not None:
            owner, score = self.pairs.best(side(question, vector), loaded.targets)
            if owner < 0 or score < self.pairs.threshold:
                return None
            return loaded.serving[owner], probability(score)
        assert self.threshold is not None
        owner, score = best_match(vector, loaded.vectors, loaded.owners)
        if owner < 0 or score < self.threshold:
            return None
        return loaded.serving[owner], score


def _unit(vector: np.ndarray) -> np.ndarray:
    vector = np.asarray(vector, dtype=np.float32)
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm else vector


# ----- fitting the threshold ------------------------------------------------------------------


@dataclass(frozen=True)
class Fit:
    threshold: float
    highest_negative: float  # the most similar out-of-scope or other-answer question
    nearest: str  # which question that was
    margin: float


def fit_threshold(approved: Sequence[Sequence[str]], out_of_scope: Sequence[str], embedder: Embedder,
                  margin: float) -> Fit:
    """The lowest threshold at which no out-of-scope question and no other approved answer's
    question matches an approved answer, plus `margin`. `approved`: each answer's questions."""
    matcher = CuratedMatcher(CuratedStore(Path(os.devnull)), None)
    rows = [(i, q) for i, qs in enumerate(approved) for q in qs]
    vectors = matcher.vectors([q for _, q in rows], embedder)
    negatives = matcher.vectors(list(out_of_scope), embedder) if out_of_scope else np.zeros((0, vectors.shape[1]))
    highest, nearest = -1.0, ""
    for j, (owner, question) in enumerate(rows):
        scores = negatives @ vectors[j]
        if len(scores) and float(scores.max()) > highest:
            highest, nearest = float(scores.max()), f"{out_of_scope[int(scores.argmax())]} ~ {question}"
        for k, (other, text) in enumerate(rows):
            if other != owner and float(vectors[k] @ vectors[j]) > highest:
                highest, nearest = float(vectors[k] @ vectors[j]), f"{text} ~ {question}"
    return Fit(round(highest + margin, 4), round(highest, 4), nearest, margin)
