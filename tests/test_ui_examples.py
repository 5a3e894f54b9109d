"""The example questions under the chat are ones the real bot answers."""

from __future__ import annotations

import pytest

from corpus.records import Document, Paragraph
from ui.examples import example_questions


@pytest.fixture(scope="module")
def bot(model_bot):
    """That the examples are answered is measured: the bot on the real model (which makes a test that uses it a `model` test)."""
    return model_bot


def test_bundled_examples_are_answered(bot):
    examples = example_questions(bot.documents)
    assert 4 <= len(examples) <= 6
    assert "劳模精神的内涵是什么？" in examples
    for question in examples:
        answer = bot.ask(question)
        assert not answer.refused, question
        assert answer.citations, question


def test_other_corpora_get_examples_from_their_headings():
    text = "第一章 会员管理\n会员应当按月交纳会费。"
    doc = Document("x", "某单位工会章程", "x.md", text, (Paragraph(0, 8, "", True), Paragraph(9, len(text), "第一章 会员管理")))
    assert example_questions({"x": doc}) == ["关于会员管理有哪些规定？"]
