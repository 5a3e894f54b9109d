"""Everyday words in a question and the legal terms the laws use for them."""

from __future__ import annotations

from bot.legal_terms import legal_terms


def test_everyday_words_get_their_legal_terms():
    assert legal_terms("试用期最长多久？") == "不得超过"
    assert legal_terms("辞职要提前多久？").startswith("劳动者 解除劳动合同")
    assert "延长工作时间" in legal_terms("周末加班有加班费吗？")
    assert "休息日" in legal_terms("周末加班有加班费吗？")


def test_the_longest_phrase_is_read_first_and_not_again_inside():
    # 加班工资 is one phrase: neither 加班 nor 工资 adds its own terms
    assert legal_terms("加班工资怎么算？") == "延长工作时间 工资报酬 正常工作时间工资"


def test_questions_already_in_legal_words_or_off_topic_get_nothing():
    assert legal_terms("用人单位应当订立书面劳动合同吗？") == ""
    assert legal_terms("劳模精神的内涵是什么？") == ""
