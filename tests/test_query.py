"""The question as the whole pipeline reads it: normalized once at the entrance."""

from __future__ import annotations

import re

import pytest

from bot.english import english_amounts
from bot.query import is_english, make_query, question_kind
from index.tokens import to_simplified


@pytest.fixture(scope="module")
def bot(model_bot):
    """Whether a traditional or English question gets the right answer is measured: the bot on the real model (which makes a test that uses it a `model` test)."""
    return model_bot


@pytest.mark.parametrize(
    "traditional, simplified",
    [
        ("什麼是勞動合同？", "什么是劳动合同？"),
        ("公司能不能強制我們加班？不加就扣錢", "公司能不能强制我们加班？不加就扣钱"),
        ("對仲裁結果不服，幾天內要去法院起訴？", "对仲裁结果不服，几天内要去法院起诉？"),
    ],
)
def test_a_traditional_question_is_read_as_its_simplified_form(traditional, simplified):
    a, b = make_query(traditional), make_query(simplified)
    assert (a.text, a.tokens, a.kind, a.subject, a.terms) == (b.text, b.tokens, b.kind, b.subject, b.terms)
    assert a.question == traditional


def test_full_width_digits_and_letters_are_folded_for_searching():
    assert make_query("工作满１０年年休假几天？").tokens == make_query("工作满10年年休假几天?").tokens


@pytest.mark.parametrize(
    "question, kind",
    [
        ("年假几天？", "number"),
        ("试用期工资最少能给多少？", "number"),
        ("最低工资标准是谁定的？", "who"),
        ("工匠精神是什么时候提出的？", "when"),
        ("劳动者依法享有哪些劳动权利？", "list"),
        ("厂里拖欠工资，工会能怎么替大家出头？", "procedure"),
        ("入职的时候人事说要押我的身份证原件，这样可以吗？", "yesno"),
        ("什么是劳动合同？", "definition"),
        ("谈谈劳动精神。", "definition"),
        ("为什么要成立工会？", "why"),
    ],
)
def test_the_kind_of_question_is_read_from_its_question_words(question, kind):
    assert make_query(question).kind == kind


def test_a_question_without_question_words_is_other():
    assert question_kind("劳动合同法第十九条") == "other"


def test_english_questions_are_recognized_even_with_a_chinese_term():
    assert is_english('According to the article, what does the "spirit of labor" (劳动精神) consist of?')
    assert not is_english("工会法第3条说了什么？")


def test_everyday_words_are_widened_with_the_dictionary_at_lower_weight():
    query = make_query("老板不给交社保怎么办？")
    assert query.terms["老板"] == 1.0
    assert 0 < query.terms["用人单位"] < 1.0
    assert 0 < query.terms["社会保险"] < 1.0


def test_a_follow_up_is_resolved_after_normalizing_both_turns():
    history = [("什麼是勞動精神？", "……")]
    assert make_query("那工匠精神呢？", history).text == "什么是工匠精神？"


@pytest.mark.parametrize(
    "traditional", ["什麼是勞動合同？", "對仲裁結果不服，幾天內要去法院起訴？", "基層工會委員會一屆任期幾年？"]
)
def test_traditional_and_simplified_questions_get_the_same_answer(bot, traditional):
    simplified = to_simplified(traditional)
    assert simplified != traditional
    a, b = bot.ask(traditional), bot.ask(simplified)
    assert (a.status, a.text, a.citations) == (b.status, b.text, b.citations)
    assert a.question == traditional


@pytest.mark.parametrize(
    "question",
    ["什么是集体合同？", "集体合同指的是什么？", "请问集体合同是指什么", "谈谈集体合同。", "集体合同的含义是什么？"],
)
def test_a_definition_question_searches_its_subject_not_the_words_that_ask(question):
    # The sentence that defines X does not repeat 指/谈谈/含义: as query words they would
    # only lower the coverage of the passage that defines it, so every phrasing of
    # "what is X" searches the same words.
    query = make_query(question)
    assert query.subject == "集体合同"
    assert query.terms == make_query("集体合同").terms
    assert query.tokens == make_query("集体合同").tokens


@pytest.mark.parametrize(
    "question, kind",
    [
        ("How many days of maternity leave do women workers get?", "number"),
        ("Who decides the minimum wage?", "who"),
        ("When was the trade union law passed?", "when"),
        ("Which rights do workers have?", "list"),
        ("Why should we promote the spirit of craftsmanship?", "why"),
        ("How do I apply for labour arbitration?", "procedure"),
        ("Can my employer fire me during probation?", "yesno"),
        ("What is a collective contract?", "definition"),
        ("There is an explosion hazard in the workshop. Can the union get everyone out?", "yesno"),
        ("Could you tell me what the spirit of labor refers to?", "definition"),
    ],
)
def test_an_english_question_is_read_as_the_chinese_question_it_asks(question, kind):
    query = make_query(question)
    assert query.english and query.kind == kind
    # every word it searches is a Chinese word: English words match no passage
    assert query.tokens and all(re.search(r"[\u4e00-\u9fff]", t) for t in query.tokens)


def test_an_english_question_searches_the_documents_words():
    query = make_query("Can my employer fire me during probation?")
    assert {"用人单位", "试用期"} <= set(query.tokens)
    assert "Can my employer fire me during probation?" in query.text  # the dense side reads the English too
    assert make_query("What is a collective contract?").subject == "集体合同"


def test_an_english_follow_up_is_resolved_against_the_earlier_english_turn():
    history = [("What is the spirit of model workers?", "……")]
    assert make_query("What about the spirit of craftsmanship?", history).subject == "工匠精神"


def test_an_english_question_the_glossary_cannot_read_keeps_its_own_words():
    query = make_query("Qwerty zxcvb plonk?")
    assert query.english and query.tokens == ("qwerty", "zxcvb", "plonk")


@pytest.mark.parametrize(
    "english, chinese",
    [
        ("How many days of maternity leave do women workers get?", "女职工产假有多少天？"),
        ("Can my employer fire me during probation?", "试用期公司能辞退我吗？"),
        ("What is the spirit of labour?", "什么是劳动精神？"),
        ("How long can the probation period be at most?", "试用期最长多久？"),
    ],
)
def test_an_english_question_is_answered_from_the_passage_its_chinese_form_is(bot, english, chinese):
    a, b = bot.ask(english), bot.ask(chinese)
    assert a.status == b.status == "answered"
    cited = [(c.doc_id, c.article, c.start) for c in a.citations]
    assert cited[:1] == [(c.doc_id, c.article, c.start) for c in b.citations][:1]
    assert a.question == english and re.search(r"[\u4e00-\u9fff]", a.text)  # it quotes the Chinese


@pytest.mark.parametrize(
    "question",
    [
        "What is the weather in Beijing tomorrow?",
        "Who won the football match last night?",
    ],
)
def test_an_english_question_the_documents_do_not_cover_is_refused(bot, question):
    assert bot.ask(question).status == "refused"


@pytest.mark.parametrize(
    "question",
    [
        # the glossary reads only "union" (工会): a one-word question about 工会 would be answered
        "Can you recommend a good restaurant near the union office?",
        # "article" and "spirit" are not in the glossary, "promoted" is: 劳动法 was answered
        "What are the three spirits promoted in the article?",
    ],
)
def test_an_english_question_in_mostly_unread_words_is_not_answered_with_confidence(bot, question):
    assert make_query(question).unread > 0.5
    assert bot.ask(question).status in ("related", "refused")


def test_an_english_question_is_judged_on_the_chinese_question_it_was_read_into():
    query = make_query("How many days of maternity leave do women workers get?")
    assert query.reading and query.reading in query.text and not re.search(r"[A-Za-z]", query.reading)
    assert make_query("女职工产假有多少天？").reading is None


def test_english_amounts_are_read_as_the_laws_write_them():
    assert english_amounts("I've worked fifteen years and was on sick leave for two months") == ["十五年", "二个月"]
    assert english_amounts("ten full years, 3 days, twenty-five kilograms, 150%") == ["十年", "三天", "二十五公斤", "百分之一百五十"]
    assert english_amounts("How many days of leave?") == []
    assert "五个月" in make_query("What if I've only been there five months?", [("Do I get severance pay?", "…")]).reading
