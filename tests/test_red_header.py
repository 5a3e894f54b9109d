"""The official-document header (红头文件) as metadata (issue 20): issuing body, 文号, title,
addressees and date of issue, from text and from what OCR makes of it."""

from __future__ import annotations

from bot.provisions import describe
from bot.records import Citation
from corpus.loader import document_from_bytes
from corpus.red_header import parse_date, red_header
from corpus.structure import Block
from tests.fixtures.office import RED_HEADER_LINES
from ui.render import document_page, listed_title, where


def notice(lines: list[str] = RED_HEADER_LINES, name: str = "通知.txt"):
    return document_from_bytes("\n".join(lines).encode("utf-8"), name)


def test_the_header_becomes_title_and_metadata() -> None:
    doc = notice()
    assert doc.title == "关于做好2023年度困难职工帮扶工作的通知"
    metadata = doc.metadata
    assert metadata["issuer"] == "上海市总工会"
    assert metadata["doc_number"] == "沪工总发〔2023〕12号"
    assert metadata["addressees"] == "各区局（产业）工会，各直属单位"
    assert metadata["issued"] == "2023-03-15"
    # issue I's legal fields: a 文件 of Shanghai, published on its date of issue
    assert (metadata["rank"], metadata["place"], metadata["jurisdiction"]) == ("文件", "上海市", "province")
    assert metadata["promulgated"] == "2023-03-15" and metadata["in_force"] == "true"
    text = doc.text
    assert "上海市总工会文件" not in text and "沪工总发" not in text  # the header is not body text
    assert text.startswith("各区局（产业）工会，各直属单位：\n为进一步做好")


def test_ocr_variants_of_the_number_and_a_chinese_numeral_date() -> None:
    lines = ["中华全国总工会文件", "总工发 （2022）7 号", "关于加强职工服务阵地建设的", "意见",
             "各省、自治区、直辖市总工会：", "现就加强职工服务阵地建设提出如下意见。", "中华全国总工会", "二〇二二年十二月三十一日"]
    doc = notice(lines)
    assert doc.metadata["doc_number"] == "总工发〔2022〕7号"
    assert doc.title == "关于加强职工服务阵地建设的意见"  # a title wrapped over two lines
    assert doc.metadata["issued"] == "2022-12-31"
    assert doc.metadata["place"] == "" and doc.metadata["jurisdiction"] == "national"


def test_no_header_no_metadata() -> None:
    doc = notice(["工会工作简报", "本月共走访困难职工12户，依据沪工总发〔2023〕12号文件发放帮扶金。"])
    assert "doc_number" not in doc.metadata  # a 文号 quoted in the body is not the document's own
    assert red_header("", [Block("第一条 为了保护职工权益，制定本法。")]) is None


def test_dates() -> None:
    assert parse_date("2023年3月15日") == "2023-03-15"
    assert parse_date("二〇二三年十月一日") == "2023-10-01"
    assert parse_date("二〇二三年二十月一日") == ""


def test_citations_and_lists_show_the_number_and_date() -> None:
    doc = notice()
    p = next(p for p in doc.paragraphs if "帮扶对象" in doc.paragraph_text(p))
    text = doc.paragraph_text(p)
    [cited] = describe([Citation(1, doc.doc_id, doc.title, p.section, text, p.start, p.end, 0.9)], {doc.doc_id: doc})
    assert (cited.doc_number, cited.issued, cited.scanned) == ("沪工总发〔2023〕12号", "2023-03-15", False)
    assert where(cited).startswith("沪工总发〔2023〕12号 · 2023-03-15印发")
    assert listed_title(doc.title, doc.metadata) == "关于做好2023年度困难职工帮扶工作的通知（沪工总发〔2023〕12号，2023-03-15）"
    page = document_page(doc)
    assert "文号：沪工总发〔2023〕12号" in page and "发文机关：上海市总工会" in page


def test_a_hostile_header_is_escaped_in_the_document_page() -> None:
    doc = notice(["<script>alert(1)</script>文件", "沪工总发〔2023〕13号", "关于<b>测试</b>的通知", "各单位：", "正文内容。",
                  "2023年1月1日"])
    page = document_page(doc)
    assert "<script>alert" not in page and "&lt;script&gt;" in page
