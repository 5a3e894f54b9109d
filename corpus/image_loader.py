"""Scans: photos and scanned pages (.png, .jpg, .tif) and PDF pages without a text layer,
read by OCR (corpus/ocr.py). Every page read so is listed in the document's metadata
(`ocr_pages`), so that a citation from it can say 「扫描件识别」."""

from __future__ import annotations

import io
import re
import warnings
from collections.abc import Sequence
from dataclasses import replace

from corpus.errors import LoadError
from corpus.ocr import DPI, MAX_OCR_PAGES, MAX_PIXELS, paragraphs, recognize, report_progress
from corpus.structure import (
    SENTENCE_END,
    Block,
    Parsed,
    heading_level,
    is_numbered_heading,
    looks_like_heading,
    starts_item,
)

OCR_PAGES_KEY = "ocr_pages"  # metadata: the pages read by OCR, "1,2,5"; "" or absent for none
_PARAGRAPH_END = SENTENCE_END + "：:”’」』）)"


def ocr_page_numbers(metadata: dict[str, str]) -> frozenset[int]:
    value = metadata.get(OCR_PAGES_KEY, "")
    return frozenset(int(part) for part in value.split(",") if part.strip().isdigit())


def page_blocks(lines_by_page: Sequence[tuple[int, list]]) -> list[Block]:
    """Blocks of OCR'd pages: paragraphs by the page's geometry, numbered headings (第一章) kept."""
    blocks = []
    for page, lines in lines_by_page:
        for text in paragraphs(lines, starts_item, lambda line: line[-1:] in _PARAGRAPH_END):
            level = heading_level(text) if is_numbered_heading(text) else 0
            blocks.append(Block(text, level, page))
    return blocks


# 第五条用人单位…: OCR drops the space that sets an article's number off its text, and without
# it corpus/laws.py (rightly, for prose such as 「第三条规定，…」) sees no article.
_ARTICLE_GLUED = re.compile(r"^(第[零〇一二两三四五六七八九十百千]+条(?:之[一二三四五六七八九十]+)?)(?=[^\s规的之所第、，,。至和或])")
_MIN_ARTICLES = 3  # as corpus/laws.is_law: fewer is prose that happens to open with 第X条


def restore_article_spaces(blocks: list[Block]) -> list[Block]:
    """OCR'd blocks with 「第X条 」 set off again, when at least three paragraphs open so (a law);
    otherwise unchanged."""
    glued = [b for b in blocks if not b.heading_level and _ARTICLE_GLUED.match(b.text)]
    if len(glued) < _MIN_ARTICLES:
        return blocks
    return [replace(b, text=_ARTICLE_GLUED.sub(r"\1 ", b.text, count=1)) if not b.heading_level else b
            for b in blocks]


def parse_image(data: bytes) -> Parsed:
    """A photo or a scan (.png, .jpg, .tif; every frame of a multi-page TIFF)."""
    from PIL import Image, UnidentifiedImageError

    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            frames = getattr(image, "n_frames", 1)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise LoadError(f"图片过大，超过 {MAX_PIXELS // 1_000_000} 百万像素的上限，疑似恶意构造的文件，已拒绝") from exc
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise LoadError("不是有效的图片文件（文件已损坏，或格式与扩展名不符）") from exc
    if frames > MAX_OCR_PAGES:
        raise LoadError(f"图片有 {frames} 页，超过 {MAX_OCR_PAGES} 页的上限")
    pages = []
    report_progress(0, frames)  # from here on each page has its own time limit
    for number in range(1, frames + 1):
        try:
            image.seek(number - 1)
            image.load()
            lines = recognize(image)
        except (OSError, ValueError, SyntaxError, EOFError) as exc:
            raise LoadError(f"图片第 {number} 页已损坏，无法读取") from exc
        pages.append((number, lines))
        report_progress(number, frames)
    blocks = restore_article_spaces(page_blocks(pages))
    if not blocks:
        raise LoadError("图片中没有识别出文字")
    title = ""
    if looks_like_heading(blocks[0].text) and len(blocks) > 1:
        title, blocks = blocks[0].text, blocks[1:]
    metadata = {"format": "image", "pages": str(frames), OCR_PAGES_KEY: ",".join(str(n) for n, _ in pages)}
    return Parsed(blocks, title, metadata)


def ocr_pdf_pages(data: bytes, numbers: Sequence[int], total: int) -> list[tuple[int, list]]:
    """The OCR lines of the given 1-based pages of a PDF, each rendered at DPI."""
    import pypdfium2 as pdfium

    if len(numbers) > MAX_OCR_PAGES:
        raise LoadError(f"PDF 有 {len(numbers)} 页扫描页，超过一次识别 {MAX_OCR_PAGES} 页的上限，请拆分后再添加")
    try:
        pdf = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        raise LoadError("PDF 的扫描页无法渲染（文件已损坏）") from exc
    result = []
    report_progress(0, total)  # from here on each page has its own time limit
    try:
        for number in numbers:
            try:
                page = pdf[number - 1]
                width, height = page.get_size()
                scale = DPI / 72
                if width * height * scale * scale > MAX_PIXELS:
                    raise LoadError(f"PDF 第 {number} 页尺寸过大，无法识别")
                image = page.render(scale=scale).to_pil()
            except pdfium.PdfiumError:
                result.append((number, []))  # a page that will not render loses that page only
            else:
                result.append((number, recognize(image)))
            report_progress(number, total)
    finally:
        pdf.close()
    return result
