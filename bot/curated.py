"""Approved answers (工会审核的回答): answers union staff wrote or approved for a question,
each resting on spans of the indexed documents, served before retrieval when a new
question is close enough to an approved one. This module holds the records, their JSON
form and the check of a cited span; the rest lives beside it:

- **Records and citations** (here). Every approved answer cites at least one span: the
  document id, the exact text, its [start, end) offsets in `Document.text` and a hash of
  the whole text at approval. A span is accepted only if the document is in the index and
  the text is at those offsets (`check_span`), the same check as for every answer.
- **Store and source changes** (bot/curated_store.py). One JSON file per index folder,
  written atomically under a lock file; an answer whose cited document is gone or changed
  is never served and is marked 「需复核」 (SUSPENDED) at every load of an index version,
  until staff confirm it or remove it.
- **Matching** (bot/curated_match.py). The question is scored against each approved answer
  by the learned pair model of bot/curated_pairs.py, or, for a model without one, by the
  fitted cosine threshold.
- **Replies** (bot/curated_reply.py). The Answer that serves an approved answer, and an
  approved answer taken from the bot's own.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from datetime import date

from corpus.errors import UnionQAError
from corpus.records import Document

ACTIVE = "active"
SUSPENDED = "suspended"  # 需复核: a cited document changed or was removed
REMOVED = "removed"
STATES = (ACTIVE, SUSPENDED, REMOVED)
STATE_TEXT = {ACTIVE: "生效", SUSPENDED: "需复核", REMOVED: "已移除"}

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
