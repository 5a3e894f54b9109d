"""Markdown as the corpus sees it: front matter, `#` headings, and the text
without its markup. Not a full CommonMark parser: each source line is a
paragraph, which is how Chinese Markdown is usually written."""

from __future__ import annotations

import html
import re

from corpus.structure import Block, clean_line

_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?)\n(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.DOTALL)
_HTML_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_ATX_HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$")
_SETEXT_UNDERLINE = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_THEMATIC_BREAK = re.compile(r"^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(```|~~~)")
_TABLE_DIVIDER = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(?:\|\s*:?-{3,}:?\s*)*\|?\s*$")
_TABLE_ROW = re.compile(r"^\s*\|(.*)\|\s*$")
_LINK_DEFINITION = re.compile(r"^ {0,3}\[[^\]]+\]:\s*\S+")
_QUOTE = re.compile(r"^ {0,3}(?:>[ \t]?)+")
_BULLET = re.compile(r"^\s*[-*+][ \t]+")

# Order matters: images before links (an image is a "!" plus a link), code spans
# before emphasis (a `*` inside code is literal).
_INLINE: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"`([^`]+)`"), r"\1"),
    (re.compile(r"!\[([^\]]*)\]\([^)]*\)"), r"\1"),
    (re.compile(r"\[([^\]]+)\]\([^)]*\)"), r"\1"),
    (re.compile(r"\[([^\]]+)\]\[[^\]]*\]"), r"\1"),
    (re.compile(r"<((?:https?|mailto):[^>\s]+)>"), r"\1"),
    (re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1"), r"\2"),
    (re.compile(r"(?<![\w*])\*(?=\S)(.+?)(?<=\S)\*(?![\w*])"), r"\1"),
    (re.compile(r"(?<![\w_])_(?=\S)(.+?)(?<=\S)_(?![\w_])"), r"\1"),
    (re.compile(r"~~(?=\S)(.+?)(?<=\S)~~"), r"\1"),
    (re.compile(r"</?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*)?/?>"), ""),
    (re.compile(r"\\([\\`*_{}\[\]()#+\-.!|>~<])"), r"\1"),
)

# Front-matter keys that mean the same thing, mapped to the names the corpus uses.
_KEY_ALIASES = {"url": "source_url", "link": "source_url", "source": "source_url", "authors": "author"}


def split_front_matter(text: str) -> tuple[dict[str, str], str]:
    """(metadata, the rest) for text that opens with a `---` YAML-style block of
    `key: value` lines; nested YAML is not needed for document metadata and is skipped."""
    match = _FRONT_MATTER.match(text)
    if not match:
        return {}, text
    metadata: dict[str, str] = {}
    for line in match.group(1).splitlines():
        key, sep, value = line.partition(":")
        key = key.strip().lower()
        value = value.strip().strip("'\"").strip()
        if sep and key and value and not line.startswith((" ", "\t", "-")):
            metadata[_KEY_ALIASES.get(key, key)] = value
    return metadata, text[match.end() :]


def remove_html_comments(text: str) -> str:
    return _HTML_COMMENT.sub("", text)


def strip_inline(text: str) -> str:
    """The text of one Markdown line without emphasis, links, code marks, tags and
    entities."""
    for pattern, replacement in _INLINE:
        text = pattern.sub(replacement, text)
    return html.unescape(text)


def markdown_blocks(text: str) -> list[Block]:
    """The headings and paragraphs of a Markdown body (front matter already split off)."""
    lines = remove_html_comments(text).splitlines()
    blocks: list[Block] = []
    in_code = False
    for index, line in enumerate(lines):
        if _FENCE.match(line):
            in_code = not in_code
            continue
        if in_code:
            blocks.append(Block(line))
            continue
        following = lines[index + 1] if index + 1 < len(lines) else ""
        underline = _SETEXT_UNDERLINE.match(following)
        if (heading := _ATX_HEADING.match(line)) is not None:
            blocks.append(Block(_inline_text(heading.group(2)), len(heading.group(1))))
        elif underline and line.strip() and not _BULLET.match(line) and not _TABLE_ROW.match(line):
            blocks.append(Block(_inline_text(line), 1 if underline.group(1)[0] == "=" else 2))
        elif _SETEXT_UNDERLINE.match(line) and blocks and index and lines[index - 1].strip():
            continue  # the underline of the heading just added
        elif _THEMATIC_BREAK.match(line) or _TABLE_DIVIDER.match(line) or _LINK_DEFINITION.match(line):
            continue
        elif (row := _TABLE_ROW.match(line)) is not None:
            cells = [_inline_text(cell) for cell in row.group(1).split("|")]
            blocks.append(Block(" | ".join(cells)))
        else:
            blocks.append(Block(_inline_text(_BULLET.sub("", _QUOTE.sub("", line)))))
    return [b for b in blocks if b.text]


def _inline_text(text: str) -> str:
    return clean_line(strip_inline(text))
