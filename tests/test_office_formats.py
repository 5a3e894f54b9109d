"""Spreadsheets, slides, old Word and WPS files, and files renamed to hide what they are
(issue 20). Every fixture is generated here or in tests/fixtures/office.py."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.bot import Bot
from corpus import office_convert
from corpus.errors import LoadError
from corpus.loader import SUPPORTED_SUFFIXES, document_from_bytes, load_corpus
from index.build import build_index
from index.store.folder import IndexStore
from tests.fixtures import office
from ui.render import where

from .conftest import SETTINGS


def body(doc) -> list[str]:
    return [doc.paragraph_text(p) for p in doc.paragraphs if not p.is_heading]


def test_every_office_format_is_supported() -> None:
    assert {".doc", ".wps", ".xlsx", ".xls", ".csv", ".pptx", ".png", ".jpg", ".tif"} <= SUPPORTED_SUFFIXES


def test_xlsx_rows_are_passages_under_their_sheet_and_row() -> None:
    doc = document_from_bytes(office.dues_xlsx(), "dues/会费标准.xlsx")
    assert doc.title == "会费标准" and doc.metadata["format"] == "xlsx" and doc.metadata["sheets"] == "2"
    assert body(doc) == [
        "单位类别：企业，会费标准：按职工工资总额的2%拨缴，缴纳方式：每月拨缴",
        "单位类别：机关事业单位，会费标准：按职工工资总额的2%拨缴，缴纳方式：按季度拨缴",
        "单位类别：会员个人，会费标准：按本人工资收入的0.5%缴纳，缴纳方式：每月缴纳",
        "单位：市总工会办公室，电话：12345678",  # a number cell as the reader sees it, not 12345678.0
    ]
    sections = [p.section for p in doc.paragraphs if not p.is_heading]
    assert sections == ["工作表“会费标准” / 第2行", "工作表“会费标准” / 第3行", "工作表“会费标准” / 第4行",
                        "工作表“联系方式” / 第2行"]


def test_xls_and_csv_read_like_xlsx() -> None:
    xls = document_from_bytes(office.dues_xls(), "会费.xls")
    assert xls.metadata["format"] == "xls"
    assert body(xls)[0] == "单位类别：企业，会费标准：按职工工资总额的2%拨缴，缴纳方式：每月拨缴"
    assert xls.paragraphs[-1].section == "工作表“会费标准” / 第4行"
    for encoding in ("utf-8", "gbk", "utf-8-sig"):  # Excel in China saves CSV as GBK
        csv_doc = document_from_bytes(office.dues_csv(encoding), "会费.csv")
        assert body(csv_doc) == body(xls)
        assert [p.section for p in csv_doc.paragraphs if not p.is_heading] == ["第2行", "第3行", "第4行"]


def test_pptx_is_one_group_per_slide_with_its_title() -> None:
    doc = document_from_bytes(office.training_pptx(), "培训/会员权利.pptx")
    headings = [(doc.paragraph_text(p), p.page) for p in doc.paragraphs if p.is_heading]
    assert headings == [("工会会员权利", 1), ("困难职工帮扶标准", 2)]
    assert body(doc) == ["会员有选举权、被选举权和表决权。", "类别：特困职工，补助金额：每月800元",
                         "类别：一般困难职工，补助金额：每月400元"]
    assert {p.section for p in doc.paragraphs if p.page == 2} == {"困难职工帮扶标准"}


def ask_dues_question(tmp_path: Path, embedder, name: str, data: bytes):
    """「我们单位会费标准是多少」 asked of a corpus of the dues table `name` and a charter beside it."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / name).write_bytes(data)
    (corpus / "章程.txt").write_text("工会章程\n会员有选举权、被选举权和表决权。\n", encoding="utf-8")
    build_index(corpus, tmp_path / "index", SETTINGS, embedder, progress=False)
    return Bot(IndexStore.load(tmp_path / "index"), embedder).ask("我们单位会费标准是多少")


def test_a_dues_question_is_answered_from_a_row_and_cited_to_it(tmp_path: Path, embedder) -> None:
    answer = ask_dues_question(tmp_path, embedder, "会费标准.xlsx", office.dues_xlsx())
    assert "按职工工资总额的2%拨缴" in answer.text
    cited = answer.citations[0]
    assert cited.doc_id == "会费标准"
    assert re.fullmatch(r"工作表“会费标准” / 第[234]行", cited.section)
    assert "工作表“会费标准”" in where(cited)


@pytest.fixture(scope="module")
def legacy_word() -> bytes:
    """The red-header notice saved by LibreOffice as Word 97 .doc (the format WPS writes too)."""
    return office.legacy_word(office.red_header_docx())


@pytest.mark.parametrize("suffix", [".doc", ".wps"])
def test_doc_and_wps_are_read_through_libreoffice(legacy_word: bytes, suffix: str) -> None:
    assert legacy_word.startswith(b"\xd0\xcf\x11\xe0")  # really an OLE2 Word 97 file
    doc = document_from_bytes(legacy_word, f"通知{suffix}")
    assert doc.metadata["format"] == suffix[1:]
    assert doc.title == "关于做好2023年度困难职工帮扶工作的通知"
    assert doc.metadata["doc_number"] == "沪工总发〔2023〕12号"
    assert "一、帮扶对象为家庭人均收入低于当地最低生活保障标准的在档困难职工。" in body(doc)


def test_doc_through_the_parse_worker(legacy_word: bytes, tmp_path: Path) -> None:
    """LibreOffice runs inside the sandbox, under its memory cap."""
    (tmp_path / "通知.doc").write_bytes(legacy_word)
    (tmp_path / "损坏.doc").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600)
    result = load_corpus(tmp_path)
    assert [d.doc_id for d in result.documents] == ["通知"]
    assert [e.path for e in result.errors] == ["损坏.doc"]
    assert "LibreOffice 无法转换" in result.errors[0].reason


def test_without_libreoffice_the_message_names_what_to_install(monkeypatch) -> None:
    monkeypatch.setattr(office_convert.shutil, "which", lambda name: None)
    with pytest.raises(LoadError, match="libreoffice-writer-nogui"):
        document_from_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600, "old.doc")


EXE = b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 200 + b"This program cannot be run in DOS mode."


@pytest.mark.parametrize("name", ["会费.xlsx", "会费.xls", "通知.doc", "通知.wps", "课件.pptx", "通知.docx", "扫描.pdf",
                                  "照片.png", "照片.jpg", "名单.csv", "说明.txt"])
def test_a_renamed_program_is_refused_with_its_reason(name: str) -> None:
    with pytest.raises(LoadError) as caught:
        document_from_bytes(EXE, name)
    message = str(caught.value)
    assert "可执行程序" in message and "不符" in message
    assert not re.search(r"[A-Z][a-z]+(?:Error|Exception)\b", message)  # no exception class names


@pytest.mark.parametrize("name", ["坏.xlsx", "坏.pptx", "坏.xls", "坏.csv"])
def test_damaged_office_files_are_load_errors(name: str) -> None:
    data = {".xlsx": b"PK\x03\x04broken", ".pptx": b"PK\x03\x04broken",
            ".xls": b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1broken", ".csv": b"\x00\x01\x02"}[Path(name).suffix]
    with pytest.raises(LoadError) as caught:
        document_from_bytes(data, name)
    assert not re.search(r"[A-Z][a-z]+(?:Error|Exception)\b", str(caught.value))


def test_a_zipped_sheet_past_its_size_is_refused() -> None:
    from corpus import table_loader

    rows = "\n".join(f"{i},{i}" for i in range(table_loader.MAX_ROWS + 5))
    with pytest.raises(LoadError, match="上限"):
        document_from_bytes(("序号,值\n" + rows).encode(), "big.csv")
