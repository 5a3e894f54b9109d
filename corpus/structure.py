"""From extracted text to the paragraphs of a Document.

Every format loader produces a list of `Block`s (a paragraph or a heading, with
its page where the source has pages); `assemble` turns them into the normalized
text and the `Paragraph` spans that point into it. The plain-text helpers here
find paragraphs and headings in text that has no markup at all.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from corpus.records import Paragraph

SECTION_SEPARATOR = " / "

# Full-width and ASCII sentence ends: a line ending in one of these is prose, not a heading.
SENTENCE_END = "。！？；…!?;"
# Endings that announce more text to come: a line ending so is not a heading either.
CONTINUATION_END = "，、：,:"

MAX_HEADING_CHARS = 60

_LINE_BREAKS = re.compile(r"\r\n|[\r\u2028\u2029\x0b\x0c\x85]")
# Runs of two or more ideographic spaces are the traditional Chinese paragraph
# indent; text pasted from web pages often keeps them but loses the line breaks.
_INDENT_RUN = re.compile(r"\u3000{2,}")
_INVISIBLE = re.compile(r"[\u200b\u200c\u200d\u2060\ufeff]")
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")
_SPACES = re.compile(r"[ \t\xa0\u2000-\u200a\u202f\u205f]+")

_BULLET = re.compile(
    r"^(?:[-*+•·●○■□◆◇▪►√✓]\s*|[①-⑳]|\d{1,3}\s*[.．、)）]|[（(]\s*(?:\d{1,3}|[一二三四五六七八九十]{1,3})\s*[)）])"
)
_DATE_ONLY = re.compile(r"^[\d\s年月日号./\-–—:：]+$")
_NUMBERED_HEADING = re.compile(
    r"^(?:第[零〇一二两三四五六七八九十百千\d]+[编章节部分篇]|[一二三四五六七八九十]{1,3}、|附\s*[录件])"
)
_SUBSECTION = re.compile(r"^第[零〇一二两三四五六七八九十百千\d]+节")
_BYLINE = re.compile(r"^(?:[（(]\s*作者\s*(?:为|系|是|：|:)?\s*(.+?)\s*[)）]|作者\s*[：:]\s*(.+))$")


_ITEM_START = re.compile(
    r"^(?:第[零〇一二两三四五六七八九十百千]+条|[（(][一二三四五六七八九十\d]+[)）]|[一二三四五六七八九十]+、|\d+[.．、]|[-•·●○■◆①-⑳])"
)


def starts_item(line: str) -> bool:
    """A line that opens an article or a list item (第X条, （一）, 1.): in text whose line
    breaks came from the layout (a PDF, a scan), it never continues the line above."""
    return bool(_ITEM_START.match(line))


@dataclass(frozen=True)
class Block:
    """A paragraph (heading_level 0) or a heading (1 = top level) of extracted text."""

    text: str
    heading_level: int = 0
    page: int | None = None


@dataclass
class Parsed:
    """What a format loader extracts from a file, before it becomes a Document."""

    blocks: list[Block]
    title: str = ""
    metadata: dict[str, str] = field(default_factory=dict)


def clean_line(line: str) -> str:
    """One paragraph's text with invisible characters gone and spaces collapsed."""
    line = _INVISIBLE.sub("", line)
    line = _CONTROL.sub("", line)
    return _SPACES.sub(" ", line).strip(" \t\u3000")


def split_paragraphs(text: str) -> list[str]:
    """The non-empty paragraphs of plain text: split at line breaks and at runs of
    ideographic spaces, each one cleaned."""
    text = _LINE_BREAKS.sub("\n", text)
    pieces = (piece for line in text.split("\n") for piece in _INDENT_RUN.split(line))
    return [cleaned for cleaned in map(clean_line, pieces) if cleaned]


def looks_like_heading(line: str) -> bool:
    """Short, not ending like a sentence, not a list item, not a bare date."""
    return (
        0 < len(line) <= MAX_HEADING_CHARS
        and line[-1] not in SENTENCE_END + CONTINUATION_END
        and "。" not in line
        and not _BULLET.match(line)
        and not _DATE_ONLY.match(line)
        and any(ch.isalpha() for ch in line)
    )


def is_numbered_heading(line: str) -> bool:
    """A heading by its numbering (第三章, 第二节, 一、, 附录), the only kind that is
    trusted in text whose line breaks say little, such as a PDF's."""
    return looks_like_heading(line) and len(line) <= 40 and bool(_NUMBERED_HEADING.match(line))


def _is_body(line: str) -> bool:
    return len(line) > MAX_HEADING_CHARS or line[-1] in SENTENCE_END + "”’」』"


def heading_level(line: str) -> int:
    """Sections (第X节) sit below chapters; everything else is a top-level heading."""
    return 2 if _SUBSECTION.match(line) else 1


def plain_blocks(paragraphs: Sequence[str], page: int | None = None) -> list[Block]:
    """Blocks of plain-text paragraphs, a paragraph becoming a heading when it
    looks like one and is followed by prose (a run of short lines is a list or an
    address block, not a series of headings)."""
    blocks: list[Block] = []
    for index, line in enumerate(paragraphs):
        following = paragraphs[index + 1] if index + 1 < len(paragraphs) else ""
        heading = looks_like_heading(line) and bool(following) and _is_body(following)
        blocks.append(Block(line, heading_level(line) if heading else 0, page))
    return blocks


def take_title(paragraphs: list[str]) -> tuple[str, list[str]]:
    """("title", rest) when the first paragraph of plain text is a title line,
    ("", paragraphs) otherwise."""
    if len(paragraphs) > 1 and looks_like_heading(paragraphs[0]) and not byline_author(paragraphs[0]):
        return paragraphs[0], paragraphs[1:]
    return "", paragraphs


def byline_author(line: str) -> str:
    """The author named by a byline such as 「（作者为…）」 or 「作者：…」, else ""."""
    match = _BYLINE.match(line)
    return (match.group(1) or match.group(2)).strip() if match else ""


def take_byline(paragraphs: list[str]) -> tuple[str, list[str]]:
    """(author, the paragraphs without the byline), looking where bylines go: the
    first two or the last paragraph."""
    for index in (0, 1, len(paragraphs) - 1):
        if 0 <= index < len(paragraphs) and (author := byline_author(paragraphs[index])):
            return author, paragraphs[:index] + paragraphs[index + 1 :]
    return "", paragraphs


def split_title(title: str) -> dict[str, str]:
    """{"main_title", "subtitle"} for a title with a trailing bracketed subtitle or
    column name, as in 「大力弘扬劳模精神劳动精神工匠精神（深入学习贯彻…）」."""
    match = re.fullmatch(r"(.+?)\s*[（(]([^（()）]+)[)）]", title)
    if not match:
        return {}
    return {"main_title": match.group(1), "subtitle": match.group(2)}


def pop_title(blocks: list[Block]) -> tuple[str, list[Block]]:
    """("title", rest) when the first block is the document's one top-level
    heading (a Markdown `# title`, an HTML h1), else ("", blocks)."""
    if not blocks or not blocks[0].heading_level:
        return "", blocks
    top = min(b.heading_level for b in blocks if b.heading_level)
    first = blocks[0]
    if first.heading_level == top and sum(1 for b in blocks if b.heading_level == top) == 1:
        return first.text, blocks[1:]
    return "", blocks


def assemble(blocks: Sequence[Block]) -> tuple[str, tuple[Paragraph, ...]]:
    """The normalized text (paragraphs joined by "\\n") and its paragraph spans.

    A block whose text still holds line breaks becomes several paragraphs, so no
    paragraph ever contains "\\n". A heading's section is its own heading path;
    a paragraph's is the path of the headings above it, e.g.
    "第五章 特别规定 / 第一节 集体合同".
    """
    pieces: list[str] = []
    paragraphs: list[Paragraph] = []
    path: list[tuple[int, str]] = []
    offset = 0
    for block in blocks:
        lines = split_paragraphs(block.text)
        if block.heading_level and lines:
            lines = [" ".join(lines)]
        for line in lines:
            if block.heading_level:
                path = [(level, text) for level, text in path if level < block.heading_level]
                path.append((block.heading_level, line))
            section = SECTION_SEPARATOR.join(text for _, text in path)
            paragraphs.append(Paragraph(offset, offset + len(line), section, bool(block.heading_level), block.page))
            pieces.append(line)
            offset += len(line) + 1
    return "\n".join(pieces), tuple(paragraphs)
