"""The records that the bot layer hands to the UI layer."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

# A citation marker `[n]` in an answer's text, n in group 1: how compose writes them and
# how generated text, the checker, the evaluations and the streaming view read them.
MARKER = re.compile(r"\[(\d+)\]")


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
    # offsets in Answer.text where this citation's "[n]" markers start: the UI links
    # these, and only these, so a "[3]" inside a quoted document stays plain text
    markers: list[int] = field(default_factory=list)
    # What a lawyer reads of a cited law (corpus/laws.py); empty for documents that are
    # not laws. `label` is the whole citation: 《重庆市工会条例》（2011 年修正）第十三条.
    label: str = ""
    version: str = ""  # 「2011 年修正」, 「2013 年」
    jurisdiction: str = ""  # national, province or city
    place: str = ""  # 上海市; "" for a national law
    rank: str = ""  # 法律, 行政法规, 地方性法规, 规章 or 文件
    passed: str = ""  # YYYY-MM-DD, when known
    amended: str = ""
    effective: str = ""
    in_force: bool | None = None
    # Where the citation stands in the answer: "" for the answer's own (quoted, with [n]
    # markers); after them, not quoted, ROLE_SEE_ALSO for a provision on the same matter
    # that the lead prevails over (「另见」), ROLE_OTHER for a near provision (「其他相关规定」).
    role: str = ""
    # An official document's 文号 and date of issue (corpus/red_header.py), and whether the
    # passage was read by OCR from a scan (「扫描件识别」: the reader should check the image).
    doc_number: str = ""
    issued: str = ""
    scanned: bool = False


ROLE_SEE_ALSO = "see_also"
ROLE_OTHER = "other"
ROLES = ("", ROLE_SEE_ALSO, ROLE_OTHER)

# Answer.status: the three outcomes of a question
ANSWERED = "answered"  # the documents answer it: quoted sentences with citations
RELATED = "related"  # near but not decisive evidence: the closest passages, cited, no claim made
REFUSED = "refused"  # the documents do not cover it
CURATED = "curated"  # an answer the union approved (bot/curated.py), served before retrieval
STATUSES = (ANSWERED, RELATED, REFUSED, CURATED)


@dataclass(frozen=True)
class Answer:
    text: str
    refused: bool  # kept for API clients: True exactly when status == REFUSED
    citations: list[Citation] = field(default_factory=list)
    question: str = ""
    query: str = ""  # the question after follow-up resolution, as it was retrieved
    status: str = ""  # ANSWERED, RELATED or REFUSED; "" is read from `refused`
    # With an LLM configured (bot/llm/generate.py): whether the text was generated (and
    # checked sentence by sentence), or why the extractive answer was shown instead
    # ("timeout", "error", "circuit_open", "check_failed"), with a short notice for users.
    generated: bool = False
    fallback: str = ""
    notice: str = ""
    sentences_checked: int = 0  # generated sentences checked against their passages
    sentences_dropped: int = 0  # of which failed the check and were not shown
    # A CURATED answer: which approved answer (bot/curated.py) and the date it was approved
    curated_id: str = ""
    approved_at: str = ""

    def __post_init__(self) -> None:
        if not self.status:
            object.__setattr__(self, "status", REFUSED if self.refused else ANSWERED)
        if self.status not in STATUSES:
            raise ValueError(f"unknown answer status {self.status!r}")

    def to_dict(self) -> dict:
        return asdict(self)
