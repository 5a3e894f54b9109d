"""Where a quote may grow to: the whole law article around a sentence (its 第N条 to the next
article or heading), and a list with the sentence that announces it, found from the document's
paragraphs. compose.py quotes a short article or list whole instead of cutting it."""

from __future__ import annotations

import re

from corpus.laws import article_number
from corpus.records import Document
from index.sentences import split_sentences

LIST_ITEM = re.compile(r"^\s*(?:[（(][一二三四五六七八九十\d]+[)）]|\d+[.．、]|[一二三四五六七八九十]+、)")


def article_span(document: Document, offset: int) -> tuple[int, int] | None:
    """[start, end) of the law article holding `offset`, from its 第N条 to the next
    article or heading; None outside articles."""
    paragraphs = document.paragraphs
    here = paragraph_at(document, offset)
    if here is None:
        return None
    first = here
    while not article_number(document.paragraph_text(paragraphs[first])):
        if paragraphs[first].is_heading or first == 0:
            return None
        first -= 1
    last = here
    while (
        last + 1 < len(paragraphs)
        and not paragraphs[last + 1].is_heading
        and not article_number(document.paragraph_text(paragraphs[last + 1]))
    ):
        last += 1
    return paragraphs[first].start, paragraphs[last].end


def paragraph_at(document: Document, offset: int) -> int | None:
    return next((i for i, p in enumerate(document.paragraphs) if p.start <= offset < p.end + 1), None)


def is_item(document: Document, index: int) -> bool:
    return bool(LIST_ITEM.match(document.paragraph_text(document.paragraphs[index])))


def list_intro(document: Document, offset: int) -> tuple[int, int] | None:
    """For a list item (（三）…, 3. …), the sentence that announces its list
    (「有下列情形之一的，劳动者可以解除劳动合同：」): without it an item says nothing."""
    here = paragraph_at(document, offset)
    if here is None or not is_item(document, here):
        return None
    first = here
    while first > 0 and is_item(document, first - 1):
        first -= 1
    if first == 0:
        return None
    intro = document.paragraphs[first - 1]
    text = document.paragraph_text(intro)
    if intro.is_heading or not text.rstrip().endswith(("：", ":")):
        return None
    sentences = split_sentences(text)
    return (intro.start + sentences[-1][0], intro.start + sentences[-1][1]) if sentences else None


def list_span(document: Document, offset: int) -> tuple[int, int] | None:
    """[start, end) of the whole list around `offset` (its announcing sentence and
    every item), when `offset` is in one; None otherwise."""
    here = paragraph_at(document, offset)
    if here is None:
        return None
    if not is_item(document, here):  # the announcing paragraph itself?
        if here + 1 >= len(document.paragraphs) or not is_item(document, here + 1):
            return None
        here += 1
    intro = list_intro(document, document.paragraphs[here].start)
    if intro is None:
        return None
    last = here
    while last + 1 < len(document.paragraphs) and is_item(document, last + 1):
        last += 1
    return intro[0], document.paragraphs[last].end
