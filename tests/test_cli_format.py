"""How `unionqa ask` prints an answer and its sources."""

from __future__ import annotations

from bot.records import Answer, Citation
from ui.cli import format_answer


def test_sources_name_law_section_article_and_indent_every_line_of_the_passage():
    passage = "第十九条 试用期不得超过六个月。\n同一用人单位与同一劳动者只能约定一次试用期。"
    citation = Citation(1, "laws/劳动合同法", "中华人民共和国劳动合同法", "第二章 劳动合同的订立", passage, 10, 10 + len(passage),
                        0.9, quotes=[(10, 26)], article="第十九条")
    printed = format_answer(Answer("第十九条 试用期不得超过六个月。[1]", False, [citation]))
    lines = printed.splitlines()
    assert lines[0] == "第十九条 试用期不得超过六个月。[1]"
    assert "[1] 《中华人民共和国劳动合同法》 第二章 劳动合同的订立 第十九条" in lines
    assert "    同一用人单位与同一劳动者只能约定一次试用期。" in lines


def test_a_refusal_prints_no_sources():
    assert format_answer(Answer("知识库中没有找到与该问题相关的内容。", True)) == "知识库中没有找到与该问题相关的内容。"
