"""OCR of scans (issue 20): photos and image-only PDF pages read by RapidOCR inside the parse
worker, lines in reading order with their page, 「扫描件识别」 on what came from a scan."""

from __future__ import annotations

import struct
import zlib
from importlib.util import find_spec
from pathlib import Path

import pytest

from bot.provisions import describe
from bot.records import Citation
from corpus.errors import LoadError
from corpus.loader import document_from_bytes, load_corpus
from corpus.ocr import OcrLine, paragraphs, reading_order
from corpus.sandbox import ParseWorker
from corpus.structure import starts_item
from scripts.bench_ocr import cer
from tests.fixtures.office import (
    RED_HEADER_LINES,
    mixed_pdf,
    png_bytes,
    render_lines,
    scanned_pdf,
    wrap_lines,
)
from ui.render import document_page, where

# Most of these run the OCR model on rendered pages (seconds each): `make test-fast` leaves them out.
pytestmark = pytest.mark.slow


def short_page(lines: list[str], **options):
    """A page cut to its text, so that detection has less paper to search."""
    wrapped = wrap_lines(lines)
    image = render_lines(wrapped, **options)
    return image.crop((0, 0, image.width, 160 + len(wrapped) * 38)), "".join(t for t, _ in wrapped)


def test_the_models_come_inside_the_wheel() -> None:
    """Nothing is fetched at run time: PP-OCR's detection, direction and recognition models
    are files of the installed package."""
    folder = Path(find_spec("rapidocr").origin).parent / "models"
    names = {p.name for p in folder.glob("*.onnx")}
    assert any("det" in n for n in names) and any("rec" in n for n in names) and any("cls" in n for n in names)


def test_reading_order_and_paragraphs_by_geometry() -> None:
    boxes = [OcrLine("续行文字。", 100, 140, 400, 160), OcrLine("第二条 右半", 300, 100, 1000, 121),
             OcrLine("第一条 左半", 142, 60, 1000, 80), OcrLine("第二条", 142, 101, 290, 119),
             OcrLine("标题", 500, 20, 560, 40)]
    lines = reading_order(boxes)
    assert [line.text for line in lines] == ["标题", "第一条 左半", "第二条第二条 右半", "续行文字。"]
    # 第二条 opens an item although the line above ran to the margin; 续行文字 continues 第二条
    assert paragraphs(lines, starts_item, lambda t: t.endswith("。")) == ["标题", "第一条 左半", "第二条第二条 右半续行文字。"]


@pytest.fixture(scope="module")
def notice_scan() -> tuple[bytes, str]:
    image, text = short_page(RED_HEADER_LINES)
    return png_bytes(image), text


def test_a_photo_of_a_red_header_notice(notice_scan) -> None:
    data, truth = notice_scan
    doc = document_from_bytes(data, "扫描/通知.png")
    assert doc.metadata["format"] == "image" and doc.metadata["ocr_pages"] == "1"
    assert doc.title == "关于做好2023年度困难职工帮扶工作的通知"
    assert doc.metadata["doc_number"] == "沪工总发〔2023〕12号" and doc.metadata["issued"] == "2023-03-15"
    header = "".join(RED_HEADER_LINES[:3])
    assert cer(truth, header + doc.text) <= 0.02  # the target on a straight page
    assert all(p.page == 1 for p in doc.paragraphs)
    p = next(p for p in doc.paragraphs if "帮扶对象" in doc.paragraph_text(p))
    [cited] = describe([Citation(1, doc.doc_id, doc.title, p.section, doc.paragraph_text(p), p.start, p.end, 0.9,
                                 page=p.page)], {doc.doc_id: doc})
    assert cited.scanned and "扫描件识别" in where(cited)
    assert "扫描件识别：第 1 页" in document_page(doc)


def test_a_rotated_noisy_scan_stays_within_five_percent() -> None:
    lines = ["第六条 女职工在孕期不能适应原劳动的，用人单位应当根据医疗机构的证明，予以减轻劳动量或者安排其他能够适应的劳动。"]
    image, truth = short_page(lines, rotate=2.0, noise=0.02, seed=20)
    doc = document_from_bytes(png_bytes(image), "歪斜.png")
    assert cer(truth, doc.title + doc.text) <= 0.05


def test_a_pdf_scan_page_is_read_in_the_worker_and_cited_as_scanned(tmp_path: Path, notice_scan) -> None:
    import io

    from PIL import Image

    (tmp_path / "附件.pdf").write_bytes(mixed_pdf(Image.open(io.BytesIO(notice_scan[0]))))
    result = load_corpus(tmp_path)  # through the parse worker, under its caps
    assert result.errors == []
    [doc] = result.documents
    assert doc.metadata["ocr_pages"] == "2"
    pages = {p.page for p in doc.paragraphs if "帮扶" in doc.paragraph_text(p)}
    assert pages == {2}
    first = next(p for p in doc.paragraphs if p.page == 1)
    second = next(p for p in doc.paragraphs if p.page == 2 and not p.is_heading)
    cited = describe([Citation(n, doc.doc_id, doc.title, p.section, doc.paragraph_text(p), p.start, p.end, 0.9,
                               page=p.page) for n, p in ((1, first), (2, second))], {doc.doc_id: doc})
    assert [c.scanned for c in cited] == [False, True]
    assert "doc_number" not in doc.metadata  # a header on page 2 is an attachment's, not this document's


def test_each_scanned_page_has_its_time_limit(tmp_path: Path, notice_scan) -> None:
    import io

    from PIL import Image

    image = Image.open(io.BytesIO(notice_scan[0]))
    path = tmp_path / "两页.pdf"
    path.write_bytes(scanned_pdf([image, image]))
    worker = ParseWorker(page_timeout=0.2)  # far less than a page takes
    try:
        with pytest.raises(LoadError, match="超时"):
            worker.load(path, "两页.pdf", "两页")
    finally:
        worker.close()


def _png_header(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    idat = b"IDAT" + zlib.compress(b"\x00" * 64)
    return (b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk))
            + struct.pack(">I", len(idat) - 4) + idat + struct.pack(">I", zlib.crc32(idat)))


def test_an_image_bomb_is_refused_before_decoding() -> None:
    with pytest.raises(LoadError, match="百万像素"):
        document_from_bytes(_png_header(100_000, 100_000), "炸弹.png")
    with pytest.raises(LoadError, match="不是有效的图片"):
        document_from_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "坏.png")


def test_article_numbers_glued_by_ocr_are_set_off_again_in_a_law_only() -> None:
    """OCR drops the space in 「第五条 用人单位…」; a law's articles must still be articles
    (the scanned-law benchmark lost questions to this), prose 「第三条规定，」 must not become one."""
    from corpus.image_loader import restore_article_spaces
    from corpus.laws import is_law
    from corpus.structure import Block

    law = [Block(f"第{n}条用人单位应当遵守本规定。", 0, 1) for n in "一二三"] + [Block("第四条中华人民共和国境内适用。", 0, 1)]
    restored = restore_article_spaces(law)
    assert [b.text[:4] for b in restored] == ["第一条 ", "第二条 ", "第三条 ", "第四条 "] and is_law(restored)
    prose = [Block("第三条用人单位应当遵守本规定。"), Block("第三条规定，工会应当维护职工权益。"), Block("其他内容。")]
    assert restore_article_spaces(prose) == prose  # fewer than three: not a law


def _tiny_scan(text: str):
    from tests.fixtures.office import render_lines

    return render_lines([(text, 0)], width=360).crop((0, 80, 360, 140))


def test_jpeg_and_multi_page_tiff() -> None:
    import io

    buffer = io.BytesIO()
    _tiny_scan("会费每月缴纳。").convert("RGB").save(buffer, format="JPEG", quality=90)
    jpeg = document_from_bytes(buffer.getvalue(), "照片.jpg")
    assert "会费每月缴纳" in jpeg.title + jpeg.text
    buffer = io.BytesIO()
    first, second = _tiny_scan("第一页会员入会。"), _tiny_scan("第二页会费缴纳。")
    first.save(buffer, format="TIFF", save_all=True, append_images=[second])
    tiff = document_from_bytes(buffer.getvalue(), "扫描.tif")
    assert tiff.metadata["ocr_pages"] == "1,2" and tiff.metadata["pages"] == "2"
    pages = {tiff.paragraph_text(p): p.page for p in tiff.paragraphs}
    assert pages.get("第二页会费缴纳。") == 2
