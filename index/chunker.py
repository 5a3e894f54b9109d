"""Cut a Document into Chunks of whole sentences.

Chunks are spans of `Document.text` (so `doc.text[c.start:c.end] == c.text`), never
cross a heading or a section change, and in laws follow the articles: a chunk holds
one whole article, or a part of one article that alone exceeds the target.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from corpus.laws import article_number
from corpus.records import Document, Paragraph
from index.records import Chunk
from index.sentences import split_long, split_sentences

# At a paragraph end, a chunk at least this full (relative to its goal size) is
# worth closing rather than cutting the next paragraph in two.
_MIN_FILL = 0.6


@dataclass(frozen=True)
class _Unit:
    """A sentence (or a piece of an over-long one) to pack."""

    start: int
    end: int
    paragraph: int
    opens_paragraph: bool


@dataclass
class _Group:
    """Units that are packed together: one article, or a run of ordinary paragraphs."""

    article: str  # "" for ordinary paragraphs
    units: list[_Unit]


def article_at(doc: Document, offset: int) -> str:
    """The article of a law that the character at `offset` belongs to ("" outside
    articles): a citation names the article its quoted sentence comes from, which
    a quote reaching beyond its chunk does not always share with the chunk."""
    for paragraph in reversed(doc.paragraphs):
        if paragraph.start > offset:
            continue
        if paragraph.is_heading:
            return ""
        if number := article_number(doc.paragraph_text(paragraph)):
            return number
    return ""


def _units(doc: Document, index: int, max_chars: int) -> list[_Unit]:
    paragraph = doc.paragraphs[index]
    units: list[_Unit] = []
    for start, end in split_sentences(doc.text[paragraph.start : paragraph.end]):
        start, end = start + paragraph.start, end + paragraph.start
        for piece in split_long(doc.text, start, end, max_chars):
            units.append(_Unit(*piece, paragraph=index, opens_paragraph=not units))
    return units


def _runs(paragraphs: tuple[Paragraph, ...]) -> list[list[int]]:
    """Indices of consecutive body paragraphs of one section, split at headings."""
    runs: list[list[int]] = []
    current: list[int] = []
    for index, paragraph in enumerate(paragraphs):
        if paragraph.is_heading or (current and paragraphs[current[0]].section != paragraph.section):
            if current:
                runs.append(current)
            current = []
        if not paragraph.is_heading:
            current.append(index)
    if current:
        runs.append(current)
    return runs


def _groups(doc: Document, run: list[int], max_chars: int) -> list[_Group]:
    groups: list[_Group] = []
    for index in run:
        units = _units(doc, index, max_chars)
        if not units:
            continue
        article = article_number(doc.paragraph_text(doc.paragraphs[index]))
        # A paragraph continues the open group unless it opens an article; plain
        # paragraphs before the first article of a run form a group of their own.
        if groups and not article:
            groups[-1].units.extend(units)
        else:
            groups.append(_Group(article, units))
    return groups


def _goal(remaining: int, target: int, overlap: int) -> float:
    """The size that splits `remaining` characters into equal chunks of at most
    `target`, given that each chunk after the first repeats about `overlap`."""
    if remaining <= target:
        return remaining
    count = math.ceil((remaining - overlap) / max(1, target - overlap))
    return (remaining + (count - 1) * overlap) / count


def _pack(units: list[_Unit], target: int, overlap_sentences: int) -> list[tuple[int, int]]:
    """Ranges [begin, end) of `units`, each chunk at most `target` characters long
    (every unit already fits), consecutive chunks sharing `overlap_sentences` units
    when that still fits."""
    typical = sum(u.end - u.start for u in units) / len(units)
    overlap_estimate = min(typical, target / 2) * overlap_sentences
    ranges: list[tuple[int, int]] = []
    fresh = 0  # first unit not yet in any chunk
    while fresh < len(units):
        begin = fresh
        if ranges and overlap_sentences:
            back = max(fresh - overlap_sentences, ranges[-1][0] + 1)
            if back < fresh and units[fresh].end - units[back].start <= target:
                begin = back
        origin = units[begin].start
        goal = _goal(units[-1].end - origin, target, overlap_estimate)
        end = fresh + 1
        while end < len(units) and units[end].end - origin <= target:
            end += 1
        # `end` is now the longest fit; prefer a paragraph end near the goal, else
        # stop at the first unit that reaches the goal.
        candidates = range(fresh + 1, end + 1)
        paragraph_ends = [
            e
            for e in candidates
            if (e == len(units) or units[e].opens_paragraph) and units[e - 1].end - origin >= _MIN_FILL * goal
        ]
        if paragraph_ends:
            end = min(paragraph_ends, key=lambda e: abs(units[e - 1].end - origin - goal))
        else:
            end = next((e for e in candidates if units[e - 1].end - origin >= goal), end)
        ranges.append((begin, end))
        fresh = end
    return ranges


def _pack_articles(
    groups: list[_Group], target: int, overlap_sentences: int
) -> list[tuple[int, list[_Unit]]]:
    """(index of the chunk's group, its units): each article in a chunk of its own (in
    overlapping parts when it is over-long), plain paragraphs packed to the target.

    An article is the unit a law is read and cited by. Packed with its neighbours it
    shares one vector with them, and a question about one of them finds the chunk by
    the others' words: on the worker questions (laws_dev), one article per chunk lifted
    hit@1 from 60 to 69 of 88 (docs/benchmark.md)."""
    return [
        (index, group.units[b:e])
        for index, group in enumerate(groups)
        for b, e in _pack(group.units, target, overlap_sentences)
    ]


def chunk_document(doc: Document, target_chars: int = 300, overlap_sentences: int = 1) -> list[Chunk]:
    """Whole sentences of `doc` packed into chunks of at most `target_chars`.

    Headings are not chunk text but the chunk's `section`; in laws each chunk is one
    article, or a part of a long one (`Chunk.article`).
    """
    if target_chars < 1:
        raise ValueError("target_chars must be positive")
    chunks: list[Chunk] = []
    for run in _runs(doc.paragraphs):
        groups = _groups(doc, run, target_chars)
        section = doc.paragraphs[run[0]].section
        for first, units in _pack_articles(groups, target_chars, overlap_sentences):
            start, end = units[0].start, units[-1].end
            paragraph = units[0].paragraph
            chunks.append(
                Chunk(
                    chunk_id=f"{doc.doc_id}#{len(chunks)}",
                    doc_id=doc.doc_id,
                    title=doc.title,
                    section=section,
                    paragraph=paragraph,
                    start=start,
                    end=end,
                    text=doc.text[start:end],
                    article=groups[first].article,
                    page=doc.paragraphs[paragraph].page,
                )
            )
    return chunks
