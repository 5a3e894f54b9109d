"""Amounts in a question against the ranges in a provision.

A worker writes the facts of a case as amounts (「合同签了两年」, 「干满十年了」, 「孩子十五岁」);
a law states its rules as ranges of the same quantity (「一年以上不满三年的」, 「连续工作满十年的」,
「未满十六周岁」). The provision whose range holds the worker's amount is the one that decides
the case, while its neighbours share every other word. `fits(question_amounts, text)` says
whether a text holds a range that one of the question's amounts falls in, in the same unit.

This is the grammar of Chinese amounts and ranges (以上, 不满, 不足, 以下, 满, 超过), not
the words of any document.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

_DIGITS = {c: i for i, c in enumerate("零一二三四五六七八九")} | {"〇": 0, "两": 2}
_POWERS = {"十": 10, "百": 100, "千": 1000, "万": 10000}
_NUMBER = r"[0-9]+(?:\.[0-9]+)?|[零〇一二两三四五六七八九十百千万]+"
# the unit words, longest first, each with the unit it counts in
_UNITS = {
    "个月": "月", "月": "月", "周岁": "岁", "岁": "岁", "年": "年", "日": "日", "天": "日",
    "个小时": "小时", "小时": "小时", "个钟头": "小时", "钟头": "小时", "周": "周", "星期": "周",
    "个人": "人", "人": "人", "名": "人",
}
# Spans of time are compared in months, so that 三个月以上不满一年 is one range.
_IN_MONTHS = {"年": 12.0, "月": 1.0, "周": 7 / 30, "日": 1 / 30}
_UNIT = "|".join(sorted(_UNITS, key=len, reverse=True))
# "多" after a round number: 八十多 is more than eighty, less than ninety
_AMOUNT = re.compile(rf"({_NUMBER})(多)?({_UNIT})")
# what stands before or after an amount to make it a bound
# (the upper words are looked for first: 不满 ends in 满, 不得超过 in 超过)
_UPPER_BEFORE = re.compile(r"(?:不满|不足|未满|少于|低于|未达到|不超过|不得超过|不能超过|最长|最多)$")
_LOWER_BEFORE = re.compile(r"(?:满|超过|达到|不少于|不低于|高于)$")
_LOWER_AFTER = re.compile(r"^(?:以上|及以上|或者以上)")
_UPPER_AFTER = re.compile(r"^(?:以下|以内|之内)")
# 三至五年, 3到6个月: a span whose first number borrows the second's unit
_SPAN = re.compile(rf"({_NUMBER})(?:{_UNIT})?(?:至|到|-|～|~)({_NUMBER})({_UNIT})")
_CONTEXT = 4  # characters looked at before an amount for its bound word
YEAR_OF_DATE = 1000  # 1994年 is a date, not an amount of years


@dataclass(frozen=True)
class Amount:
    value: float
    unit: str
    start: int
    end: int


@dataclass(frozen=True)
class Range:
    low: float  # inclusive
    high: float  # exclusive
    unit: str

    def holds(self, amount: Amount) -> bool:
        return amount.unit == self.unit and self.low <= amount.value < self.high


def parse_number(text: str) -> float | None:
    """12, 3.5, 十五, 二十三, 一百零五, 两 → their value; None for anything else."""
    if re.fullmatch(r"[0-9]+(?:\.[0-9]+)?", text):
        return float(text)
    total, section, digit = 0, 0, None
    for char in text:
        if char in _DIGITS:
            digit = _DIGITS[char]
        elif char in _POWERS:
            power = _POWERS[char]
            if power == 10000:
                total += (section + (digit or 0)) * power
                section = 0
            else:
                section += (1 if digit is None else digit) * power
            digit = None
        else:
            return None
    return float(total + section + (digit or 0))


def amounts(text: str) -> list[Amount]:
    """The amounts a text names, in order ("两年" → 2 年, "八十多个人" → 85 人)."""
    found = []
    for match in _AMOUNT.finditer(text):
        value = parse_number(match.group(1))
        unit = _UNITS[match.group(3)]
        if value is None or (unit == "年" and value >= YEAR_OF_DATE):
            continue
        if unit in ("月", "日") and text[max(0, match.start() - 1) : match.start()] in ("年", "月"):
            continue  # the month and day of a date
        end = match.end()
        if match.group(2) or text[end : end + 1] == "多":  # 八十多人: 80 to 90; 一年多: 1 to 2
            value += 5 if value >= 10 and value % 10 == 0 else 0.5
            end += 0 if match.group(2) else 1
        if unit in _IN_MONTHS:
            value, unit = value * _IN_MONTHS[unit], "月"
        found.append(Amount(value, unit, match.start(), end))
    return found


def ranges(text: str) -> list[Range]:
    """The ranges a text states: 「一年以上不满三年」 [1, 3), 「未满十六周岁」 [0, 16),
    「满十年」 [10, ∞), 「一百人以下」 [0, 100], 「三至五年」 [3, 5]."""
    found = []
    for a, b, word in _SPAN.findall(text):
        low, high, unit = parse_number(a), parse_number(b), _UNITS[word]
        if low is not None and high is not None:
            scale = _IN_MONTHS.get(unit, 1.0)
            found.append(Range(low * scale, math.nextafter(high * scale, math.inf), "月" if unit in _IN_MONTHS else unit))
    items = amounts(text)
    paired: set[int] = set()  # amounts already read as the upper bound of a pair
    for i, amount in enumerate(items):
        if i in paired:
            continue
        before = text[max(0, amount.start - _CONTEXT) : amount.start]
        after = text[amount.end : amount.end + _CONTEXT]
        if _UPPER_BEFORE.search(before):
            found.append(Range(0.0, amount.value, amount.unit))
        elif _LOWER_BEFORE.search(before) or _LOWER_AFTER.match(after):
            upper = items[i + 1] if i + 1 < len(items) else None
            between = text[amount.end : upper.start] if upper else ""
            if upper and upper.unit == amount.unit and len(between) <= _CONTEXT + 2 and _UPPER_BEFORE.search(between):
                found.append(Range(amount.value, upper.value, amount.unit))  # 一年以上不满三年
                paired.add(i + 1)
            else:
                found.append(Range(amount.value, math.inf, amount.unit))
        elif _UPPER_AFTER.match(after):
            found.append(Range(0.0, math.nextafter(amount.value, math.inf), amount.unit))
    return found


def fits(question_amounts: list[Amount], text: str) -> bool:
    """Whether one of the question's amounts falls in a range the text states."""
    if not question_amounts:
        return False
    spans = ranges(text)
    return any(r.holds(a) for r in spans for a in question_amounts)
