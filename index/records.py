"""The record that the index layer stores and hands to the bot layer."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Chunk:
    """A run of whole sentences from one document.

    `text == document.text[start:end]` always holds, so a citation can point at
    the exact span of its source.
    """

    chunk_id: str  # f"{doc_id}#{seq}"
    doc_id: str
    title: str  # the document's title, carried along for display and indexing
    section: str  # heading the chunk falls under ("" if none)
    paragraph: int  # index into Document.paragraphs of the chunk's first paragraph
    start: int
    end: int
    text: str
    article: str = ""  # for laws: the article number the chunk belongs to, e.g. "第十九条"
    page: int | None = None  # 1-based page of the chunk's start, for paged sources

    def indexed_text(self) -> str:
        """What the retrievers see: the chunk with its title and section, so that a
        question naming the document or the section finds it."""
        head = " ".join(part for part in (self.title, self.section, self.article) if part)
        return f"{head}\n{self.text}" if head else self.text
