"""Plain text (.txt) and Markdown (.md) files."""

from __future__ import annotations

from corpus.encoding import decode_bytes
from corpus.laws import PREAMBLE_MARKER
from corpus.markdown import markdown_blocks, split_front_matter
from corpus.structure import (
    Parsed,
    plain_blocks,
    pop_title,
    split_paragraphs,
    split_title,
    take_byline,
    take_title,
)


def parse_plain_text(data: bytes) -> Parsed:
    """A text file: its first line is the title when it looks like one, a byline
    (「（作者为…）」) becomes the author, short lines before prose become headings."""
    paragraphs = split_paragraphs(decode_bytes(data))
    author, paragraphs = take_byline(paragraphs)
    title, paragraphs = take_title(paragraphs)
    metadata = {"format": "text", **split_title(title)}
    if author:
        metadata["author"] = author
    return Parsed(plain_blocks(paragraphs), title, metadata)


def parse_markdown(data: bytes) -> Parsed:
    """A Markdown file: front matter as metadata, the single `#` heading as title,
    and whatever stands above a `<!-- INFO END -->` line (the promulgation history
    of a law) as the preamble, kept out of the indexed text."""
    metadata, body = split_front_matter(decode_bytes(data))
    metadata["format"] = "markdown"
    title = metadata.pop("title", "")
    if PREAMBLE_MARKER in body:
        head, body = body.split(PREAMBLE_MARKER, 1)
        head_blocks = markdown_blocks(head)
        preamble = [b.text for b in head_blocks if not b.heading_level]
        if preamble:
            metadata["preamble"] = "\n".join(preamble)
        title = title or next((b.text for b in head_blocks if b.heading_level), "")
    blocks = markdown_blocks(body)
    heading_title, rest = pop_title(blocks)
    if heading_title and (not title or heading_title == title):
        title, blocks = heading_title, rest
    return Parsed(blocks, title, metadata)
