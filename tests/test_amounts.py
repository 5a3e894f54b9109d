"""Amounts in a question against the ranges in a provision (bot/amounts.py)."""

from __future__ import annotations

import math

import pytest

from bot.amounts import Range, amounts, fits, parse_number, ranges

MONTHS = "月"


@pytest.mark.parametrize(
    "text, value",
    [("12", 12), ("3.5", 3.5), ("十", 10), ("十五", 15), ("二十三", 23), ("一百零五", 105), ("两", 2), ("一万二千", 12000)],
)
def test_numbers_in_figures_and_in_chinese(text, value):
    assert parse_number(text) == value


def test_spans_of_time_are_counted_in_months_and_people_in_people():
    assert [(a.value, a.unit) for a in amounts("合同签了两年，试用期三个月")] == [(24.0, MONTHS), (3.0, MONTHS)]
    assert [(a.value, a.unit) for a in amounts("孩子十五岁，厂里八十多个人")] == [(15.0, "岁"), (85.0, "人")]
    assert [a.value for a in amounts("干了一年多")] == [18.0]  # more than one year, less than two


def test_dates_are_not_amounts():
    assert amounts("1994年7月5日通过") == []


def test_the_ranges_laws_write():
    assert ranges("劳动合同期限一年以上不满三年的") == [Range(12.0, 36.0, MONTHS)]
    assert ranges("已满10年不满20年的，年休假10天") == [Range(120.0, 240.0, MONTHS)]
    assert ranges("禁止用人单位招用未满十六周岁的未成年人") == [Range(0.0, 16.0, "岁")]
    assert ranges("劳动者在该用人单位连续工作满十年的") == [Range(120.0, math.inf, MONTHS)]
    upto = ranges("职工二百人以下的企业")
    assert len(upto) == 1 and upto[0].holds(amounts("二百人")[0])  # 以下 includes the bound
    assert ranges("三至五年")[0].holds(amounts("四年")[0])


def test_an_upper_word_is_not_read_as_the_lower_word_it_ends_with():
    # 不满 ends in 满, 不得超过 in 超过: both are upper bounds
    assert ranges("不满一年") == [Range(0.0, 12.0, MONTHS)]
    assert ranges("试用期不得超过六个月") == [Range(0.0, 6.0, MONTHS)]


def test_an_amount_fits_the_range_that_holds_it_and_not_its_neighbours():
    asked = amounts("合同签了两年，试用期最多能定几个月？")
    assert fits(asked, "劳动合同期限一年以上不满三年的，试用期不得超过二个月")
    assert not fits(asked, "劳动合同期限三个月以上不满一年的，试用期不得超过一个月")
    assert not fits(asked, "三年以上固定期限和无固定期限的劳动合同，试用期不得超过六个月")
    assert not fits([], "劳动合同期限一年以上不满三年的")


def test_units_must_agree():
    assert not fits(amounts("孩子两岁"), "劳动合同期限一年以上不满三年的")
