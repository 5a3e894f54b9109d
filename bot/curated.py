"""Approved answers (工会审核的回答): answers union staff wrote or approved for a question,
each resting on spans of the indexed documents, served before retrieval when a new
question is close enough to an approved one.

- **Store.** One JSON file per index folder (`<index>/curated.json`, beside the versions,
  so a rebuild keeps it), written atomically (temporary file + os.replace) under a lock
  file, so the admin page, the CLI and the answering processes never lose each other's
  changes. A file that does not read is reported, never overwritten.
- **Citations.** Every approved answer cites at least one span: the document id, the
  exact text, its [start, end) offsets in `Document.text` and a hash of the whole text at
  approval. A span is accepted only if the document is in the index and the text is at
  those offsets (`check_span`), the same check as for every answer.
- **Source changes.** An answer whose cited document is gone or whose text hash differs
  from the index's is never served (`source_changes`, checked live), and is marked
  「需复核」 (SUSPENDED) in the file at every load of an index version (`suspend_changed`),
  so it stays suspended, with the old span and the current text around it, until staff
  confirm it (re-attaching the spans: `confirm`) or remove it.
- **Matching.** The question is embedded with the index's own model (as a query, as the
  approved questions and their extra phrasings are) and scored against each approved answer
  by the learned pair model of bot/curated_pairs.py (cosine, word coverage, numbers…); the
  answer scored highest at or above the fitted threshold wins. The model is per embedding
  model, in `bot/calibration/curated_pairs.json` (or `UNIONQA_HOME/calibration/`), written by
  `unionqa curated fit --legal …`. For a model without one, the fitted cosine threshold of
  `curated.json` decides (the best approved question at or above it); without either, no
  approved answer is served.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import tempfile
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import date
from pathlib import Path

import numpy as np

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
from bot.provisions import describe
from bot.records import CURATED, MARKER, Answer, Citation
from corpus.errors import UnionQAError
from corpus.records import Document
from index.chunker import article_at
from index.embedding.embedder import Embedder
from index.paths import unionqa_home

log = logging.getLogger(__name__)

ACTIVE = "active"
SUSPENDED = "suspended"  # 需复核: a cited document changed or was removed
REMOVED = "removed"
STATES = (ACTIVE, SUSPENDED, REMOVED)
STATE_TEXT = {ACTIVE: "生效", SUSPENDED: "需复核", REMOVED: "已移除"}

FILE_NAME = "curated.json"
FORMAT = 1
CONTEXT_CHARS = 40  # characters of the current text shown on each side of a changed span
BUNDLED_THRESHOLDS = Path(__file__).with_name("calibration") / "curated.json"
MAX_QUESTION_CHARS = 500
MAX_ANSWER_CHARS = 5000


class CuratedError(UnionQAError, ValueError):
    """Bad input or an unreadable store; the message says what, in Chinese."""

    status = 400


@dataclass(frozen=True)
class CitedSpan:
    doc_id: str
    text: str  # the exact cited text, Document.text[start:end] at approval
    start: int
    end: int
    doc_hash: str  # text_hash of the whole document's text at approval


@dataclass(frozen=True)
class Change:
    """Why a citation needs review: its document was removed, or its text changed."""

    doc_id: str
    old_text: str  # the span as approved
    current_text: str  # the document's current text around the span's offsets ("" when removed)
    removed: bool = False


@dataclass(frozen=True)
class CuratedAnswer:
    id: str
    question: str
    answer: str
    citations: tuple[CitedSpan, ...]
    phrasings: tuple[str, ...] = ()  # other ways to ask the same question
    approved_by: str = ""
    approved_at: str = ""  # YYYY-MM-DD
    state: str = ACTIVE
    changes: tuple[Change, ...] = ()  # what changed, while SUSPENDED

    @property
    def questions(self) -> list[str]:
        return [self.question, *self.phrasings]

    def to_json(self) -> dict:
        return asdict(self)


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def curated_path(index_dir: Path) -> Path:
    """Where an index folder's approved answers are kept: beside its versions, not in one."""
    return Path(index_dir) / FILE_NAME


def new_id() -> str:
    return uuid.uuid4().hex[:10]


def today() -> str:
    return date.today().isoformat()


# ----- reading and checking ----------------------------------------------------------


def _text(value: object, what: str, limit: int, required: bool = True) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise CuratedError(f"{what}应是文字")
    value = value.strip()
    if required and not value:
        raise CuratedError(f"{what}不能为空")
    if len(value) > limit:
        raise CuratedError(f"{what}太长（{len(value)} 字，最多 {limit} 字）")
    return value


def _int(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise CuratedError(f"{what}应是整数")
    try:
        return int(value)
    except ValueError as exc:
        raise CuratedError(f"{what}应是整数：{value!r}") from exc


def span_from_json(data: object) -> CitedSpan:
    if not isinstance(data, dict):
        raise CuratedError("引用应是对象（doc_id、text、start、end）")
    return CitedSpan(
        doc_id=_text(data.get("doc_id"), "引用的文档编号", 1000),
        text=_text(data.get("text"), "引用的原文", 20000),
        start=_int(data.get("start"), "引用的起始位置"),
        end=_int(data.get("end"), "引用的结束位置"),
        doc_hash=str(data.get("doc_hash") or ""),
    )


def answer_from_json(data: object) -> CuratedAnswer:
    """One approved answer from its JSON form; CuratedError on anything malformed."""
    if not isinstance(data, dict):
        raise CuratedError("每条审核回答应是一个对象")
    phrasings = data.get("phrasings") or []
    if isinstance(phrasings, str):
        phrasings = [p for p in phrasings.splitlines()]
    if not isinstance(phrasings, list | tuple):
        raise CuratedError("phrasings 应是问题文字的列表")
    citations = data.get("citations")
    if not isinstance(citations, list | tuple) or not citations:
        raise CuratedError("每条审核回答至少要有一处引用原文")
    state = str(data.get("state") or ACTIVE)
    if state not in STATES:
        raise CuratedError(f"未知的状态 {state!r}（应为 {'、'.join(STATES)}）")
    changes = tuple(Change(**{k: c.get(k) for k in ("doc_id", "old_text", "current_text", "removed")})
                    for c in data.get("changes") or [] if isinstance(c, dict))
    return CuratedAnswer(
        id=str(data.get("id") or new_id()),
        question=_text(data.get("question"), "问题", MAX_QUESTION_CHARS),
        answer=_text(data.get("answer"), "回答", MAX_ANSWER_CHARS),
        citations=tuple(span_from_json(c) for c in citations),
        phrasings=tuple(p for p in (_text(p, "其他问法", MAX_QUESTION_CHARS, required=False) for p in phrasings) if p),
        approved_by=_text(data.get("approved_by"), "审核人", 100, required=False),
        approved_at=_text(data.get("approved_at"), "审核日期", 10, required=False) or today(),
        state=state,
        changes=changes,
    )


def check_span(documents: Mapping[str, Document], span: CitedSpan) -> str:
    """"" if the span is in the index as cited (document there, text at its offsets); else why not."""
    document = documents.get(span.doc_id)
    if document is None:
        return f"引用的文档 {span.doc_id} 不在当前索引中"
    if not 0 <= span.start < span.end <= len(document.text):
        return f"引用位置 {span.start}–{span.end} 超出文档《{document.title}》的范围（共 {len(document.text)} 字）"
    if document.text[span.start:span.end] != span.text:
        return f"文档《{document.title}》在 {span.start}–{span.end} 处的原文与引用的文字不一致"
    return ""


def make_span(documents: Mapping[str, Document], doc_id: str, start: int, end: int) -> CitedSpan:
    """The span [start, end) of a document of the index, with the document's hash now."""
    document = documents.get(doc_id)
    if document is None:
        raise CuratedError(f"引用的文档 {doc_id} 不在当前索引中")
    span = CitedSpan(doc_id, document.text[max(0, start):max(0, end)], start, end, text_hash(document.text))
    if problem := check_span(documents, span):
        raise CuratedError(problem)
    return span


def find_excerpt(documents: Mapping[str, Document], doc_id: str, excerpt: str) -> CitedSpan:
    """The span of a document holding `excerpt` (pasted from the source view), its first occurrence."""
    document = documents.get(doc_id)
    if document is None:
        raise CuratedError(f"引用的文档 {doc_id} 不在当前索引中")
    excerpt = excerpt.strip()
    if not excerpt:
        raise CuratedError("请粘贴要引用的原文")
    start = document.text.find(excerpt)
    if start < 0:
        raise CuratedError(f"在《{document.title}》中找不到这段原文，请从原文中原样复制")
    return make_span(documents, doc_id, start, start + len(excerpt))


def validated(answer: CuratedAnswer, documents: Mapping[str, Document], rehash: bool = True) -> CuratedAnswer:
    """The answer with every citation checked against the index (CuratedError naming the
    first that fails) and, with `rehash`, the hashes of the documents as they are now."""
    if not answer.citations:
        raise CuratedError("至少要引用一处原文")
    spans = []
    for i, span in enumerate(answer.citations, 1):
        if problem := check_span(documents, span):
            raise CuratedError(f"第 {i} 处引用：{problem}")
        spans.append(replace(span, doc_hash=text_hash(documents[span.doc_id].text)) if rehash or not span.doc_hash
                     else span)
    return replace(answer, citations=tuple(spans))


def source_changes(answer: CuratedAnswer, documents: Mapping[str, Document],
                   hashes: Callable[[str], str] | None = None) -> list[Change]:
    """The citations whose document is gone or whose text differs from the approved one."""
    hashes = hashes or (lambda doc_id: text_hash(documents[doc_id].text))
    changes = []
    for span in answer.citations:
        document = documents.get(span.doc_id)
        if document is None:
            changes.append(Change(span.doc_id, span.text, "", removed=True))
        elif hashes(span.doc_id) != span.doc_hash:
            start = max(0, span.start - CONTEXT_CHARS)
            end = min(len(document.text), span.end + CONTEXT_CHARS)
            changes.append(Change(span.doc_id, span.text, document.text[start:end]))
    return changes


def suspend_changed(answers: Sequence[CuratedAnswer], documents: Mapping[str, Document]) -> tuple[list[CuratedAnswer], list[str]]:
    """Every active answer citing a changed or removed document suspended (需复核), with
    what changed; and the ids suspended now."""
    hashes = _HashCache(documents)
    out, suspended = [], []
    for answer in answers:
        if answer.state == ACTIVE and (changes := source_changes(answer, documents, hashes)):
            answer = replace(answer, state=SUSPENDED, changes=tuple(changes))
            suspended.append(answer.id)
        out.append(answer)
    return out, suspended


def confirm(answer: CuratedAnswer, documents: Mapping[str, Document]) -> CuratedAnswer:
    """A suspended answer made active again by staff: each span re-attached where its text
    is now (the same offsets, or its first occurrence in the document), hashed anew.
    CuratedError when a cited text is no longer in its document (choose the span again)."""
    spans = []
    for span in answer.citations:
        document = documents.get(span.doc_id)
        if document is None:
            raise CuratedError(f"引用的文档 {span.doc_id} 已被移除，请重新选择引用或移除这条回答")
        if document.text[span.start:span.end] == span.text:
            start = span.start
        else:
            start = document.text.find(span.text)
            if start < 0:
                raise CuratedError(f"《{document.title}》中已没有原来引用的文字，请重新选择引用或移除这条回答")
        spans.append(CitedSpan(span.doc_id, span.text, start, start + len(span.text), text_hash(document.text)))
    return replace(answer, citations=tuple(spans), state=ACTIVE, changes=())


class _HashCache:
    """text_hash of documents, each computed once."""

    def __init__(self, documents: Mapping[str, Document]):
        self.documents = documents
        self._hashes: dict[str, str] = {}

    def __call__(self, doc_id: str) -> str:
        if doc_id not in self._hashes:
            self._hashes[doc_id] = text_hash(self.documents[doc_id].text)
        return self._hashes[doc_id]


# ----- the store ------------------------------------------------------------------------


class CuratedStore:
    """The approved answers of one index folder, in one JSON file."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.lock_path = self.path.with_name(self.path.name + ".lock")

    def stamp(self) -> tuple[int, int] | None:
        """(mtime_ns, size) of the file, None without one: changes whenever it is rewritten."""
        try:
            st = self.path.stat()
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size

    def load(self) -> list[CuratedAnswer]:
        if not self.path.exists():
            return []
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CuratedError(f"无法读取审核回答文件 {self.path}：{type(exc).__name__}") from exc
        if not isinstance(data, dict) or not isinstance(data.get("answers"), list):
            raise CuratedError(f"审核回答文件 {self.path} 的格式不对（应含 answers 列表）")
        try:
            return [answer_from_json(a) for a in data["answers"]]
        except CuratedError as exc:
            raise CuratedError(f"审核回答文件 {self.path}：{exc}") from exc

    def _write(self, answers: Sequence[CuratedAnswer]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        payload = json.dumps({"format": FORMAT, "answers": [a.to_json() for a in answers]}, ensure_ascii=False,
                             indent=1)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.tmp-", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(payload)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def update(self, change: Callable[[list[CuratedAnswer]], list[CuratedAnswer]]) -> list[CuratedAnswer]:
        """Read, change and write the answers under the lock: writers in other processes wait."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                answers = self.load()
                changed = change(list(answers))
                if changed != answers:
                    self._write(changed)
                return changed
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def add(self, answer: CuratedAnswer, documents: Mapping[str, Document]) -> CuratedAnswer:
        answer = validated(answer, documents)

        def put(answers: list[CuratedAnswer]) -> list[CuratedAnswer]:
            return [a for a in answers if a.id != answer.id] + [answer]

        self.update(put)
        return answer

    def set_state(self, answer_id: str, documents: Mapping[str, Document], state: str) -> CuratedAnswer:
        """Remove (REMOVED) or confirm (ACTIVE, after a source change) one answer."""
        found: list[CuratedAnswer] = []

        def change(answers: list[CuratedAnswer]) -> list[CuratedAnswer]:
            out = []
            for a in answers:
                if a.id == answer_id:
                    a = confirm(a, documents) if state == ACTIVE else replace(a, state=state)
                    found.append(a)
                out.append(a)
            return out

        self.update(change)
        if not found:
            raise CuratedError(f"没有编号为 {answer_id} 的审核回答")
        return found[0]

    def sync(self, documents: Mapping[str, Document]) -> list[str]:
        """Suspend (in the file) every active answer whose sources changed; the ids suspended."""
        if not self.path.exists():
            return []
        suspended: list[str] = []

        def change(answers: list[CuratedAnswer]) -> list[CuratedAnswer]:
            out, ids = suspend_changed(answers, documents)
            suspended.extend(ids)
            return out

        self.update(change)
        if suspended:
            log.warning("所引文档已变动，%d 条审核回答已暂停，待复核：%s", len(suspended), "、".join(suspended))
        return suspended


# ----- answers ------------------------------------------------------------------------------


def span_citation(n: int, span: CitedSpan, document: Document | None, score: float = 1.0) -> Citation:
    paragraph = next((p for p in (document.paragraphs if document else ()) if p.start <= span.start < p.end), None)
    return Citation(
        n=n, doc_id=span.doc_id, title=document.title if document else span.doc_id,
        section=paragraph.section if paragraph else "", text=span.text, start=span.start, end=span.end,
        score=round(score, 6), quotes=[(span.start, span.end)],
        article=article_at(document, span.start) if document else "",
        page=paragraph.page if paragraph else None,
    )


def curated_reply(answer: CuratedAnswer, documents: Mapping[str, Document], question: str,
                  score: float) -> Answer:
    """The Answer that serves an approved answer: its text, its spans as citations [1]…[n]
    (markers where the text writes them) and the date it was approved."""
    citations = [span_citation(i, span, documents.get(span.doc_id), score)
                 for i, span in enumerate(answer.citations, 1)]
    numbers = {c.n for c in citations}
    markers: dict[int, list[int]] = {}
    for m in MARKER.finditer(answer.answer):
        if int(m.group(1)) in numbers:
            markers.setdefault(int(m.group(1)), []).append(m.start())
    citations = [replace(c, markers=markers.get(c.n, [])) for c in citations]
    return Answer(text=answer.answer, refused=False, citations=describe(citations, documents), question=question,
                  query=question, status=CURATED, curated_id=answer.id, approved_at=answer.approved_at)


def from_bot_answer(bot_answer: Answer, documents: Mapping[str, Document]) -> tuple[str, list[CitedSpan]]:
    """Staff "take the bot's answer": its text, and for each of its own citations the span
    it quotes (from its first quoted sentence to its last), numbered as in the text."""
    spans = []
    for citation in sorted((c for c in bot_answer.citations if not c.role), key=lambda c: c.n):
        quotes = [(s, e) for s, e in citation.quotes if s < e] or [(citation.start, citation.end)]
        spans.append(make_span(documents, citation.doc_id, min(s for s, _ in quotes), max(e for _, e in quotes)))
    return bot_answer.text, spans


# ----- matching -----------------------------------------------------------------------------


def thresholds_path() -> Path:
    return unionqa_home() / "calibration" / FILE_NAME


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
            hashes = _HashCache(documents)
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
