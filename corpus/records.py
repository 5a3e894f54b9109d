"""The record that the corpus layer hands to the index layer."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Paragraph:
    """One paragraph or heading of a document, as a span of `Document.text`."""

    start: int
    end: int
    section: str = ""  # the heading this paragraph falls under ("" before any heading)
    is_heading: bool = False
    page: int | None = None  # 1-based page number, for paged sources such as PDF


@dataclass(frozen=True)
class Document:
    """A loaded source document.

    `text` is the normalized text (paragraphs joined by "\\n"); every offset that
    flows through the system (paragraphs, chunks, citations) points into it.
    """

    doc_id: str
    title: str
    source: str
    text: str
    paragraphs: tuple[Paragraph, ...]
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def content_hash(self) -> str:
        """A hash of what gets indexed, so unchanged documents can be recognized."""
        h = hashlib.sha256()
        h.update(self.title.encode("utf-8"))
        h.update(b"\0")
        h.update(self.text.encode("utf-8"))
        if self.metadata:
            # the metadata decides answers too (a regulation's place, rank and dates), so a
            # changed front matter, or a loader that reads more of it, updates the document
            h.update(b"\0")
            h.update(json.dumps(self.metadata, ensure_ascii=False, sort_keys=True).encode("utf-8"))
        return h.hexdigest()[:16]

    def paragraph_text(self, paragraph: Paragraph) -> str:
        return self.text[paragraph.start : paragraph.end]
