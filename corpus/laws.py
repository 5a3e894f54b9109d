"""What makes a law or regulation more than generic Markdown: its articles, its
short title, its date, its preamble, its appendix."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace

from corpus.structure import Block

# Markdown law files keep the promulgation history above this marker.
PREAMBLE_MARKER = "<!-- INFO END -->"

# The number must be followed by whitespace (or end the paragraph): prose such as
# "第三条规定，……" opening a news paragraph is not an article.
_ARTICLE = re.compile(r"第[零〇一二两三四五六七八九十百千]+条(?:之[一二三四五六七八九十]+)?(?=\s|$)")
_MIN_ARTICLES = 3
_STATE_PREFIX = "中华人民共和国"
_FILE_DATE = re.compile(r"[(（](\d{4}-\d{2}-\d{2})[)）]")
_CHINESE_DATE = re.compile(r"(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日")
_NUMBER_PREFIX = re.compile(r"^(第[零〇一二两三四五六七八九十百千\d]+[编章节])\s*(.*)$")
_APPENDIX = re.compile(r"^(附\s*[录件])\s*[一二三四五六七八九十\d]*\s*[：:]?$")
_SPACE_BETWEEN_HANZI = re.compile(r"(?<=[\u4e00-\u9fff])[ \u3000]+(?=[\u4e00-\u9fff])")


def article_number(paragraph_text: str) -> str:
    """ "第十九条" if the paragraph opens that article of a law, else ""."""
    match = _ARTICLE.match(paragraph_text.lstrip())
    return match.group(0) if match else ""


def is_article(text: str) -> bool:
    """Whether a paragraph opens an article (第十九条 followed by a space)."""
    return bool(article_number(text))


def is_law(blocks: Sequence[Block]) -> bool:
    return sum(1 for b in blocks if not b.heading_level and is_article(b.text)) >= _MIN_ARTICLES


def short_title(title: str) -> str:
    """劳动合同法 for 中华人民共和国劳动合同法: the name people actually use."""
    rest = title.removeprefix(_STATE_PREFIX)
    return rest if rest else title


def law_date(file_name: str, preamble: str) -> str:
    """The version date (YYYY-MM-DD): from the file name such as
    「劳动合同法(2012-12-28).md」, else the latest date in the preamble."""
    if match := _FILE_DATE.search(file_name):
        return match.group(1)
    dates = [f"{y}-{int(m):02d}-{int(d):02d}" for y, m, d in _CHINESE_DATE.findall(preamble)]
    return max(dates, default="")


def law_metadata(title: str, file_name: str, preamble: str = "") -> dict[str, str]:
    metadata = {"kind": "law", "short_title": short_title(title)}
    if date := law_date(file_name, preamble):
        metadata["date"] = date
    return metadata


def tidy_heading(text: str) -> str:
    """「第一章 总 则」→「第一章 总则」: the spaces that typesetting puts between the
    characters of a short chapter name would stop a search for 总则."""
    match = _NUMBER_PREFIX.match(text)
    if not match:
        return text
    name = _SPACE_BETWEEN_HANZI.sub("", match.group(2))
    return f"{match.group(1)} {name}" if name else match.group(1)


def law_blocks(blocks: Sequence[Block]) -> list[Block]:
    """The blocks of a law with chapter headings tidied and an appendix line
    (「附录：」) made a heading, so that its items are not cited as part of the
    last chapter."""
    top = min((b.heading_level for b in blocks if b.heading_level), default=2)
    result: list[Block] = []
    for block in blocks:
        if block.heading_level:
            result.append(replace(block, text=tidy_heading(block.text)))
        elif match := _APPENDIX.match(block.text):
            result.append(replace(block, text=match.group(1).replace(" ", ""), heading_level=top))
        else:
            result.append(block)
    return result
