"""The header of an official document (红头文件), from its text or its OCR: the issuing
body (上海市总工会文件), the document number (沪工总发〔2023〕12号), the title (关于…的通知),
the addressees (各区局（产业）工会：) and the date of issue at its end.

They become the document's metadata: `issuer`, `doc_number`, `addressees` and `issued`,
plus the legal keys of corpus/laws.py where they fit: rank 文件, promulgated on the date
of issue, and the issuer's place.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from corpus.places import load_gazetteer
from corpus.structure import Block

# OCR reads 〔 as （ or [ about as often as not, so every bracket pair is accepted
_DOC_NUMBER = re.compile(r"([\u4e00-\u9fff]{1,12}?)\s*[〔（(\[【［]\s*(\d{4})\s*[〕）)\]】］]\s*(\d{1,4})\s*号")
_SIGNER = re.compile(r"签\s*发\s*人\s*[：:]\s*\S{0,12}")
_ISSUER_LINE = re.compile(r"^(.{2,40}?)\s*文\s*件$")
_DATE = re.compile(r"(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日")
_HAN_DATE = re.compile(r"([〇○零一二三四五六七八九]{4})年([一二三四五六七八九十]{1,3})月([一二三四五六七八九十]{1,3})日")
_HAN_DIGITS = {c: i for i, c in enumerate("〇一二三四五六七八九")} | {"零": 0, "○": 0}
_TITLE_ENDS = ("通知", "意见", "办法", "决定", "规定", "方案", "报告", "批复", "函", "通报", "细则", "规则", "纪要",
               "请示", "公告", "通告", "决议", "标准", "要点", "计划")
HEADER_LINES = 10  # the header is in the first lines; a 文号 further down is a reference to another document
MAX_HEADER_LINE = 60


@dataclass(frozen=True)
class RedHeader:
    issuer: str
    doc_number: str
    title: str
    addressees: str
    issued: str  # YYYY-MM-DD, "" when the end has no date

    def metadata(self) -> dict[str, str]:
        """The document's metadata for this header; the legal keys (rank, promulgated,
        place) are read by corpus/laws.legal_metadata like a front matter's."""
        metadata = {"kind": "official_document", "doc_number": self.doc_number, "rank": "文件"}
        for key in ("issuer", "addressees", "issued"):
            if value := getattr(self, key):
                metadata[key] = value
        if self.issued:
            metadata["promulgated"] = self.issued
        if self.issuer and (place := load_gazetteer().at_start(self.issuer)) is not None:
            metadata["place"] = place.name
        return metadata


def red_header(title: str, blocks: Sequence[Block]) -> tuple[RedHeader, list[Block]] | None:
    """The header of an official document and its blocks without the header lines (issuer,
    number, title); None when the first lines hold no document number."""
    lines = ([title] if title else []) + [b.text for b in blocks[:HEADER_LINES]]
    at = next((i for i, line in enumerate(lines[:HEADER_LINES]) if _is_number_line(line)), None)
    # above the number only the header's short lines (issuer, 机密, 特急), never prose
    if at is None or any(len(line) > 30 or line[-1:] in "。！？；.!?;" for line in lines[:at]):
        return None
    number = _DOC_NUMBER.search(lines[at])
    doc_number = f"{number.group(1)}〔{number.group(2)}〕{number.group(3)}号"
    issuers = [m.group(1).replace(" ", "") for line in lines[:at] if (m := _ISSUER_LINE.match(line))]
    issuer = "、".join(issuers)
    # the title: the lines after the number up to the addressees (…：) or the first sentence
    title_lines: list[str] = []
    addressees = ""
    index = at + 1
    while index < len(lines) and len(title_lines) < 3:
        line = lines[index]
        if line.endswith(("：", ":")) and len(line) <= 80:
            if title_lines:
                addressees = line[:-1]
            index += 1
            break
        if len(line) > MAX_HEADER_LINE or line.endswith("。"):
            break
        title_lines.append(line)
        index += 1
        if line.endswith(_TITLE_ENDS):
            if index < len(lines) and lines[index].endswith(("：", ":")) and len(lines[index]) <= 80:
                addressees = lines[index][:-1]
            break
    doc_title = "".join(title_lines)
    consumed = {*range(at + 1), *range(at + 1, at + 1 + len(title_lines))}
    offset = 1 if title else 0
    rest = [b for i, b in enumerate(blocks) if i + offset not in consumed]
    issued, signer = _date_of_issue(rest)
    header = RedHeader(issuer or signer, doc_number, doc_title, addressees, issued)
    return header, rest


def _is_number_line(line: str) -> bool:
    """A line that is the document number, perhaps with the signer (签发人：张三) beside it;
    not a sentence that quotes another document's number."""
    match = _DOC_NUMBER.search(line)
    if match is None or len(line) > MAX_HEADER_LINE:
        return False
    rest = _SIGNER.sub("", line[: match.start()] + line[match.end() :])
    return len(rest.replace(" ", "")) <= 6


def _date_of_issue(blocks: Sequence[Block]) -> tuple[str, str]:
    """(date, the line above it, the signing body) from the last short lines of the text."""
    tail = list(blocks[-8:])
    for i in range(len(tail) - 1, -1, -1):
        line = tail[i].text.strip("（）() ")
        if len(line) > 24:
            continue
        iso = parse_date(line)
        if iso:
            above = tail[i - 1].text if i > 0 and len(tail[i - 1].text) <= 30 and not tail[i - 1].text.endswith(
                ("。", "：")) else ""
            return iso, above
    return "", ""


def parse_date(text: str) -> str:
    """2023年3月15日 or 二〇二三年三月十五日 → 2023-03-15; "" if none."""
    if match := _DATE.search(text):
        year, month, day = (int(g) for g in match.groups())
    elif match := _HAN_DATE.search(text):
        year = int("".join(str(_HAN_DIGITS[c]) for c in match.group(1)))
        month, day = _han_number(match.group(2)), _han_number(match.group(3))
    else:
        return ""
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return ""
    return f"{year:04d}-{month:02d}-{day:02d}"


def _han_number(text: str) -> int:
    """一 … 三十一."""
    if "十" not in text:
        return _HAN_DIGITS.get(text, 0)
    tens, _, ones = text.partition("十")
    return (_HAN_DIGITS.get(tens, 0) if tens else 1) * 10 + (_HAN_DIGITS.get(ones, 0) if ones else 0)
