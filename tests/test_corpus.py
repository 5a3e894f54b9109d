"""The corpus layer: decoding, paragraphs and headings, the bundled corpus, folder loading."""

from __future__ import annotations

import codecs
import re
from pathlib import Path

import pytest

from corpus import DEFAULT_CORPUS_DIR
from corpus.encoding import decode_bytes
from corpus.errors import LoadError
from corpus.loader import SUPPORTED_SUFFIXES, document_from_bytes, load_corpus, load_document
from corpus.records import Document
from corpus.structure import Block, assemble, looks_like_heading, split_paragraphs

ARTICLE_ID = "000_caba9922321d9496"
LAW_IDS = {
    "laws/劳动合同法(2012-12-28)",
    "laws/劳动法(2018-12-29)",
    "laws/女职工劳动保护特别规定(2012-04-28)",
    "laws/工会法(2021-12-24)",
    "laws/职工带薪年休假条例(2007-12-14)",
}
ARTICLE_START = re.compile(r"^第[零〇一二两三四五六七八九十百千]+条\s")

SIMPLIFIED = "工会是职工自愿结合的工人阶级群众组织，依法维护职工的合法权益。"
TRADITIONAL = "工會是職工自願結合的工人階級群眾組織，依法維護職工的合法權益。"
TRADITIONAL_PARAGRAPH = (
    "勞模精神、勞動精神、工匠精神是民族精神和時代精神的生動體現。在長期實踐中，我們培育形成了愛崗敬業、"
    "爭創一流、艱苦奮鬥、勇於創新、淡泊名利、甘於奉獻的勞模精神，崇尚勞動、熱愛勞動、辛勤勞動、誠實勞動"
    "的勞動精神，執著專注、精益求精、一絲不苟、追求卓越的工匠精神。"
)


def assert_offsets(doc: Document) -> None:
    """The contract the index layer relies on: spans are exact, text is the
    paragraphs joined by newlines."""
    pieces = [doc.text[p.start : p.end] for p in doc.paragraphs]
    assert doc.text == "\n".join(pieces)
    for piece in pieces:
        assert piece and piece == piece.strip() and "\n" not in piece


@pytest.fixture(scope="module")
def bundled() -> dict[str, Document]:
    result = load_corpus(DEFAULT_CORPUS_DIR)
    assert result.errors == []
    return {d.doc_id: d for d in result.documents}


# --- encodings -------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        SIMPLIFIED.encode("utf-8"),
        codecs.BOM_UTF8 + SIMPLIFIED.encode("utf-8"),
        SIMPLIFIED.encode("utf-16"),  # with BOM
        SIMPLIFIED.encode("gbk"),
        SIMPLIFIED.encode("gb18030"),
        (SIMPLIFIED * 40).encode("gbk"),
    ],
)
def test_decodes_simplified_chinese(data: bytes) -> None:
    assert decode_bytes(data).startswith(SIMPLIFIED)


@pytest.mark.parametrize(
    ("text", "encoding"),
    [
        (TRADITIONAL, "big5"),
        (TRADITIONAL * 30, "big5"),
        ("勞動法", "big5"),  # three characters, no punctuation
        ("中華全國總工會：「工會會員」", "big5"),
        (TRADITIONAL, "gbk"),  # traditional characters exist in GBK too
        ("勞動法", "gbk"),
        ("工人和农民", "gbk"),
        ("工人和農民", "big5"),
        ("工人在中山大道上工作，天天上班。", "big5"),  # characters the same in both scripts
        ("人民大会堂。", "gbk"),
        ("㐀𠀀 extension characters 龘", "gb18030"),  # only GB18030 can hold these
        ("Mixed 中文 and English, 2024年5月1日。", "gbk"),
        ("Mixed 中文 and English, 2024年5月1日。", "big5"),
    ],
)
def test_tells_gbk_from_big5(text: str, encoding: str) -> None:
    assert decode_bytes(text.encode(encoding)) == text


def test_short_and_long_samples_of_both_scripts() -> None:
    article = (DEFAULT_CORPUS_DIR / f"{ARTICLE_ID}.txt").read_text(encoding="utf-8")
    checked_big5 = 0
    for size in (4, 8, 16, 64, 400):
        for start in range(0, 3000, 50):
            sample = article[start : start + size]
            assert decode_bytes(sample.encode("gbk")) == sample
            try:
                big5 = sample.encode("big5")  # simplified text whose characters Big5 also has
            except UnicodeEncodeError:
                continue
            assert decode_bytes(big5) == sample
            checked_big5 += 1
    assert checked_big5 >= 10
    for size in (4, 8, 16, len(TRADITIONAL_PARAGRAPH)):
        for start in range(0, len(TRADITIONAL_PARAGRAPH) - size + 1, 7):
            sample = TRADITIONAL_PARAGRAPH[start : start + size]
            assert decode_bytes(sample.encode("big5")) == sample
            assert decode_bytes(sample.encode("gbk")) == sample


def test_binary_and_undecodable_data_are_refused() -> None:
    with pytest.raises(LoadError, match="二进制"):
        decode_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    with pytest.raises(LoadError, match="二进制"):
        decode_bytes(bytes(range(256)) * 4)
    with pytest.raises(LoadError):
        decode_bytes(bytes([0x80, 0xFF, 0xFE, 0x81, 0x30, 0xFF]) * 50)


def test_utf8_is_tried_before_anything_else() -> None:
    assert decode_bytes("劳动法".encode()) == "劳动法"
    assert decode_bytes(b"plain ascii") == "plain ascii"
    assert decode_bytes(b"") == ""


# --- paragraphs and headings ------------------------------------------------


def test_ideographic_space_runs_separate_paragraphs() -> None:
    text = "标题\u3000\u3000第一段。\u3000\u3000第二段，\u3000内部空格保留。\r\n\u3000\u3000第三段。\n\n  \n"
    assert split_paragraphs(text) == ["标题", "第一段。", "第二段，\u3000内部空格保留。", "第三段。"]


def test_invisible_and_extra_spaces_are_cleaned() -> None:
    assert split_paragraphs("\ufeff  a\u200b  b\t c \xa0\n") == ["a b c"]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("一、总体要求", True),
        ("第三章 劳动合同的履行和变更", True),
        ("劳模精神的内涵", True),
        ("这是一个完整的句子。", False),
        ("有下列情形之一的：", False),
        ("- 列表项", False),
        ("（一）劳动合同期限", False),
        ("1. 第一项", False),
        ("2024年4月28日", False),
        ("长" * 61, False),
    ],
)
def test_heading_lines(line: str, expected: bool) -> None:
    assert looks_like_heading(line) is expected


def test_plain_text_headings_set_sections() -> None:
    text = "工会简介\n\n一、基本情况\n工会是职工自愿结合的群众组织。\n它依法维护职工权益。\n二、主要职责\n维护职工合法权益。\n"
    doc = document_from_bytes(text.encode(), "notes/简介.txt")
    assert doc.doc_id == "notes/简介"
    assert doc.source == "notes/简介.txt"
    assert doc.title == "工会简介"
    rows = [(doc.paragraph_text(p), p.is_heading, p.section) for p in doc.paragraphs]
    assert rows == [
        ("一、基本情况", True, "一、基本情况"),
        ("工会是职工自愿结合的群众组织。", False, "一、基本情况"),
        ("它依法维护职工权益。", False, "一、基本情况"),
        ("二、主要职责", True, "二、主要职责"),
        ("维护职工合法权益。", False, "二、主要职责"),
    ]
    assert_offsets(doc)


def test_short_lines_without_prose_after_them_are_not_headings() -> None:
    text = "通知\n请各单位按时参加。\n特此通知\n市总工会办公室\n2024年4月28日\n"
    doc = document_from_bytes(text.encode(), "通知.txt")
    assert doc.title == "通知"
    assert not any(p.is_heading for p in doc.paragraphs)


def test_nested_headings_give_a_section_path() -> None:
    blocks = [Block("第五章 特别规定", 1), Block("第一节 集体合同", 2), Block("第五十一条 内容。"), Block("第六章 监督检查", 1), Block("正文。")]
    text, paragraphs = assemble(blocks)
    assert [p.section for p in paragraphs] == [
        "第五章 特别规定",
        "第五章 特别规定 / 第一节 集体合同",
        "第五章 特别规定 / 第一节 集体合同",
        "第六章 监督检查",
        "第六章 监督检查",
    ]
    assert text.split("\n")[2] == "第五十一条 内容。"


# --- the bundled corpus ----------------------------------------------------


def test_bundled_corpus_has_the_article_and_five_laws(bundled: dict[str, Document]) -> None:
    assert set(bundled) == {ARTICLE_ID} | LAW_IDS
    for doc in bundled.values():
        assert_offsets(doc)
        assert doc.source == doc.doc_id + Path(doc.source).suffix


def test_bundled_article(bundled: dict[str, Document]) -> None:
    doc = bundled[ARTICLE_ID]
    assert doc.title == "大力弘扬劳模精神劳动精神工匠精神（深入学习贯彻习近平新时代中国特色社会主义思想）"
    assert doc.metadata["main_title"] == "大力弘扬劳模精神劳动精神工匠精神"
    assert doc.metadata["author"] == "中华全国总工会党组书记、副主席、书记处第一书记"
    headings = [doc.paragraph_text(p) for p in doc.paragraphs if p.is_heading]
    assert headings == [
        "劳模精神、劳动精神、工匠精神是民族精神和时代精神的生动体现，具有丰富深刻内涵",
        "劳模精神、劳动精神、工匠精神是中国共产党人精神谱系的重要组成部分，在新时代新征程上展现出巨大引领价值",
        "大力弘扬劳模精神、劳动精神、工匠精神，凝聚亿万职工奋进新征程、建功新时代的磅礴伟力",
    ]
    first_body = doc.paragraphs[0]
    assert not first_body.is_heading and first_body.section == ""
    assert doc.paragraph_text(first_body).startswith("工人阶级是我国的领导阶级")
    # The paragraph that explains what the three spirits mean, under the first heading.
    meaning = next(p for p in doc.paragraphs if doc.paragraph_text(p).startswith("劳模精神、劳动精神、工匠精神具有内在联系"))
    assert "劳模精神反映劳动模范在生产实践中的职业素养" in doc.paragraph_text(meaning)
    assert meaning.section == headings[0]
    assert doc.paragraphs[-1].section == headings[2]
    assert "作者为" not in doc.text and "\u3000" not in doc.text


def test_bundled_laws(bundled: dict[str, Document]) -> None:
    contract = bundled["laws/劳动合同法(2012-12-28)"]
    assert contract.title == "中华人民共和国劳动合同法"
    assert contract.metadata["short_title"] == "劳动合同法"
    assert contract.metadata["date"] == "2012-12-28"
    assert contract.metadata["kind"] == "law"
    assert contract.metadata["preamble"].startswith("2007年6月29日")
    assert "INFO END" not in contract.text and "<!--" not in contract.text
    assert "2007年6月29日" not in contract.text  # the preamble is metadata, not indexed text
    sections = {p.section for p in contract.paragraphs}
    assert "第三章 劳动合同的履行和变更" in sections
    assert "第五章 特别规定 / 第二节 劳务派遣" in sections
    article_30 = next(p for p in contract.paragraphs if contract.paragraph_text(p).startswith("第三十条 "))
    assert article_30.section == "第三章 劳动合同的履行和变更"
    for doc_id in LAW_IDS:
        law = bundled[doc_id]
        assert law.metadata["kind"] == "law"
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", law.metadata["date"])
        articles = [law.paragraph_text(p) for p in law.paragraphs if ARTICLE_START.match(law.paragraph_text(p))]
        assert articles[0].startswith("第一条 ")
        assert all(not p.is_heading or p.section.startswith(("第", "附录")) for p in law.paragraphs)
    union = bundled["laws/工会法(2021-12-24)"]
    assert union.metadata["short_title"] == "工会法"
    assert union.paragraph_text(union.paragraphs[0]) == "第一章 总则"  # 「总 则」 tidied
    women = bundled["laws/女职工劳动保护特别规定(2012-04-28)"]
    assert women.paragraphs[-1].section == "附录"


# --- folders and failures --------------------------------------------------


def test_a_bad_file_is_reported_and_the_rest_loads(tmp_path: Path) -> None:
    (tmp_path / "a_good.txt").write_text("标题\n正文第一段。\n", encoding="utf-8")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "gbk.txt").write_bytes("简体中文的正文，用 GBK 保存。".encode("gbk"))
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "blank.md").write_text("   \n\n", encoding="utf-8")
    (tmp_path / "broken.docx").write_bytes(b"PK\x03\x04 this is not really a zip")
    (tmp_path / "old.doc").write_bytes(b"\xd0\xcf\x11\xe0 binary")
    (tmp_path / "image.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    (tmp_path / ".hidden.txt").write_text("隐藏文件。", encoding="utf-8")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "config.txt").write_text("忽略。", encoding="utf-8")
    (tmp_path / "~$lock.docx").write_bytes(b"x")

    result = load_corpus(tmp_path)

    assert [d.doc_id for d in result.documents] == ["a_good", "sub/gbk"]
    assert result.documents[1].text == "简体中文的正文，用 GBK 保存。"
    reasons = {issue.path: issue.reason for issue in result.errors}
    assert set(reasons) == {"empty.txt", "blank.md", "broken.docx", "old.doc", "image.txt"}
    assert "空" in reasons["empty.txt"] and "空" in reasons["blank.md"]
    assert ".docx" in reasons["broken.docx"] and "损坏" in reasons["broken.docx"]
    assert ".doc" in reasons["old.doc"] and "损坏" in reasons["old.doc"]  # a cut-off OLE header
    assert "二进制" in reasons["image.txt"]


def test_ids_are_stable_and_unique(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("甲的正文。", encoding="utf-8")
    (tmp_path / "a.md").write_text("乙的正文。", encoding="utf-8")
    (tmp_path / "b.md").write_text("丙的正文。", encoding="utf-8")
    first = [d.doc_id for d in load_corpus(tmp_path).documents]
    assert first == ["a.md", "a.txt", "b"]
    assert [d.doc_id for d in load_corpus(tmp_path).documents] == first


def test_load_document_and_errors(tmp_path: Path) -> None:
    path = tmp_path / "laws" / "note.md"
    path.parent.mkdir()
    path.write_text("# 标题\n\n正文。\n", encoding="utf-8")
    doc = load_document(path, tmp_path)
    assert (doc.doc_id, doc.source, doc.title, doc.text) == ("laws/note", "laws/note.md", "标题", "正文。")
    with pytest.raises(LoadError, match="不支持"):
        load_document(tmp_path / "x.xyz", tmp_path)
    with pytest.raises(LoadError, match="不存在"):
        load_corpus(tmp_path / "missing")
    assert {".txt", ".md", ".html", ".htm", ".docx", ".pdf"} <= SUPPORTED_SUFFIXES
