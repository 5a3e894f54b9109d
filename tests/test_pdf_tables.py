"""Ruled tables in PDFs with a text layer are kept as rows (issue 20): 「列名：值，…」 per row,
under 「第N页表格K / 第M行」, and the page's other text read once, around the table."""

from __future__ import annotations

import re
from pathlib import Path

from fpdf import FPDF

from corpus import pdf_tables
from corpus.loader import document_from_bytes
from tests.fixtures.office import CJK_FONT, DUES_ROWS
from tests.test_office_formats import ask_dues_question
from ui.render import where

HEADER = ["单位类别", "会费标准"]


def dues_pdf(ruled: bool = True) -> bytes:
    """A notice with a paragraph, a dues table (ruled, as Word prints one, or not) and a closing line."""
    pdf = FPDF()
    pdf.add_font("cjk", fname=str(CJK_FONT), collection_font_number=0)
    pdf.set_font("cjk", size=12)
    pdf.add_page()
    pdf.cell(0, 10, "关于会费缴纳标准的通知", new_x="LMARGIN", new_y="NEXT")
    pdf.cell(0, 10, "各基层工会按下表标准按时足额缴纳会费。", new_x="LMARGIN", new_y="NEXT")
    rows = [HEADER, *[[unit, dues] for unit, dues, _ in DUES_ROWS]]
    if ruled:
        with pdf.table(col_widths=(40, 100), first_row_as_headings=False) as table:
            for row in rows:
                cells = table.row()
                for value in row:
                    cells.cell(value)
    else:
        for row in rows:
            pdf.cell(0, 10, "    ".join(row), new_x="LMARGIN", new_y="NEXT")
    pdf.cell(0, 10, "本通知自发布之日起施行。", new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def body(doc) -> list[str]:
    return [doc.paragraph_text(p) for p in doc.paragraphs if not p.is_heading]


def test_a_ruled_table_becomes_one_passage_per_row_under_its_page_and_row() -> None:
    doc = document_from_bytes(dues_pdf(), "会费通知.pdf")
    assert body(doc) == [
        "各基层工会按下表标准按时足额缴纳会费。",
        "单位类别：企业，会费标准：按职工工资总额的2%拨缴",
        "单位类别：机关事业单位，会费标准：按职工工资总额的2%拨缴",
        "单位类别：会员个人，会费标准：按本人工资收入的0.5%缴纳",
        "本通知自发布之日起施行。",
    ]  # the table's text is not also read as loose lines
    rows = [p for p in doc.paragraphs if not p.is_heading and "单位类别" in doc.paragraph_text(p)]
    assert [p.section for p in rows] == ["第1页表格1 / 第2行", "第1页表格1 / 第3行", "第1页表格1 / 第4行"]
    assert {p.page for p in rows} == {1}


def test_text_without_ruling_lines_is_read_as_before() -> None:
    doc = document_from_bytes(dues_pdf(ruled=False), "会费通知.pdf")
    text = body(doc)
    assert not any("单位类别：" in t for t in text)
    assert any("会员个人" in t and "0.5%" in t for t in text)


def test_the_pre_filter_sees_ruling_operators_only() -> None:
    assert pdf_tables.may_have_rules(b"q 0 0 0 RG 10 20 100 50 re S Q")
    assert pdf_tables.may_have_rules(b"1 0 0 1 0 0 cm 10 20 m 100 20 l S")
    assert not pdf_tables.may_have_rules(b"BT /F1 12 Tf 72 712 Td (Hello world) Tj ET")


def test_the_table_budget_stops_looking_without_losing_text(monkeypatch) -> None:
    monkeypatch.setattr(pdf_tables, "MAX_PAGES", 0)
    doc = document_from_bytes(dues_pdf(), "会费通知.pdf")
    assert not any(p.section.endswith("行") for p in doc.paragraphs)
    assert any("按本人工资收入的0.5%缴纳" in t for t in body(doc))


def test_a_dues_question_is_answered_from_a_pdf_row_and_cited_to_it(tmp_path: Path, embedder) -> None:
    answer = ask_dues_question(tmp_path, embedder, "会费通知.pdf", dues_pdf())
    assert "按职工工资总额的2%拨缴" in answer.text
    cited = answer.citations[0]
    assert cited.doc_id == "会费通知"
    assert re.fullmatch(r"第1页表格1 / 第[234]行", cited.section)
    assert "第1页表格1" in where(cited)
