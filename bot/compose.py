"""Composing an extractive answer: the sentences of the retrieved passages that
best answer the question, each followed by the marker of its citation."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from bot.definition import definition_strength
from bot.records import Citation
from bot.retrieve import Hit
from corpus.records import Document
from index.chunker import article_at
from index.records import Chunk
from index.sentences import split_sentences
from index.tokens import tokenize

REFUSAL_TEXT = "知识库中没有找到与该问题相关的内容。"
# Added to a sentence's score, divided by its passage's rank + 1: the first
# passage is usually the right one (hit@1 ≈ 0.9 on CMRC 2018). On its tune part
# answer_hit rose from 0.739 at 0.1 to 0.766 at 0.3; more mostly lengthened answers.
RANK_BONUS = 0.3
# Added to a sentence that holds the kind of answer the question asks for
# (a date for 「何时」, a number for 「多少」): answer_hit 0.766 → 0.774 there.
ANSWER_TYPE_BONUS = 0.2
_ASKS_WHEN = re.compile(r"何时|哪一?年|哪一天|几月|什么时候|什么时间|哪个朝代|年份|日期")
_ASKS_HOW_MUCH = re.compile(r"多少|几[^乎]|多大|多高|多长|多重|多深|多远|多宽|多久|面积|人口|海拔|长度|高度|重量")
_DATE = re.compile(r"[0-9〇零一二三四五六七八九十]+年|[0-9]+月|[0-9]+日|世纪|朝")
_NUMBER = re.compile(r"[0-9]|[一二两三四五六七八九十百千万亿]+[个种名次位家所条项人米年岁天公里克吨元]")


def expected_answer(question: str) -> re.Pattern | None:
    """How a sentence answering `question` looks, for the question kinds whose
    answer has a shape: a date for 「何时」, a number for 「多少」."""
    if _ASKS_WHEN.search(question):
        return _DATE
    if _ASKS_HOW_MUCH.search(question):
        return _NUMBER
    return None


@dataclass(frozen=True)
class Candidate:
    hit_rank: int  # 0-based rank of the passage the sentence comes from
    hit: Hit
    start: int  # offsets in the document text
    end: int
    text: str
    score: float


def answer_spans(text: str) -> list[tuple[int, int]]:
    """Sentence spans of a passage, as candidates for the answer. A sentence that
    ends with a colon only announces what follows ("工会经费的来源："), so it is
    kept together with the sentence after it: alone it would answer nothing."""
    spans = split_sentences(text)
    merged: list[tuple[int, int]] = []
    i = 0
    while i < len(spans):
        start, end = spans[i]
        if text[start:end].endswith(("：", ":")) and i + 1 < len(spans):
            end = spans[i + 1][1]
            i += 1
        merged.append((start, end))
        i += 1
    return merged


def score_sentences(
    query_tokens: list[str], hits: list[Hit], idf: Callable[[str], float], passages: int = 3, question: str = ""
) -> list[Candidate]:
    """Every sentence of the best passages, scored by the share of the query's
    weight it contains, with a preference for better-ranked passages and for
    sentences holding the kind of answer asked for.

    A query word weighs its idf over the corpus times how rare it is among these
    sentences: the name the question is about ("尤金袋鼠") is rare in the corpus
    but in nearly every sentence of its passage, so it cannot tell them apart;
    the word asking for the fact ("体重") can.
    """
    sentences = []
    seen: set[tuple[str, int]] = set()
    for rank, hit in enumerate(hits[:passages]):
        chunk = hit.chunk
        for s, e in answer_spans(chunk.text):
            key = (chunk.doc_id, chunk.start + s)
            if key in seen:  # overlapping chunks repeat a sentence
                continue
            seen.add(key)
            sentences.append((rank, hit, s, e, set(tokenize(chunk.text[s:e]))))
    query = set(query_tokens)
    spread = {t: sum(t in present for *_, present in sentences) for t in query}
    weights = {t: idf(t) * math.log(1 + len(sentences) / (1 + spread[t])) for t in query}
    total = sum(weights.values()) or 1.0
    wanted = expected_answer(question)
    candidates = []
    for rank, hit, s, e, present in sentences:
        chunk = hit.chunk
        overlap = sum(w for t, w in weights.items() if t in present) / total
        score = overlap + RANK_BONUS / (rank + 1)
        if wanted and wanted.search(chunk.text[s:e]):
            score += ANSWER_TYPE_BONUS
        candidates.append(Candidate(rank, hit, chunk.start + s, chunk.start + e, chunk.text[s:e], score))
    candidates.sort(key=lambda c: c.score, reverse=True)
    return candidates


def definitions_first(candidates: list[Candidate], subject: str, pool: list[Hit]) -> list[Candidate]:
    """For a question asking what `subject` is: the sentences of the pool that
    define it, best first and ahead of every other candidate."""
    top = candidates[0].score if candidates else 0.0
    found: dict[tuple[str, int], Candidate] = {}
    for rank, hit in enumerate(pool):
        chunk = hit.chunk
        for s, e in answer_spans(chunk.text):
            key = (chunk.doc_id, chunk.start + s)
            strength = definition_strength(chunk.text[s:e], subject)
            if strength and key not in found:
                # the better-ranked passage wins among equally clear definitions
                score = top + strength + 0.1 / (rank + 1)
                found[key] = Candidate(rank, hit, chunk.start + s, chunk.start + e, chunk.text[s:e], score)
    if not found:
        return candidates
    rest = [c for c in candidates if (c.hit.chunk.doc_id, c.start) not in found]
    return sorted(found.values(), key=lambda c: c.score, reverse=True) + rest


def select_sentences(
    candidates: list[Candidate], max_sentences: int = 3, max_chars: int = 160, keep_ratio: float = 0.75
) -> list[Candidate]:
    """The best sentence, plus up to two more that score nearly as well, within a
    length budget; returned in reading order (by passage, then position)."""
    if not candidates:
        return []
    best = candidates[0]
    chosen = [best]
    used = len(best.text)
    for cand in candidates[1:]:
        if len(chosen) >= max_sentences:
            break
        if cand.score < keep_ratio * best.score or used + len(cand.text) > max_chars:
            continue
        chosen.append(cand)
        used += len(cand.text)
    chosen.sort(key=lambda c: (c.hit_rank, c.start))
    return chosen


def compose_answer(chosen: list[Candidate], documents: Mapping[str, Document]) -> tuple[str, list[Citation]]:
    """The answer text with `[n]` after each sentence, and its citations, numbered
    in order of first appearance.

    A chunk of a law may pack several short articles, so a citation names the
    article of the first sentence it quotes, not the chunk's first article."""
    numbers: dict[int, int] = {}
    quotes: dict[int, list[tuple[int, int]]] = {}
    parts = []
    for cand in chosen:
        vid = cand.hit.vector_id
        if vid not in numbers:
            numbers[vid] = len(numbers) + 1
            quotes[vid] = []
        quotes[vid].append((cand.start, cand.end))
        parts.append(f"{cand.text.strip()}[{numbers[vid]}]")
    hits = {c.hit.vector_id: c.hit for c in chosen}
    citations = [
        Citation(
            n=n,
            doc_id=hits[vid].chunk.doc_id,
            title=hits[vid].chunk.title,
            section=hits[vid].chunk.section,
            text=hits[vid].chunk.text,
            start=hits[vid].chunk.start,
            end=hits[vid].chunk.end,
            score=round(hits[vid].score, 6),
            quotes=quotes[vid],
            article=_quoted_article(hits[vid].chunk, quotes[vid][0][0], documents),
            page=hits[vid].chunk.page,
            chunk_id=hits[vid].chunk.chunk_id,
        )
        for vid, n in numbers.items()
    ]
    return "".join(parts), citations


def _quoted_article(chunk: Chunk, offset: int, documents: Mapping[str, Document]) -> str:
    document = documents.get(chunk.doc_id)
    if document is None or not chunk.article:
        return chunk.article
    return article_at(document, offset) or chunk.article
