"""The HTML the chat and the document view show: escaped, with our markup around it."""

from __future__ import annotations

from dataclasses import replace

from bot.records import RELATED, Answer, Citation
from corpus.records import Document, Paragraph
from ui import render

TEXT = "第一章 总则\n第三条 职工<script>alert(1)</script>享有权利。其他内容。\n<img src=x onerror=alert(1)>附则。"


def document() -> Document:
    paragraphs, pos = [], 0
    for i, line in enumerate(TEXT.split("\n")):
        paragraphs.append(Paragraph(pos, pos + len(line), "第一章 总则", is_heading=i == 0, page=i + 1))
        pos += len(line) + 1
    return Document("laws/测试(2020)", "测试<b>法</b>", "laws/测试(2020).md", TEXT, tuple(paragraphs), {"date": "2020"})


def citation(doc: Document) -> Citation:
    p = doc.paragraphs[1]
    quote_start = TEXT.index("第三条")
    quote_end = TEXT.index("其他")
    return Citation(1, doc.doc_id, doc.title, "第一章 总则", TEXT[p.start : p.end], p.start, p.end, 0.9,
                    [(quote_start, quote_end)], article="第三条", page=2)


def test_answer_is_escaped_and_markers_become_links():
    doc = document()
    c = citation(doc)
    quoted = TEXT[c.quotes[0][0]:c.quotes[0][1]]
    c = replace(c, markers=[len(quoted)])
    answer = Answer(f"{quoted}[1] [7]", False, [c], "问<img src=x>", "问")
    out = render.answer_html(answer, {doc.doc_id: doc})
    assert "<script>" not in out and "<img" not in out and "<b>法" not in out
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in out
    assert out.count('<a class="uq-cite" href="#uq-src-1"') == 2  # in the text and in the list
    assert "[7]" in out and "#uq-src-7" not in out  # a marker without a citation stays text
    assert "第一章 总则 · 第三条 · 第2页" in out
    assert '<mark class="uq-quote">第三条 职工&lt;script&gt;alert(1)&lt;/script&gt;享有权利。</mark>' in out
    assert '<div class="uq-source uq-src-1" hidden>' in out
    assert 'href="doc/laws/%E6%B5%8B%E8%AF%95%282020%29?start=' in out and "#p-1" in out


def test_refusal_has_no_sources_and_a_hint():
    out = render.answer_html(Answer("知识库中没有找到与该问题相关的内容。", True, [], "天气", "天气"), {})
    assert "知识库中没有找到与该问题相关的内容。" in out and render.REFUSAL_HINT in out
    assert "uq-cite" not in out


def test_highlight_splits_marks_and_span_across_boundaries():
    out = render.highlight("abcdef", 10, [(11, 13), (12, 14)], span=(13, 16))
    assert out == 'a<mark class="uq-quote">bc</mark><span class="uq-span"><mark class="uq-quote">d</mark></span>' \
        '<span class="uq-span">ef</span>'


def test_question_keeps_line_breaks_and_escapes():
    assert render.question_html("a<b>\nc") == '<div class="uq-question">a&lt;b&gt;<br>c</div>'


def test_document_page_escapes_everything_and_marks_the_span():
    doc = document()
    start = TEXT.index("第三条")
    page = render.document_page(doc, start, start + 3, render.parse_quotes(f"{start}-{start + 3},bad,1-x"))
    assert "<script>alert" not in page and "<img src" not in page
    assert "<title>测试&lt;b&gt;法&lt;/b&gt; - 工会知识问答</title>" in page
    assert '<p id="p-1" class="para">' in page and '<mark class="uq-quote">第三条</mark>' in page
    assert "第 2 页" in page


def test_parse_quotes_ignores_garbage():
    assert render.parse_quotes("1-5,x,7-9,-3") == [(1, 5), (7, 9)]


def test_related_passages_are_framed_apart_from_an_answer():
    doc = document()
    c = citation(doc)
    text = f"文件中没有直接回答这个问题，以下条款可能相关：\n{c.text}[1]"
    related = render.answer_html(Answer(text, False, [c], "问", "问", status=RELATED), {doc.doc_id: doc})
    answered = render.answer_html(Answer(f"{c.text}[1]", False, [c], "问", "问"), {doc.doc_id: doc})
    assert '<div class="uq-answer uq-related">' in related and "文件中没有直接回答这个问题" in related
    assert "uq-related" not in answered
    assert '<a class="uq-cite" href="#uq-src-1"' in related  # its passages are still cited and clickable


def test_markers_come_from_the_citations_not_from_the_text():
    """A document that itself says "[1]" or "[3]" must not get clickable markers (issue 11)."""
    text = "会费标准见附件[3]，详见[1]。"
    doc = Document("a", "办法", "a.txt", text, (Paragraph(0, len(text)),), {})
    c = Citation(1, "a", "办法", "", text, 0, len(text), 0.9, [(0, len(text))], markers=[len(text)])
    answer = Answer(text + "[1]", False, [c], "问", "问")
    out = render.answer_html(answer, {"a": doc})
    body = out.split('<div class="uq-sources">')[0]
    assert body.count('class="uq-cite"') == 1  # the real marker, at the end
    assert "附件[3]，详见[1]。<a class=\"uq-cite\"" in body
    # a citation without marker offsets (an answer from elsewhere) links nothing in the text
    plain = render.answer_html(replace(answer, citations=[replace(c, markers=[])]), {"a": doc})
    assert plain.split('<div class="uq-sources">')[0].count('class="uq-cite"') == 0


def test_bot_answers_carry_marker_offsets(bot):
    answer = bot.ask("劳模精神的内涵是什么？")
    assert answer.citations
    for c in answer.citations:
        assert c.markers and all(answer.text.startswith(f"[{c.n}]", m) for m in c.markers)
    labels = sum(len(c.markers) for c in answer.citations)
    assert render.answer_text_html(answer).count('class="uq-cite"') == labels
