"""Fuzzing every loader and the chunker (issue 11): random bytes, and truncated and
mutated real files of each format. The only outcomes allowed are a Document or the
loader's own LoadError; the chunker's chunks always point inside the document.

A short bounded run in the normal test suite; `make fuzz` runs many more examples
(UNIONQA_FUZZ_EXAMPLES) and prints hypothesis' statistics with the example counts.
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import replace

import docx
import pytest
from fpdf import FPDF
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from corpus import DEFAULT_CORPUS_DIR
from corpus.errors import LoadError
from corpus.loader import document_from_bytes
from corpus.records import Document, Paragraph
from corpus.sandbox import _document_from_json, _document_to_json
from corpus.structure import assemble, plain_blocks, split_paragraphs
from index.chunker import chunk_document
from tests.fixtures import office

EXAMPLES = int(os.environ.get("UNIONQA_FUZZ_EXAMPLES", "30"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=EXAMPLES <= 30,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _docx() -> bytes:
    document = docx.Document()
    document.core_properties.title = "年度工会工作报告"
    document.add_heading("年度工会工作报告", level=0)
    document.add_heading("一、主要工作", level=1)
    document.add_paragraph("今年共发展会员1200人。走访慰问困难职工86户。")
    table = document.add_table(rows=2, cols=2)
    for r, row in enumerate([["项目", "人数"], ["春送岗位", "300"]]):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def _pdf() -> bytes:
    pdf = FPDF()
    pdf.set_title("Rules")
    pdf.set_font("helvetica", size=12)
    for lines in (["Chapter 1 General", "Article 1 This law protects workers."], ["Article 2 Wages are paid."]):
        pdf.add_page()
        for line in lines:
            pdf.cell(0, 10, line, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def _small_scan() -> bytes:
    """A small photo of one short line: OCR'd in well under a second, so mutations that still
    decode can be read."""
    image, _ = office.render_lines([("会费每月缴纳。", 0)], width=300).crop((0, 80, 300, 140)), None
    return office.png_bytes(image)


_HTML = (
    "<html><head><title>通知</title><meta name='author' content='工会'></head><body><nav>首页</nav>"
    "<article><h1>会费通知</h1><p>会员按月缴纳会费。</p><table><tr><td>项目</td><td>标准</td></tr></table>"
    "<div class='footer'>版权</div><pre>一\n二</pre></article></body></html>"
).encode()
_LAW = next((DEFAULT_CORPUS_DIR / "laws").glob("*.md"))
SEEDS = {
    "a.txt": (DEFAULT_CORPUS_DIR / "000_caba9922321d9496.txt").read_bytes()[:6000],
    "law.md": _LAW.read_bytes()[:6000],
    "page.html": _HTML,
    "report.docx": _docx(),
    "rules.pdf": _pdf(),
    # issue 20's formats (.doc/.wps: test_legacy_word_files_mutated below, fewer examples)
    "dues.xlsx": office.dues_xlsx(),
    "dues.xls": office.dues_xls(),
    "dues.csv": office.dues_csv("gbk"),
    "slides.pptx": office.training_pptx(),
    "scan.png": _small_scan(),
}


def _load(data: bytes, source: str) -> None:
    try:
        doc = document_from_bytes(data, source)
    except LoadError as exc:
        assert str(exc)  # a reason for the user
        return
    assert isinstance(doc, Document)
    for p in doc.paragraphs:
        assert 0 <= p.start <= p.end <= len(doc.text)


@pytest.mark.parametrize("source", sorted(SEEDS))
@FUZZ
@given(data=st.binary(max_size=4096))
def test_loaders_on_random_bytes(source, data):
    _load(data, source)


@pytest.mark.parametrize("source", sorted(SEEDS))
@FUZZ
@given(cut=st.floats(min_value=0, max_value=1))
def test_loaders_on_truncated_files(source, cut):
    seed = SEEDS[source]
    _load(seed[: int(len(seed) * cut)], source)


@pytest.mark.parametrize("source", sorted(SEEDS))
@FUZZ
@given(edits=st.lists(st.tuples(st.floats(min_value=0, max_value=1), st.integers(0, 255)), min_size=1, max_size=8))
def test_loaders_on_mutated_files(source, edits):
    data = bytearray(SEEDS[source])
    for where, byte in edits:
        data[min(int(len(data) * where), len(data) - 1)] = byte
    _load(bytes(data), source)


# Each .doc/.wps example starts LibreOffice (seconds), so these get a tenth of the examples.
LEGACY = settings(FUZZ, max_examples=max(3, EXAMPLES // 10))


@pytest.fixture(scope="module")
def legacy_word() -> bytes:
    return office.legacy_word(_docx())


@pytest.mark.slow
@pytest.mark.parametrize("suffix", [".doc", ".wps"])
@LEGACY
@given(cut=st.floats(min_value=0.05, max_value=1),
       edits=st.lists(st.tuples(st.floats(min_value=0, max_value=1), st.integers(0, 255)), max_size=8))
def test_legacy_word_files_mutated(legacy_word, suffix, cut, edits):
    """A Word 97 file, cut and with bytes changed, through LibreOffice and the .docx loader:
    a Document or a LoadError with a reason, never a hang or another error."""
    data = bytearray(legacy_word[: max(1, int(len(legacy_word) * cut))])
    for where, byte in edits:
        data[min(int(len(data) * where), len(data) - 1)] = byte
    _load(bytes(data), "notice" + suffix)


def test_seed_files_load():
    for source, data in SEEDS.items():
        assert document_from_bytes(data, source).text


@FUZZ
@given(text=st.text(st.characters(codec="utf-8"), max_size=3000),
       target=st.integers(20, 600), overlap=st.integers(0, 3))
def test_chunker_on_any_text(text, target, overlap):
    body, paragraphs = assemble(plain_blocks(split_paragraphs(text)))
    doc = Document("d", "标题", "d.txt", body, tuple(paragraphs), {})
    chunks = chunk_document(doc, target_chars=target, overlap_sentences=overlap)
    for chunk in chunks:
        assert 0 <= chunk.start < chunk.end <= len(body)
        assert chunk.text == body[chunk.start : chunk.end]
    covered = {i for c in chunks for i in range(c.start, c.end)}
    for p in paragraphs:  # every body paragraph's text is in some chunk
        if not p.is_heading and body[p.start : p.end].strip():
            assert any(c.start <= p.start < c.end for c in chunks) or p.start in covered


@FUZZ
@given(text=st.text(st.characters(codec="utf-8"), max_size=3000), page=st.none() | st.integers(1, 500))
def test_paragraph_records_tile_the_text_and_survive_the_parse_worker(text, page):
    """The paragraphs the chunker gets are the text's lines, in order: non-empty, without a line
    break, one "\\n" apart, covering the whole text; and the records come back unchanged
    from the parse worker's JSON (corpus/sandbox.py), which is how a loaded file reaches it."""
    blocks = [replace(block, page=page) for block in plain_blocks(split_paragraphs(text))]
    body, paragraphs = assemble(blocks)
    doc = Document("d", "标题", "d.txt", body, tuple(paragraphs), {})
    assert "\n".join(doc.paragraph_text(p) for p in paragraphs) == body
    offset = 0
    for p in paragraphs:
        assert isinstance(p, Paragraph) and p.start == offset and p.end > p.start
        assert "\n" not in doc.paragraph_text(p) and p.page == page
        offset = p.end + 1
    assert _document_from_json(json.loads(json.dumps(_document_to_json(doc)))) == doc
