"""The records that the bot layer hands to the UI layer."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Citation:
    """One cited passage. `n` is the marker number used in the answer text: `[n]`."""

    n: int
    doc_id: str
    title: str
    section: str
    text: str  # the chunk text
    start: int  # offsets of the chunk in Document.text, [start, end)
    end: int
    score: float
    # spans, in Document.text offsets, of the sentences the answer quotes
    quotes: list[tuple[int, int]] = field(default_factory=list)
    article: str = ""
    page: int | None = None
    chunk_id: str = ""


@dataclass(frozen=True)
class Answer:
    text: str
    refused: bool
    citations: list[Citation] = field(default_factory=list)
    question: str = ""
    query: str = ""  # the question after follow-up resolution, as it was retrieved

    def to_dict(self) -> dict:
        return asdict(self)
