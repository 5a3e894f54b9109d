"""The Answer that serves an approved answer (bot/curated.py), and the spans of an
approved answer taken from the bot's own."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from bot.curated import CitedSpan, CuratedAnswer, make_span
from bot.provisions import describe
from bot.records import CURATED, MARKER, Answer, Citation
from corpus.records import Document
from index.chunker import article_at


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
