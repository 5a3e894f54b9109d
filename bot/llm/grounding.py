"""Checking a generated answer against the passages it cites, sentence by sentence.

A generated sentence is shown only when
- it carries at least one `[n]` marker, and every marker names a passage given to the model;
- every number (dates, durations, percentages, amounts, article numbers) and every quoted
  phrase in it occurs in one of the passages it cites.

Numbers are compared after normalization, so that the model may write a figure the
way the document does or the other way round: full-width → half-width (NFKC),
百分之一百五十 → 150%, 三十日 → 30日, 第十九条 → 第19条. Chinese numerals are turned
into digits only before a unit or after 第 / 百分之, so that 一定、统一、一般 stay words.

The checker is plain string work on a few short passages: well under a millisecond
per answer (tests/test_grounding.py measures it).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from bot.records import MARKER

# ---------------------------------------------------------------- normalization

DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
UNITS = {"十": 10, "百": 100, "千": 1000, "万": 10_000, "亿": 100_000_000}
NUMERAL = "零〇一二两三四五六七八九十百千万亿"
# What may follow a Chinese numeral that is a quantity (三十日, 六个月, 二倍); 个 covers 个月、个工作日.
QUANTITY_AFTER = "日天个月年周岁时倍元人名次条款章项级%"
_PERCENT_CN = re.compile(rf"百分之([{NUMERAL}]+|\d+(?:\.\d+)?)")
_ORDINAL_CN = re.compile(rf"第([{NUMERAL}]+)")
_QUANTITY_CN = re.compile(rf"([{NUMERAL}]+)(?=[{QUANTITY_AFTER}]|小时|工作日)")
# 第19 (an ordinal: article, chapter, item) is told apart from 19 (a quantity): a chapter
# number in a passage's heading must not vouch for "19 days".
_NUMBER = re.compile(r"第?\d+(?:\.\d+)?%?")
_SPACE = re.compile(r"\s+")
# Quoted phrases must be in a cited passage word for word (after normalization).
_QUOTED = re.compile(r"[“\"「『]([^”\"」』]{2,80})[”\"」』]")
# Digits written with thousands separators: 1,000 → 1000
_GROUPED = re.compile(r"(?<=\d),(?=\d{3}\b)")


def chinese_to_int(numeral: str) -> int | None:
    """一百五十 → 150, 三十 → 30, 十九 → 19, 两 → 2, 二〇二四 → 2024; None if it is not a number."""
    if not numeral or any(ch not in DIGITS and ch not in UNITS for ch in numeral):
        return None
    if all(ch in DIGITS for ch in numeral) and len(numeral) > 1:
        return int("".join(str(DIGITS[ch]) for ch in numeral))  # 二〇二四: digit by digit
    total = section = digit = 0
    for ch in numeral:
        if ch in DIGITS:
            digit = DIGITS[ch]
            continue
        unit = UNITS[ch]
        if unit >= 10_000:
            total += (section + digit) * unit
            section = digit = 0
        else:
            section += (digit or 1) * unit  # 十九: a leading 十 means 一十
            digit = 0
    return total + section + digit


def _digits(match: re.Match, template: str) -> str:
    value = chinese_to_int(match.group(1))
    return template.format(value) if value is not None else match.group(0)


@lru_cache(maxsize=4096)
def normalize(text: str) -> str:
    """The text as facts are compared: half-width, without spaces, Chinese numerals of
    quantities as digits, percentages as N%."""
    text = unicodedata.normalize("NFKC", text)
    text = _SPACE.sub("", text)
    text = _GROUPED.sub("", text)
    text = _PERCENT_CN.sub(lambda m: (m.group(1) if m.group(1)[0].isdigit() else _digits(m, "{}")) + "%", text)
    text = _ORDINAL_CN.sub(lambda m: _digits(m, "第{}"), text)
    return _QUANTITY_CN.sub(lambda m: _digits(m, "{}"), text)


def numbers(normalized: str) -> set[str]:
    """The numbers of a normalized text: '150%', '30', '第19', '0.5%' (a percentage keeps
    its sign, an ordinal its 第)."""
    return {_canonical(n) for n in _NUMBER.findall(normalized)}


def _canonical(number: str) -> str:
    ordinal, rest = ("第", number[1:]) if number.startswith("第") else ("", number)
    percent = "%" if rest.endswith("%") else ""
    value = rest.rstrip("%")
    if "." in value:
        value = value.rstrip("0").rstrip(".")
    value = value.lstrip("0") or "0"
    return ordinal + ("0" + value if value.startswith(".") else value) + percent


# ---------------------------------------------------------------- sentences


# A sentence ends at 。！？；!? or a line break; the markers and closing quotes after the
# end belong to it ("……一个月。[1]" as well as "……一个月[1]。").
_SENTENCE = re.compile(r"[^。！？；!?\n]*(?:[。！？；!?]+[”」』)）]*(?:\s*\[\d+\])*|\n|$)")


def split_generated(text: str) -> list[str]:
    """The sentences of generated text, each with its markers; empty pieces dropped."""
    return [s for s in (m.group(0) for m in _SENTENCE.finditer(text)) if s.strip()]


def sentence_complete(sentence: str) -> bool:
    """Whether a piece of streamed text is a finished sentence (it has its end mark)."""
    stripped = MARKER.sub("", sentence).rstrip()
    return stripped.endswith(tuple("。！？；!?”」』）)")) or sentence.endswith("\n")


# ---------------------------------------------------------------- checking

# Why a sentence was dropped (SentenceCheck.reason); none means it is shown.
NO_CITATION = "no_citation"
OUT_OF_RANGE = "citation_out_of_range"
UNSUPPORTED_NUMBER = "number_not_in_cited_passage"
UNSUPPORTED_QUOTE = "quote_not_in_cited_passage"
UNFINISHED = "unfinished"


@dataclass(frozen=True)
class SentenceCheck:
    text: str  # the sentence as generated, markers included
    cited: tuple[int, ...]  # its marker numbers, in order
    reason: str = ""  # "" when it passed
    detail: str = ""  # the number or phrase that was not found

    @property
    def passed(self) -> bool:
        return not self.reason


@dataclass(frozen=True)
class AnswerCheck:
    sentences: list[SentenceCheck] = field(default_factory=list)

    @property
    def kept(self) -> list[SentenceCheck]:
        return [s for s in self.sentences if s.passed]

    @property
    def dropped(self) -> list[SentenceCheck]:
        return [s for s in self.sentences if not s.passed]

    def text(self) -> str:
        """The answer as it may be shown: the sentences that passed, in order."""
        return "".join(s.text for s in self.kept).strip()


class Passages:
    """The passages given to the model, numbered from 1, normalized once."""

    def __init__(self, texts: Sequence[str]):
        self.texts = list(texts)
        self.normalized = [normalize(t) for t in self.texts]
        self.numbers = [numbers(t) for t in self.normalized]

    def __len__(self) -> int:
        return len(self.texts)


def check_sentence(sentence: str, passages: Passages, finished: bool = True) -> SentenceCheck:
    """Check one generated sentence against the passages it cites."""
    cited = tuple(int(n) for n in MARKER.findall(sentence))
    if not finished:
        return SentenceCheck(sentence, cited, UNFINISHED)
    if not cited:
        return SentenceCheck(sentence, cited, NO_CITATION)
    outside = [n for n in cited if not 1 <= n <= len(passages)]
    if outside:
        return SentenceCheck(sentence, cited, OUT_OF_RANGE, ", ".join(f"[{n}]" for n in outside))
    claim = normalize(MARKER.sub("", sentence))
    sources = [passages.normalized[n - 1] for n in set(cited)]
    known = set().union(*(passages.numbers[n - 1] for n in set(cited)))
    missing = sorted(numbers(claim) - known)
    if missing:
        return SentenceCheck(sentence, cited, UNSUPPORTED_NUMBER, "、".join(missing))
    for phrase in _QUOTED.findall(claim):
        if not any(phrase in source for source in sources):
            return SentenceCheck(sentence, cited, UNSUPPORTED_QUOTE, phrase)
    return SentenceCheck(sentence, cited)


def check_answer(text: str, passages: Passages, complete: bool = True) -> AnswerCheck:
    """Check every sentence of a generated answer. With `complete` false (the model
    stopped at its token limit), a last sentence without its end mark is dropped."""
    pieces = split_generated(text)
    checks = []
    for i, piece in enumerate(pieces):
        last = i == len(pieces) - 1
        finished = not last or complete or sentence_complete(piece)
        checks.append(check_sentence(piece, passages, finished=finished))
    return AnswerCheck(checks)
