"""Markdown, HTML, .docx and PDF files, each built inside the test."""

from __future__ import annotations

import io
from pathlib import Path

import docx
import pytest
from fpdf import FPDF

from corpus.errors import LoadError
from corpus.loader import document_from_bytes, load_corpus
from corpus.markdown import split_front_matter, strip_inline
from corpus.pdf_loader import join_wrapped_lines
from corpus.records import Document

CJK_FONT = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")


def texts(doc: Document) -> list[str]:
    return [doc.paragraph_text(p) for p in doc.paragraphs]


def assert_offsets(doc: Document) -> None:
    assert doc.text == "\n".join(texts(doc))
    assert all(t and "\n" not in t for t in texts(doc))


# --- Markdown ----------------------------------------------------------------


def test_markdown_front_matter_headings_and_inline_markup() -> None:
    source = (
        "---\ntitle: 工会经费使用办法\nauthor: \"市总工会\"\ndate: 2024-03-01\nurl: https://example.org/a\n---\n"
        "<!-- 编辑备注：不要索引 -->\n"
        "## 第一章 总则\n\n"
        "经费**必须**用于[职工](https://example.org/x)活动，见 `附件1`。\n\n"
        "- 第一项\n- 第二项\n\n"
        "| 项目 | 比例 |\n|---|---|\n| 会费 | 2% |\n\n"
        "### 第一节 收入\n\n收入来源如下。<br>\n"
    )
    doc = document_from_bytes(source.encode(), "rules/经费.md")
    assert doc.title == "工会经费使用办法"
    assert doc.metadata["author"] == "市总工会"
    assert doc.metadata["date"] == "2024-03-01"
    assert doc.metadata["source_url"] == "https://example.org/a"
    assert texts(doc) == [
        "第一章 总则",
        "经费必须用于职工活动，见 附件1。",
        "第一项",
        "第二项",
        "项目 | 比例",
        "会费 | 2%",
        "第一节 收入",
        "收入来源如下。",
    ]
    assert doc.paragraphs[-1].section == "第一章 总则 / 第一节 收入"
    assert "编辑备注" not in doc.text
    assert_offsets(doc)


def test_markdown_helpers() -> None:
    assert split_front_matter("no front matter") == ({}, "no front matter")
    assert strip_inline("**粗体** *斜体* ![图](a.png) snake_case_name &amp;") == "粗体 斜体 图 snake_case_name &"


# --- HTML --------------------------------------------------------------------

PAGE = """<!DOCTYPE html>
<html><head><meta charset="gbk"><title>职工之家_某某网</title>
<meta name="author" content="记者 张三"><style>p { color: red }</style>
<script>var menu = "首页 新闻";</script></head>
<body>
<header><a href="/">网站首页</a><nav><a href="/news">新闻中心</a></nav></header>
<nav class="crumbs">当前位置：首页 &gt; 新闻</nav>
<article>
  <h1>职工之家建设指南</h1>
  <p>　　职工之家是工会组织
     联系职工的阵地。</p>
  <h2>一、建设标准</h2>
  <p>应当有固定<strong>活动场所</strong>和<a href="/x">管理制度</a>。<br>每年至少开展四次活动。</p>
  <table><tr><th>项目</th><th>要求</th></tr><tr><td>面积</td><td>不少于50平方米</td></tr></table>
  <div style="display:none">隐藏的统计代码</div>
  <form><input value="搜索"></form>
</article>
<aside>热点新闻 推荐阅读</aside>
<footer>版权所有 &copy; 某某网</footer>
</body></html>
"""


def test_html_keeps_the_article_and_drops_the_page_around_it() -> None:
    doc = document_from_bytes(PAGE.encode("gbk"), "web/home.html")
    assert doc.title == "职工之家建设指南"
    assert doc.metadata["author"] == "记者 张三"
    assert texts(doc) == [
        "职工之家是工会组织联系职工的阵地。",
        "一、建设标准",
        "应当有固定活动场所和管理制度。",
        "每年至少开展四次活动。",
        "项目 | 要求",
        "面积 | 不少于50平方米",
    ]
    assert doc.paragraphs[1].is_heading and doc.paragraphs[-1].section == "一、建设标准"
    for noise in ("首页", "新闻", "color", "menu", "热点", "版权", "隐藏", "搜索"):
        assert noise not in doc.text
    assert_offsets(doc)


def test_html_layout_tables_of_old_sites() -> None:
    page = (
        "<html><head><title>市总工会</title></head><body><table>"
        '<tr><td class="top-nav"><a>首页</a> | <a>新闻</a></td></tr>'
        "<tr><td><p>　　第一段正文，讲述职工之家建设的要求。</p><p>　　第二段正文。</p></td></tr>"
        '</table><div id="footer">Copyright 2010 市总工会</div></body></html>'
    )
    doc = document_from_bytes(page.encode("gb2312"), "old.htm")
    assert doc.title == "市总工会"
    assert texts(doc) == ["第一段正文，讲述职工之家建设的要求。", "第二段正文。"]


def test_html_charset_undeclared_or_wrong() -> None:
    body = "<html><body><p>劳动者享有平等就业和选择职业的权利。</p></body></html>"
    assert document_from_bytes(body.encode("gb18030"), "a.htm").text == "劳动者享有平等就业和选择职业的权利。"
    wrong = body.replace("<html>", '<html><meta charset="iso-8859-1">')
    assert document_from_bytes(wrong.encode("gbk"), "b.html").text == "劳动者享有平等就业和选择职业的权利。"
    utf8_declared_gbk = body.replace("<html>", '<html><meta http-equiv="Content-Type" content="text/html; charset=gb2312">')
    assert "劳动者" in document_from_bytes(utf8_declared_gbk.encode(), "c.html").text


def test_html_with_only_navigation_has_no_text() -> None:
    with pytest.raises(LoadError, match="没有正文"):
        document_from_bytes(b"<html><body><nav>menu</nav><script>x()</script></body></html>", "nav.html")


# --- .docx -------------------------------------------------------------------


def make_docx(title: str = "年度工会工作报告") -> bytes:
    document = docx.Document()
    document.core_properties.title = title
    document.core_properties.author = "李四"
    document.add_heading(title, level=0)
    document.add_heading("一、主要工作", level=1)
    document.add_paragraph("今年共发展会员1200人。")
    document.add_heading("（一）困难职工帮扶", level=2)
    document.add_paragraph("走访慰问困难职工86户。")
    table = document.add_table(rows=3, cols=3)
    for r, row in enumerate([["项目", "人数", "金额"], ["春送岗位", "300", "—"], ["金秋助学", "45", "9万元"]]):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    document.add_paragraph("")
    document.add_heading("二、下一步打算", level=1)
    document.add_paragraph("继续做好维权服务。")
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def test_docx_headings_tables_and_properties() -> None:
    doc = document_from_bytes(make_docx(), "reports/2024.docx")
    assert doc.title == "年度工会工作报告"
    assert doc.metadata["author"] == "李四"
    assert doc.metadata["date"]
    assert texts(doc) == [
        "一、主要工作",
        "今年共发展会员1200人。",
        "（一）困难职工帮扶",
        "走访慰问困难职工86户。",
        "项目：春送岗位，人数：300，金额：—",  # a table's rows as 「列名：值」 (issue 20)
        "项目：金秋助学，人数：45，金额：9万元",
        "二、下一步打算",
        "继续做好维权服务。",
    ]
    headings = [(doc.paragraph_text(p), p.section) for p in doc.paragraphs if p.is_heading]
    assert headings == [
        ("一、主要工作", "一、主要工作"),
        ("（一）困难职工帮扶", "一、主要工作 / （一）困难职工帮扶"),
        ("二、下一步打算", "二、下一步打算"),
    ]
    row = next(p for p in doc.paragraphs if doc.paragraph_text(p).startswith("项目：金秋助学"))
    assert row.section == "一、主要工作 / （一）困难职工帮扶"
    assert_offsets(doc)


def test_docx_without_core_title_uses_its_title_paragraph() -> None:
    assert document_from_bytes(make_docx(title=""), "r.docx").title == "r"  # no title anywhere: the file name
    document = docx.Document()
    document.add_heading("工会法学习心得", level=1)
    document.add_paragraph("学习了工会法。")
    buffer = io.BytesIO()
    document.save(buffer)
    doc = document_from_bytes(buffer.getvalue(), "notes.docx")
    assert doc.title == "工会法学习心得" and texts(doc) == ["学习了工会法。"]


def test_corrupt_docx_is_a_load_error() -> None:
    with pytest.raises(LoadError, match=r"\.docx"):
        document_from_bytes(b"PK\x03\x04garbage", "x.docx")
    with pytest.raises(LoadError, match=r"\.docx"):
        document_from_bytes(make_docx()[:500], "truncated.docx")


# --- PDF ---------------------------------------------------------------------


def pdf_bytes(pages: list[list[str]], font: Path | None = None, title: str = "", author: str = "") -> bytes:
    pdf = FPDF()
    if font is not None:
        pdf.add_font("cjk", fname=str(font), collection_font_number=0)
        pdf.set_font("cjk", size=12)
    else:
        pdf.set_font("helvetica", size=12)
    if title:
        pdf.set_title(title)
    if author:
        pdf.set_author(author)
    for lines in pages:
        pdf.add_page()
        for line in lines:
            pdf.cell(0, 10, line, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def test_pdf_pages_are_kept_for_citations() -> None:
    data = pdf_bytes(
        [["Chapter 1 General Provisions", "Article 1 This law protects workers.", "3"],
         ["Article 2 Wages are paid monthly.", "Article 3 Rest days are paid."]],
        title="Labour Rules",
        author="Union Office",
    )  # fmt: skip
    doc = document_from_bytes(data, "rules.pdf")
    assert doc.title == "Labour Rules"
    assert doc.metadata["author"] == "Union Office"
    assert doc.metadata["pages"] == "2"
    pages = {doc.paragraph_text(p): p.page for p in doc.paragraphs}
    assert pages["Article 1 This law protects workers."] == 1
    assert pages["Article 2 Wages are paid monthly."] == 2
    assert pages["Article 3 Rest days are paid."] == 2
    assert "3" not in pages  # a bare page number is not text
    assert_offsets(doc)


@pytest.mark.skipif(not CJK_FONT.exists(), reason=f"no CJK font at {CJK_FONT} to write a Chinese PDF with")
def test_chinese_pdf_with_three_pages() -> None:
    data = pdf_bytes(
        [
            ["工会工作手册", "第一章 总则", "第一条 为了维护职工合法权益，制定本手册。"],
            ["第二条 工会依法组织职工参与民主管理。", "- 2 -"],
            ["第二章 附则", "第三条 本手册自发布之日起施行。"],
        ],
        font=CJK_FONT,
    )
    doc = document_from_bytes(data, "handbook.pdf")
    assert doc.title == "工会工作手册"
    rows = [(doc.paragraph_text(p), p.page, p.is_heading, p.section) for p in doc.paragraphs]
    assert rows == [
        ("第一章 总则", 1, True, "第一章 总则"),
        ("第一条 为了维护职工合法权益，制定本手册。", 1, False, "第一章 总则"),
        ("第二条 工会依法组织职工参与民主管理。", 2, False, "第一章 总则"),
        ("第二章 附则", 3, True, "第二章 附则"),
        ("第三条 本手册自发布之日起施行。", 3, False, "第二章 附则"),
    ]


def test_pdf_without_text_layer_is_refused_clearly() -> None:
    pdf = FPDF()
    pdf.add_page()
    pdf.rect(20, 20, 100, 150, style="F")  # what a scanned page amounts to: marks, no text
    pdf.add_page()
    with pytest.raises(LoadError, match="没有文本层.*OCR"):
        document_from_bytes(bytes(pdf.output()), "scan.pdf")


def test_corrupt_pdf_is_a_load_error() -> None:
    with pytest.raises(LoadError, match="PDF"):
        document_from_bytes(b"%PDF-1.7\n garbage without objects", "broken.pdf")


def test_wrapped_pdf_lines_are_joined() -> None:
    lines = [
        "劳动者享有平等就业和选择职业的权利、取得劳动",
        "报酬的权利、休息休假的权利。",
        "第四条 用人单位应当依法建立和完善规章制",
        "度，保障劳动者享有劳动权利。",
        "（一）短的条目",
    ]
    assert join_wrapped_lines(lines) == [
        "劳动者享有平等就业和选择职业的权利、取得劳动报酬的权利、休息休假的权利。",
        "第四条 用人单位应当依法建立和完善规章制度，保障劳动者享有劳动权利。",
        "（一）短的条目",
    ]


def test_a_folder_of_mixed_formats(tmp_path: Path) -> None:
    (tmp_path / "report.docx").write_bytes(make_docx())
    (tmp_path / "page.html").write_bytes(PAGE.encode("gbk"))
    (tmp_path / "rules.pdf").write_bytes(pdf_bytes([["Article 1 Text."], ["Article 2 More text."]]))
    (tmp_path / "broken.docx").write_bytes(b"not a zip at all")
    result = load_corpus(tmp_path)
    assert [d.doc_id for d in result.documents] == ["page", "report", "rules"]
    assert [(e.path, "损坏" in e.reason) for e in result.errors] == [("broken.docx", True)]
