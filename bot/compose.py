"""Composing an extractive answer: the sentences of the retrieved passages that
best answer the question, each followed by the marker of its citation."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

from bot.amounts import fits
from bot.answerability import LogisticModel, shape_match
from bot.definition import definition_strength
from bot.provisions import Provision, describe
from bot.query import Query
from bot.records import Citation
from bot.retrieve import Hit
from bot.settings import DEFAULTS
from bot.spans import article_span, is_item, list_intro, list_span, paragraph_at
from corpus.records import Document
from index.chunker import article_at
from index.records import Chunk
from index.sentences import split_sentences
from index.store.folder import IndexStore
from index.tokens import tokenize

REFUSAL_TEXT = "知识库中没有找到与该问题相关的内容。"
RELATED_TEXT = "文件中没有直接回答这个问题，以下条款可能相关："
# How much an answer quotes (sentences, characters, a whole short article) is set in
# bot/settings.py; the Bot passes its own settings, these functions default to DEFAULTS.
# Candidate sentences are scored by a logistic model fitted on questions with known
# answers (bot/eval/calibrate.py).

SENTENCE_FEATURES = (
    "overlap",  # share of the query's weight in the sentence (idf × rarity among the candidates)
    "cosine",  # the sentence's dense similarity to the question
    "cosine_gap",  # its cosine minus the best candidate's
    "passage_rank",  # 1 / (rank of its passage + 1)
    "shape",  # holds the kind of answer asked for (a number, a ruling…)
    "definition",  # defines the question's subject (bot/definition.py)
    "log_chars",
    "in_range",  # states a range that an amount of the question falls in (bot/amounts.py)
)


@dataclass(frozen=True)
class Candidate:
    hit_rank: int  # 0-based rank of the passage the sentence comes from
    hit: Hit
    start: int  # offsets in the document text
    end: int
    text: str
    features: dict[str, float]
    score: float = 0.0  # probability that the sentence holds the answer


def candidate_units(
    query: Query, hits: list[Hit], store: IndexStore, vector: np.ndarray | None, idf: Callable[[str], float]
) -> list[Candidate]:
    """Every answer unit (sentence, or colon-introduced item) of the passages, with the
    features the sentence model reads; in passage order, unscored."""
    units = []
    seen: set[tuple[str, int]] = set()
    for rank, hit in enumerate(hits):
        chunk = hit.chunk
        spans = store.sentence_spans(hit.vector_id)
        cosines = store.sentence_vectors(hit.vector_id) @ vector if vector is not None and spans else None
        for j, (s, e) in enumerate(spans):
            key = (chunk.doc_id, chunk.start + s)
            if key in seen:  # overlapping chunks repeat a sentence
                continue
            seen.add(key)
            cosine = float(cosines[j]) if cosines is not None else 0.0
            units.append((rank, hit, s, e, _tokens(chunk.text[s:e]), cosine))
    if not units:
        return []
    # A query word weighs its idf over the corpus times how rare it is among these
    # sentences: the name the question is about ("尤金袋鼠") is rare in the corpus but
    # in nearly every sentence of its passage, so it cannot tell them apart; the word
    # asking for the fact ("体重") can.
    spread = {t: sum(t in present for *_, present, _ in units) for t in query.terms}
    weights = {t: w * idf(t) * math.log(1 + len(units) / (1 + spread[t])) for t, w in query.terms.items()}
    total = sum(weights.values()) or 1.0
    best_cosine = max(u[-1] for u in units)
    amounts = list(query.amounts)
    candidates = []
    for rank, hit, s, e, present, cosine in units:
        text = hit.chunk.text[s:e]
        features = {
            "overlap": sum(w for t, w in weights.items() if t in present) / total,
            "cosine": cosine,
            "cosine_gap": cosine - best_cosine,
            "passage_rank": 1.0 / (rank + 1),
            "shape": shape_match(query.kind, [text]),
            "definition": definition_strength(text, query.subject) if query.subject else 0.0,
            "log_chars": math.log(len(text) + 1),
            "in_range": 1.0 if fits(amounts, text) else 0.0,
        }
        candidates.append(Candidate(rank, hit, hit.chunk.start + s, hit.chunk.start + e, text, features))
    return candidates


@lru_cache(maxsize=65536)
def _tokens(sentence: str) -> frozenset[str]:
    # The same passages come back question after question: segment each sentence once.
    return frozenset(tokenize(sentence))


def rank_units(candidates: list[Candidate], model: LogisticModel) -> list[Candidate]:
    """The candidates scored by the fitted sentence model, best first."""
    scored = [replace(c, score=model.probability(c.features)) for c in candidates]
    return sorted(scored, key=lambda c: (-c.score, c.hit_rank, c.start))


def select_sentences(
    ranked: list[Candidate],
    max_sentences: int = DEFAULTS.max_sentences,
    max_chars: int = DEFAULTS.max_chars,
    keep_probability: float = DEFAULTS.keep_probability,
) -> list[Candidate]:
    """The best sentence, plus up to two more that the model also believes hold the
    answer, within a length budget; returned in reading order (by passage, then position)."""
    if not ranked:
        return []
    chosen = [ranked[0]]
    used = len(ranked[0].text)
    for cand in ranked[1:]:
        if len(chosen) >= max_sentences:
            break
        if cand.score < keep_probability or used + len(cand.text) > max_chars:
            continue
        chosen.append(cand)
        used += len(cand.text)
    chosen.sort(key=lambda c: (c.hit_rank, c.start))
    return chosen


@dataclass(frozen=True)
class Quote:
    """A stretch of a document that the answer quotes, and what its citation shows."""

    hit: Hit
    start: int  # the quoted text, in document offsets
    end: int
    text: str
    passage: tuple[int, int]  # the cited passage: the chunk, or the whole article quoted
    highlights: tuple[tuple[int, int], ...]  # the deciding sentences, marked in the source view


def _whole(best: Candidate, span: tuple[int, int], document: Document) -> Quote:
    # Only the deciding sentence is highlighted: in 「已满1年不满10年的，年休假5天；已满10年不满20年的，
    # 年休假10天；…」 asked about ten years, the tier that applies, not every tier quoted with it.
    return Quote(best.hit, span[0], span[1], document.text[span[0] : span[1]], span, ((best.start, best.end),))


def plan_quotes(
    chosen: list[Candidate], best: Candidate, documents: Mapping[str, Document], kind: str = "",
    whole_unit_chars: int = DEFAULTS.whole_unit_chars,
) -> list[Quote]:
    """The chosen sentences as quotes. When the best one lies in a short law article,
    or in a short list, that whole article or list instead, with the deciding sentence
    (`best`) highlighted in it. A list item is quoted with the sentence announcing its list; in
    prose, the best sentence with the context its answer needs (`_context`; `kind` is
    the question's)."""
    document = documents.get(best.hit.chunk.doc_id)
    if document is not None:
        for span in (article_span(document, best.start), list_span(document, best.start)):
            if span is not None and span[1] - span[0] <= whole_unit_chars:
                return [_whole(best, span, document)]
        chosen = sorted([*chosen, *_context(document, best, chosen, kind)], key=lambda c: (c.hit_rank, c.start))
    quotes: list[Quote] = []
    quoted: set[tuple[str, int]] = set()
    for c in chosen:
        chunk = c.hit.chunk
        doc = documents.get(chunk.doc_id)
        intro = list_intro(doc, c.start) if doc is not None else None
        passage = (chunk.start, chunk.end)
        if intro is not None and not any(q.start <= intro[0] < q.end for q in quotes):
            passage = (min(passage[0], intro[0]), passage[1])
            if (chunk.doc_id, intro[0]) not in quoted and not (c.start <= intro[0] < c.end):
                quoted.add((chunk.doc_id, intro[0]))
                quotes.append(Quote(c.hit, intro[0], intro[1], doc.text[intro[0] : intro[1]], passage, (intro,)))
        quotes.append(Quote(c.hit, c.start, c.end, c.text, passage, ((c.start, c.end),)))
    return quotes


def _context(document: Document, best: Candidate, chosen: list[Candidate], kind: str) -> list[Candidate]:
    """Sentences of `best`'s paragraph of prose that its answer needs besides it:

    - the sentence after it, when it opens the paragraph: an essay states a paragraph's
      topic first ("三种精神具有内在联系。") and says what it is in the sentences that follow;
    - for a question asking why, the sentences on either side: the sentence that matches a
      why-question states the claim asked about, and its reason stands next to it
      ("……归根到底要依靠辛勤劳动。新征程上，我们更加需要……")."""
    here = paragraph_at(document, best.start)
    if here is None or is_item(document, here):
        return []
    paragraph = document.paragraphs[here]
    spans = [(paragraph.start + s, paragraph.start + e) for s, e in split_sentences(document.paragraph_text(paragraph))]
    position = next((i for i, (s, _) in enumerate(spans) if s == best.start), None)
    if position is None:
        return []
    wanted = {position + 1} if position == 0 else set()
    if kind == "why":
        wanted |= {position - 1, position + 1}
    taken = {c.start for c in chosen}
    return [
        replace(best, start=s, end=e, text=document.text[s:e], score=0.0)
        for i, (s, e) in enumerate(spans)
        if i in wanted and s not in taken and best.hit.chunk.start <= s < best.hit.chunk.end
    ]


def compose_answer(quotes: list[Quote], documents: Mapping[str, Document]) -> tuple[str, list[Citation]]:
    """The answer text with `[n]` after each quote, and its citations, numbered in
    order of first appearance.

    A citation names the article of the first sentence it quotes, read from the
    document, not the chunk's label: a quoted list introduction or a whole article
    may reach beyond the chunk it was found in."""
    numbers: dict[tuple[int, tuple[int, int]], int] = {}
    highlights: dict[tuple[int, tuple[int, int]], list[tuple[int, int]]] = {}
    first: dict[tuple[int, tuple[int, int]], Quote] = {}
    parts = []
    markers: dict[int, list[int]] = {}
    length = 0
    for quote in quotes:
        key = (quote.hit.vector_id, quote.passage)
        if key not in numbers:
            numbers[key] = len(numbers) + 1
            highlights[key] = []
            first[key] = quote
        highlights[key].extend(quote.highlights)
        text = quote.text.strip()
        markers.setdefault(numbers[key], []).append(length + len(text))
        parts.append(f"{text}[{numbers[key]}]")
        length += len(parts[-1])
    citations = []
    for key, n in numbers.items():
        quote = first[key]
        chunk = quote.hit.chunk
        document = documents.get(chunk.doc_id)
        start, end = quote.passage
        text = document.text[start:end] if document is not None else chunk.text
        citations.append(Citation(
            n=n,
            doc_id=chunk.doc_id,
            title=chunk.title,
            section=chunk.section,
            text=text,
            start=start,
            end=end,
            score=round(quote.hit.score, 6),
            quotes=highlights[key] or [(quote.start, quote.end)],
            article=_quoted_article(chunk, quote.start, documents),
            page=chunk.page,
            chunk_id=chunk.chunk_id,
            markers=markers[n],
        ))
    return "".join(parts), describe(citations, documents)


def provisions_of(candidates: list[Candidate], store: IndexStore) -> list[Provision]:
    """The provisions the ranked candidates come from, each once, in the order of their
    best sentence: a law's article, or the passage outside articles."""
    found: dict[tuple[str, tuple[int, int]], Provision] = {}
    for c in candidates:
        chunk = c.hit.chunk
        document = store.documents.get(chunk.doc_id)
        span = (article_span(document, c.start) if document is not None else None) or (chunk.start, chunk.end)
        key = (chunk.doc_id, span)
        if key not in found:
            found[key] = Provision(key[0], span, c.hit, c.start, c.end, c.features.get("shape", 0.5),
                                   _unit_vector(store, c))
    return list(found.values())


def _unit_vector(store: IndexStore, candidate: Candidate) -> np.ndarray | None:
    chunk = candidate.hit.chunk
    for j, (s, _) in enumerate(store.sentence_spans(candidate.hit.vector_id)):
        if chunk.start + s == candidate.start:
            return store.sentence_vectors(candidate.hit.vector_id)[j]
    return None


def in_provision(candidate: Candidate, provision: Provision) -> bool:
    return candidate.hit.chunk.doc_id == provision.doc_id and provision.span[0] <= candidate.start < provision.span[1]


def shown_citations(shown: list[tuple[Provision, str]], documents: Mapping[str, Document],
                    first: int) -> list[Citation]:
    """The near provisions shown after an answer (「另见」, 「其他相关规定」): numbered from
    `first`, not quoted in the text (no markers), each its whole article when it is one."""
    citations = []
    for i, (provision, role) in enumerate(shown):
        chunk = provision.hit.chunk
        document = documents.get(provision.doc_id)
        start, end = provision.span
        text = document.text[start:end] if document is not None else chunk.text
        citations.append(Citation(
            n=first + i, doc_id=chunk.doc_id, title=chunk.title, section=chunk.section, text=text,
            start=start, end=end, score=round(provision.hit.score, 6), quotes=[(provision.start, provision.end)],
            article=_quoted_article(chunk, provision.start, documents), page=chunk.page, chunk_id=chunk.chunk_id,
            role=role,
        ))
    return describe(citations, documents)


def related_answer(hits: list[Hit], documents: Mapping[str, Document],
                   passages: int = DEFAULTS.related_passages) -> tuple[str, list[Citation]]:
    """For evidence near but not decisive: the closest passages, cited, with no claim
    that they answer. Each is named by its first sentence (or its article's opening)."""
    quotes = []
    for hit in hits[:passages]:
        chunk = hit.chunk
        first = split_sentences(chunk.text)[:1] or [(0, len(chunk.text))]
        s, e = first[0]
        quotes.append(Quote(hit, chunk.start + s, chunk.start + e, chunk.text[s:e], (chunk.start, chunk.end),
                            ((chunk.start + s, chunk.start + e),)))
    _, citations = compose_answer(quotes, documents)
    lines = [RELATED_TEXT]
    offset = len(RELATED_TEXT) + 1
    markers: dict[int, list[int]] = {}
    for quote, c in zip(quotes, citations, strict=False):
        text = quote.text.strip()
        markers.setdefault(c.n, []).append(offset + len(text))
        lines.append(f"{text}[{c.n}]")
        offset += len(lines[-1]) + 1
    citations = [replace(c, markers=markers.get(c.n, [])) for c in citations]
    return "\n".join(lines), citations


def _quoted_article(chunk: Chunk, offset: int, documents: Mapping[str, Document]) -> str:
    document = documents.get(chunk.doc_id)
    if document is None or not chunk.article:
        return chunk.article
    return article_at(document, offset) or chunk.article
