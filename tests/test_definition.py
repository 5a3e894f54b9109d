"""Definition questions and the sentences that define their subject."""

from __future__ import annotations

import pytest

from bot.definition import COPULA_STRENGTH, ENUMERATION_STRENGTH, definition_strength, definition_subject


@pytest.mark.parametrize(
    "question, subject",
    [
        ("劳模精神的内涵是什么？", "劳模精神"),
        ("工匠精神是什么？", "工匠精神"),
        ("什么是试用期？", "试用期"),
        ("请问什么是集体合同", "集体合同"),
        ("工会的主要任务是什么？", "工会的主要任务"),
        ("劳动精神包括哪些？", "劳动精神"),
    ],
)
def test_definition_questions_name_their_subject(question, subject):
    assert definition_subject(question) == subject


@pytest.mark.parametrize(
    "question",
    ["试用期最长多久？", "工匠精神是在哪里提出的？", "谁提出了劳动精神？", "今天天气怎么样？", "劳模精神", "加班费怎么算？"],
)
def test_other_questions_are_not_definition_questions(question):
    assert definition_subject(question) is None


def test_a_list_of_qualities_before_the_subject_defines_it_best():
    sentence = "我们培育形成了爱岗敬业、争创一流、艰苦奋斗、勇于创新、淡泊名利、甘于奉献的劳模精神，崇尚劳动、热爱劳动的劳动精神。"
    assert definition_strength(sentence, "劳模精神") == ENUMERATION_STRENGTH
    # two items are not a list of qualities
    assert definition_strength(sentence, "劳动精神") == 0.0
    assert definition_strength("劳动精神是劳动者劳动意识的集中展示。", "劳动精神") == COPULA_STRENGTH
    assert definition_strength("大力弘扬劳模精神，发挥劳模作用。", "劳模精神") == 0.0
