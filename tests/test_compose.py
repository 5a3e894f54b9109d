"""Candidate answer sentences of a passage, and the whole articles and lists quoted."""

from __future__ import annotations

from bot.compose import Candidate, plan_quotes
from bot.retrieve import Hit
from bot.spans import article_span, list_intro, list_span
from corpus.records import Document, Paragraph
from index.records import Chunk
from index.sentences import answer_units as answer_spans


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


# ----- whole articles and lists ------------------------------------------------


LAW = [
    ("第一章 总则", True),
    ("第一条 为了保护劳动者的合法权益，制定本法。", False),
    ("第二条 用人单位有下列情形之一的，劳动者可以解除劳动合同：", False),
    ("（一）未按照约定提供劳动保护的；", False),
    ("（二）未及时足额支付劳动报酬的；", False),
    ("用人单位违章指挥的，劳动者可以立即解除劳动合同。", False),
    ("第三条 本法自公布之日起施行。", False),
]


def law() -> Document:
    paragraphs, pos, lines = [], 0, []
    for text, heading in LAW:
        paragraphs.append(Paragraph(pos, pos + len(text), "第一章 总则", is_heading=heading))
        lines.append(text)
        pos += len(text) + 1
    return Document("laws/测试法", "测试法", "测试法.md", "\n".join(lines), tuple(paragraphs))


def test_an_article_runs_from_its_number_to_the_next_article():
    doc = law()
    start, end = article_span(doc, doc.text.index("未及时足额"))
    assert doc.text[start:end].startswith("第二条") and doc.text[start:end].endswith("可以立即解除劳动合同。")
    assert article_span(doc, doc.text.index("总则")) is None  # a heading is in no article


def test_a_list_item_is_read_with_the_sentence_that_announces_the_list():
    doc = law()
    start, end = list_intro(doc, doc.text.index("未及时足额"))
    assert doc.text[start:end] == "第二条 用人单位有下列情形之一的，劳动者可以解除劳动合同："
    start, end = list_span(doc, doc.text.index("未按照约定"))
    assert doc.text[start:end].endswith("（二）未及时足额支付劳动报酬的；")
    assert list_intro(doc, doc.text.index("违章指挥")) is None  # not an item


# ----- a paragraph's topic sentence and what follows it ---------------------------


ESSAY = [
    "三种精神具有内在联系。劳动精神是另外两种精神的根基，工匠精神是它的升华。这一点已经成为共识。",
    "新时代需要更多技术工人。",
]


def essay() -> Document:
    paragraphs, pos = [], 0
    for text in ESSAY:
        paragraphs.append(Paragraph(pos, pos + len(text)))
        pos += len(text) + 1
    return Document("essay", "文章", "文章.txt", "\n".join(ESSAY), tuple(paragraphs))


def candidate(doc: Document, sentence: str) -> Candidate:
    chunk = Chunk("essay#0", doc.doc_id, doc.title, "", 0, 0, len(doc.text), doc.text)
    start = doc.text.index(sentence)
    return Candidate(0, Hit(0, chunk, 1.0, 0.9, 3.0), start, start + len(sentence), sentence, {}, 0.9)


def test_a_paragraphs_opening_sentence_is_quoted_with_the_sentence_that_says_what_it_means():
    doc = essay()
    best = candidate(doc, "三种精神具有内在联系。")
    quotes = plan_quotes([best], best, {doc.doc_id: doc})
    assert [q.text for q in quotes] == ["三种精神具有内在联系。", "劳动精神是另外两种精神的根基，工匠精神是它的升华。"]


def test_a_sentence_inside_a_paragraph_or_alone_in_it_is_quoted_alone():
    doc = essay()
    for sentence in ("劳动精神是另外两种精神的根基，工匠精神是它的升华。", "新时代需要更多技术工人。"):
        best = candidate(doc, sentence)
        assert [q.text for q in plan_quotes([best], best, {doc.doc_id: doc})] == [sentence]


def test_a_why_question_gets_the_claim_with_the_sentences_on_either_side():
    doc = essay()
    claim = "劳动精神是另外两种精神的根基，工匠精神是它的升华。"
    best = candidate(doc, claim)
    quoted = [q.text for q in plan_quotes([best], best, {doc.doc_id: doc}, kind="why")]
    assert quoted == ["三种精神具有内在联系。", claim, "这一点已经成为共识。"]
    assert [q.text for q in plan_quotes([best], best, {doc.doc_id: doc}, kind="number")] == [claim]
