"""Candidate answer sentences of a passage."""

from __future__ import annotations

from bot.compose import answer_spans


def test_a_sentence_ending_with_a_colon_keeps_the_sentence_after_it():
    text = "第四十三条 工会经费的来源：\n（一）工会会员缴纳的会费；\n（二）其他收入。工会经费主要用于为职工服务。"
    spans = [text[s:e] for s, e in answer_spans(text)]
    assert spans == [
        "第四十三条 工会经费的来源：\n（一）工会会员缴纳的会费；",
        "（二）其他收入。",
        "工会经费主要用于为职工服务。",
    ]


def test_a_colon_at_the_very_end_stays_alone_and_plain_text_is_split_as_usual():
    assert answer_spans("下列情形：") == [(0, 5)]
    text = "职工书屋每周开放六天。借阅期限为三十天！"
    assert [text[s:e] for s, e in answer_spans(text)] == ["职工书屋每周开放六天。", "借阅期限为三十天！"]
