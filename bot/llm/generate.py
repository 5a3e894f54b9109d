"""Generated answers: the LLM writes the answer from the retrieved passages only,
and every sentence is checked (bot/llm/grounding.py) before it is shown.

Only a question that the answerability decision *answered* reaches the LLM. A
refused question never does, and neither does a *related* one: there the bot
shows the closest passages precisely because it makes no claim, and a generated
answer would be one. The extractive answer is always computed first; it is the
fallback whenever the LLM fails, is too slow, its circuit breaker is open, or too
little of what it wrote survives the check.

What is sent to the LLM server: the question, up to `HISTORY_TURNS` earlier turns
of the conversation (questions and answers, without markers), and the retrieved
passages with their titles, sections and articles. Nothing else.
"""

from __future__ import annotations

import logging
import re
import time
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace

from bot.compose import Quote, compose_answer
from bot.llm.client import TIMEOUT, CircuitBreaker, LLMClient, LLMError
from bot.llm.grounding import (
    AnswerCheck,
    Passages,
    SentenceCheck,
    check_answer,
    check_sentence,
    split_generated,
)
from bot.records import ANSWERED, MARKER, Answer, Citation
from bot.retrieve import Hit
from corpus.records import Document

log = logging.getLogger(__name__)

MAX_PASSAGES = 5  # passages given to the model: the extractive answer's, then the next best hits
HISTORY_TURNS = 3  # earlier turns sent along, for follow-up questions
HISTORY_CHARS = 300  # of each earlier answer
# A generated answer is shown when at least this share of its sentences passed the
# check (and at least one did); otherwise the extractive answer is, with a notice.
MIN_KEPT_SHARE = 0.5

# Answer.fallback: why the extractive answer was shown although an LLM is configured
FALLBACK_TIMEOUT = "timeout"
FALLBACK_ERROR = "error"
FALLBACK_CIRCUIT_OPEN = "circuit_open"
FALLBACK_CHECK_FAILED = "check_failed"
NOTICES = {
    FALLBACK_TIMEOUT: "大模型回答超时，以下为文件原文摘录。",
    FALLBACK_ERROR: "大模型服务出错，以下为文件原文摘录。",
    FALLBACK_CIRCUIT_OPEN: "大模型服务暂时不可用，以下为文件原文摘录。",
    FALLBACK_CHECK_FAILED: "生成的回答未能通过引用核对，以下为文件原文摘录。",
}

SYSTEM_PROMPT = """你是工会知识问答助手，为职工解答工会文件和劳动法律法规方面的问题。
你只能根据用户消息中给出的、带编号的文件段落回答，不得使用段落以外的知识。规则：
1. 只依据这些段落回答；段落中没有写到的内容，不要补充，也不要推测。
2. 每一句话的末尾都要标注它所依据的段落编号，例如 [1] 或 [2][3]；只能使用给出的编号。
3. 数字、期限、日期、百分比、金额和条件，照抄段落原文的写法，不要换算、概括或改写。
4. 如果这些段落不能回答问题，就只说：文件中没有找到对这个问题的规定。
5. 用简洁、平实的中文回答，一般不超过五句话；不要使用 Markdown、标题或列表符号。"""

_REAL_TEXT = re.compile(r"[^\s\[\]\d]")


@dataclass(frozen=True)
class Partial:
    """An answer being generated: `checked` holds the sentences that passed the check
    so far (with markers, numbered as in the prompt); `pending` the sentence being
    written, not yet checked. The chat shows `pending` muted while it streams and
    drops it if it fails; the APIs never send it as an answer."""

    checked: str
    pending: str
    dropped: int = 0  # sentences dropped so far


def passage_head(citation: Citation) -> str:
    return " ".join(part for part in (f"《{citation.title}》", citation.section, citation.article) if part.strip("《》"))


def passages_for(answer: Answer, hits: Sequence[Hit], documents: Mapping[str, Document],
                 limit: int = MAX_PASSAGES) -> list[Citation]:
    """The passages the model answers from, numbered 1…: the extractive answer's
    citations (a whole article when it quoted one), then the best other hits that do
    not overlap them, so that one answer can gather several articles."""
    chosen = list(answer.citations[:limit])
    for hit in hits:
        if len(chosen) >= limit:
            break
        chunk = hit.chunk
        if any(c.doc_id == chunk.doc_id and c.start < chunk.end and chunk.start < c.end for c in chosen):
            continue
        quote = Quote(hit, chunk.start, chunk.end, chunk.text, (chunk.start, chunk.end), ())
        _, (citation,) = compose_answer([quote], documents)
        chosen.append(replace(citation, quotes=[]))
    return [replace(c, n=i) for i, c in enumerate(chosen, start=1)]


def build_messages(question: str, history: Sequence[tuple[str, str]] | None,
                   passages: Sequence[Citation]) -> list[dict]:
    """The chat messages: the rules, the earlier turns, then the numbered passages and the question."""
    messages = [{"role": "system", "content": SYSTEM_PROMPT}]
    for earlier_question, earlier_answer in list(history or [])[-HISTORY_TURNS:]:
        messages.append({"role": "user", "content": earlier_question})
        messages.append({"role": "assistant", "content": MARKER.sub("", earlier_answer)[:HISTORY_CHARS]})
    numbered = "\n\n".join(f"[{c.n}] {passage_head(c)}\n{c.text.strip()}" for c in passages)
    messages.append({"role": "user", "content": f"文件段落：\n\n{numbered}\n\n问题：{question}"})
    return messages


def _settled(pieces: list[str]) -> int:
    """How many of the streamed pieces are finished sentences: every piece before the
    last one holding real text (a marker "[1]" may still arrive after "。")."""
    for i in range(len(pieces) - 1, -1, -1):
        if _REAL_TEXT.search(pieces[i]):
            return i
    return 0


class Generator:
    """Writes grounded answers with an LLM, falling back to the extractive answer."""

    def __init__(self, client: LLMClient, breaker: CircuitBreaker | None = None,
                 max_passages: int = MAX_PASSAGES, min_kept_share: float = MIN_KEPT_SHARE):
        self.client = client
        self.breaker = breaker or CircuitBreaker()
        self.max_passages = max_passages
        self.min_kept_share = min_kept_share

    def stream(self, extractive: Answer, hits: Sequence[Hit], documents: Mapping[str, Document],
               history: Sequence[tuple[str, str]] | None = None) -> Iterator[Partial | Answer]:
        """`Partial`s while the model writes, then the final `Answer` (generated, or the
        extractive one with its fallback reason). A question the decision did not
        answer gets its extractive answer at once."""
        if extractive.status != ANSWERED:
            yield extractive
            return
        if not self.breaker.allow():
            yield _fallback(extractive, FALLBACK_CIRCUIT_OPEN)
            return
        passages = passages_for(extractive, hits, documents, self.max_passages)
        checkable = Passages([f"{passage_head(c)}\n{c.text}" for c in passages])
        messages = build_messages(extractive.question, history, passages)
        text, checks, complete = "", [], True
        started = time.perf_counter()
        try:
            for delta in self.client.stream(messages):
                text += delta.text
                complete = delta.finish_reason != "length"
                pieces = split_generated(text)
                settled = _settled(pieces)
                while len(checks) < settled:
                    checks.append(check_sentence(pieces[len(checks)], checkable))
                yield _partial(checks, "".join(pieces[settled:]))
        except LLMError as exc:
            self.breaker.failure()
            reason = FALLBACK_TIMEOUT if exc.reason == TIMEOUT else FALLBACK_ERROR
            log.warning("LLM answer failed after %.1f s (%s); the extractive answer is shown",
                        time.perf_counter() - started, exc)
            yield _fallback(extractive, reason, checked=len(checks), dropped=sum(not c.passed for c in checks))
            return
        self.breaker.success()
        yield self.finish(extractive, passages, check_answer(text, checkable, complete=complete))

    def finish(self, extractive: Answer, passages: list[Citation], check: AnswerCheck) -> Answer:
        """The generated answer with the passages it cites, when enough of it passed
        the check; the extractive answer otherwise."""
        kept, total = check.kept, len(check.sentences)
        if not kept or len(kept) < self.min_kept_share * total:
            return _fallback(extractive, FALLBACK_CHECK_FAILED, checked=total, dropped=total - len(kept))
        text, citations = cited_passages(kept, passages)
        return replace(extractive, text=text, citations=citations, generated=True, fallback="", notice="",
                       sentences_checked=total, sentences_dropped=total - len(kept))

    def answer(self, extractive: Answer, hits: Sequence[Hit], documents: Mapping[str, Document],
               history: Sequence[tuple[str, str]] | None = None) -> Answer:
        return last(self.stream(extractive, hits, documents, history))


def cited_passages(kept: list[SentenceCheck], passages: list[Citation]) -> tuple[str, list[Citation]]:
    """The kept sentences and the passages they cite. The markers keep the numbers of
    the prompt (a gap such as [1][3] may show), so that the sentences streamed while the
    model wrote and the final answer carry the same markers."""
    used = sorted({n for sentence in kept for n in sentence.cited})
    text = "".join(s.text for s in kept).strip()
    # The model writes its markers as text: the checker read them (every one names a
    # given passage), and the UI links a marker only at the offsets recorded here.
    markers: dict[int, list[int]] = {}
    for match in MARKER.finditer(text):
        markers.setdefault(int(match.group(1)), []).append(match.start())
    # a provision shown after the extractive answer (role 「另见」…) that the model cites is its own now
    return text, [replace(passages[n - 1], markers=markers.get(n, []), role="") for n in used]


def last(stream: Iterator[Partial | Answer]) -> Answer:
    """The final Answer of a stream, the partials read and forgotten."""
    (final,) = deque(stream, maxlen=1)
    return final


def _partial(checks: list[SentenceCheck], pending: str) -> Partial:
    checked = "".join(c.text for c in checks if c.passed)
    return Partial(checked, pending, sum(not c.passed for c in checks))


def _fallback(extractive: Answer, reason: str, checked: int = 0, dropped: int = 0) -> Answer:
    return replace(extractive, generated=False, fallback=reason, notice=NOTICES[reason],
                   sentences_checked=checked, sentences_dropped=dropped)
