"""Grouping logged questions by meaning, for the staff console (ui/console.py).

The question texts are embedded with the bot's own model and clustered with scikit-learn's
AgglomerativeClustering (average linkage on cosine distance, cut at a distance threshold:
the number of groups is not known in advance). Repeated texts are embedded once (the log is
grouped by text in SQL first, and vectors are kept between groupings), so 100,000 logged
questions cost what their distinct texts cost; and only the MAX_DISTINCT most asked texts
are grouped (the console says what share of the questions they cover). Clustering grows
with the square of the texts, so the MAX_CLUSTERED most asked are clustered and the next
ones join the group whose centre is within the threshold, or stand alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ui.questionlog import OUTCOMES

# Embedding is what takes the time: e5-small embedded 16 to 29 questions a second on this
# 2-core machine under a load of 12 (3,414 distinct texts took 143 s), about 60 with the
# machine to itself. So a bounded sample is grouped: the most asked texts, for all the
# questions and for the unanswered ones (at most twice this many texts embedded at once).
MAX_DISTINCT = 600  # distinct texts grouped at all; rarer ones are counted, not grouped
MAX_CLUSTERED = 400  # of which clustered together; the rest join the nearest group
MAX_COMMENTS = 5  # 👎 comments kept per group for the console
BATCH = 64  # texts embedded at a time (each batch takes its turn with the questions)


@dataclass
class QuestionGroup:
    example: str  # the group's most asked text
    count: int  # questions asked in the group
    questions: list[tuple[str, int]]  # its texts with their counts, most asked first
    outcomes: dict[str, int] = field(default_factory=dict)
    up: int = 0
    down: int = 0
    docs: dict[str, int] = field(default_factory=dict)  # cited document ids and how often
    closest: list[tuple[str, str]] = field(default_factory=list)  # (doc_id, title): for unanswered groups
    comments: list[str] = field(default_factory=list)  # written with its 👎s (at most MAX_COMMENTS)

    @property
    def main_outcome(self) -> str:
        return max(OUTCOMES, key=lambda o: self.outcomes.get(o, 0)) if self.count else ""


def embed(texts: list[str], encode: Callable[[list[str]], np.ndarray], cache: dict[str, np.ndarray]) -> np.ndarray:
    """Unit vectors of `texts`, each text embedded once across calls (`cache`)."""
    missing = [t for t in dict.fromkeys(texts) if t not in cache]
    for start in range(0, len(missing), BATCH):
        batch = missing[start:start + BATCH]
        vectors = np.asarray(encode(batch), dtype=np.float32)
        for text, vector in zip(batch, vectors, strict=True):
            norm = float(np.linalg.norm(vector))
            cache[text] = vector / norm if norm else vector
    if not texts:
        return np.zeros((0, 1), dtype=np.float32)
    return np.stack([cache[t] for t in texts])


def cluster_labels(vectors: np.ndarray, distance: float, clustered: int = MAX_CLUSTERED) -> np.ndarray:
    """A group label per row of `vectors` (unit vectors, most asked first): the first
    `clustered` rows clustered, the rest joined to the nearest group within `distance`."""
    from sklearn.cluster import AgglomerativeClustering  # imported on use: sklearn costs a second at start

    n = len(vectors)
    if n == 0:
        return np.zeros(0, dtype=int)
    head = min(n, clustered)
    if head == 1:
        labels = np.zeros(1, dtype=int)
    else:
        labels = AgglomerativeClustering(n_clusters=None, distance_threshold=distance, metric="cosine",
                                         linkage="average").fit_predict(vectors[:head])
    if head == n:
        return labels
    count = int(labels.max()) + 1
    centres = np.stack([vectors[:head][labels == g].mean(axis=0) for g in range(count)])
    centres /= np.maximum(np.linalg.norm(centres, axis=1, keepdims=True), 1e-12)
    rest = vectors[head:]
    sims = rest @ centres.T
    best = sims.argmax(axis=1)
    joined = sims[np.arange(len(rest)), best] >= 1.0 - distance
    tail = np.where(joined, best, count + np.arange(len(rest)))
    return np.concatenate([labels, tail])


def group_questions(distinct: list[dict], encode: Callable[[list[str]], np.ndarray], distance: float,
                    cache: dict[str, np.ndarray] | None = None, clustered: int = MAX_CLUSTERED) -> list[QuestionGroup]:
    """Groups of `distinct` (QuestionLog.distinct_questions: most asked first), largest first."""
    distinct = distinct[:MAX_DISTINCT]
    vectors = embed([d["question"] for d in distinct], encode, {} if cache is None else cache)
    labels = cluster_labels(vectors, distance, clustered)
    groups: dict[int, QuestionGroup] = {}
    for item, label in zip(distinct, labels, strict=True):
        group = groups.get(int(label))
        if group is None:  # rows come most asked first: the first text is the example
            group = groups[int(label)] = QuestionGroup(item["question"], 0, [])
        group.count += item["count"]
        group.questions.append((item["question"], item["count"]))
        for outcome, n in item["outcomes"].items():
            group.outcomes[outcome] = group.outcomes.get(outcome, 0) + (n or 0)
        group.up += item["up"] or 0
        group.down += item["down"] or 0
        for comment in item.get("comments") or ():
            if len(group.comments) < MAX_COMMENTS and comment not in group.comments:
                group.comments.append(comment)
        for doc_id, n in item["docs"].items():
            group.docs[doc_id] = group.docs.get(doc_id, 0) + n
    return sorted(groups.values(), key=lambda g: (-g.count, g.example))
