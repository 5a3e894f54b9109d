"""OCR of page images (scanned PDF pages, photos, .png/.jpg/.tif) with RapidOCR.

RapidOCR runs PP-OCR's detection, direction and recognition models on onnxruntime;
its wheel carries the models, so nothing is fetched at run time. It runs where the
file's parser runs: inside the parse worker (corpus/sandbox.py), under its memory cap
and per-page time limit.

The recognizer returns one box per run of text. Boxes are put back into lines (by
vertical overlap) and lines into paragraphs by the page's geometry, not by counting
characters: a line that reaches the right margin without ending a sentence is
continued by the next, unless that one is indented or opens an item (第X条, （一）).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from corpus.errors import LoadError

DPI = 150  # scanned pages are rendered at this resolution; PP-OCR reads 10-pt text well from it
MAX_PIXELS = 60_000_000  # a page or photo larger than this is refused (a decompression bomb)
MAX_OCR_PAGES = 500  # per file; a scanned book is split by its owner, not OCR'd for hours
MIN_SCORE = 0.5  # recognitions below this confidence are noise (stamps, specks, seal text)

# Called after each page: (page number, pages in the file). The parse worker sets it to
# report progress to its parent, which shows the bar and restarts the page's time limit.
ProgressHook = Callable[[int, int], None]
_progress: ProgressHook | None = None


def set_progress(hook: ProgressHook | None) -> None:
    global _progress
    _progress = hook


def report_progress(page: int, pages: int) -> None:
    if _progress is not None:
        _progress(page, pages)


@dataclass(frozen=True)
class OcrLine:
    text: str
    x0: float
    y0: float
    x1: float
    y1: float


_engine = None
_engine_lock = threading.Lock()


def _ocr_engine():
    """One RapidOCR engine per process (loading its three models takes a second or two)."""
    global _engine
    with _engine_lock:
        if _engine is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            try:
                from rapidocr import RapidOCR
            except ImportError as exc:  # pragma: no cover - a broken install
                raise LoadError("文字识别（OCR）组件未安装：请运行 make setup（需要 rapidocr）") from exc
            logging.getLogger("RapidOCR").setLevel(logging.ERROR)
            _engine = RapidOCR(params={"Global.log_level": "error"})
            logging.getLogger("RapidOCR").setLevel(logging.ERROR)
        return _engine


def recognize(image) -> list[OcrLine]:
    """The text lines of one page image (a PIL image), in reading order."""
    import numpy as np

    width, height = image.size
    if width * height > MAX_PIXELS:
        raise LoadError(f"图片过大（{width}×{height} 像素），超过 {MAX_PIXELS // 1_000_000} 百万像素的上限，已拒绝")
    array = np.asarray(image.convert("RGB"))
    result = _ocr_engine()(array)
    boxes = getattr(result, "boxes", None)
    texts = getattr(result, "txts", None)
    scores = getattr(result, "scores", None)
    if boxes is None or texts is None:
        return []
    pieces = []
    for box, text, score in zip(boxes, texts, scores if scores is not None else [1.0] * len(texts), strict=False):
        text = text.strip()
        if not text or score < MIN_SCORE:
            continue
        xs = [float(p[0]) for p in box]
        ys = [float(p[1]) for p in box]
        pieces.append(OcrLine(text, min(xs), min(ys), max(xs), max(ys)))
    return reading_order(pieces)


def reading_order(pieces: Iterable[OcrLine]) -> list[OcrLine]:
    """Boxes merged into lines, top to bottom, each line's boxes left to right: boxes
    whose vertical extents overlap by more than half the smaller height share a line."""
    lines: list[list[OcrLine]] = []
    for piece in sorted(pieces, key=lambda p: (p.y0 + p.y1) / 2):
        if lines:
            last = lines[-1]
            top = min(p.y0 for p in last)
            bottom = max(p.y1 for p in last)
            overlap = min(bottom, piece.y1) - max(top, piece.y0)
            if overlap > 0.5 * min(bottom - top, piece.y1 - piece.y0):
                last.append(piece)
                continue
        lines.append([piece])
    merged = []
    for line in lines:
        line.sort(key=lambda p: p.x0)
        text = _join_boxes(line)
        merged.append(OcrLine(text, line[0].x0, min(p.y0 for p in line), max(p.x1 for p in line),
                              max(p.y1 for p in line)))
    return merged


def _join_boxes(boxes: list[OcrLine]) -> str:
    text = boxes[0].text
    for box in boxes[1:]:
        # Latin words keep a space between boxes; Chinese runs are written without one
        glue = " " if text[-1:].isascii() and text[-1:].isalnum() and box.text[:1].isascii() else ""
        text += glue + box.text
    return text


def paragraphs(lines: list[OcrLine], opens_item: Callable[[str], bool], ends_paragraph: Callable[[str], bool]
               ) -> list[str]:
    """The paragraphs of one page's lines, by geometry: a line continues the paragraph when
    the previous line ran to the right margin and did not end a sentence, and it is neither
    indented nor the start of an item."""
    if not lines:
        return []
    left = min(line.x0 for line in lines)
    right = max(line.x1 for line in lines)
    heights = sorted(line.y1 - line.y0 for line in lines)
    char = heights[len(heights) // 2] or 1.0  # a CJK character is about as wide as the line is high
    result = [lines[0].text]
    previous = lines[0]
    for line in lines[1:]:
        full = previous.x1 >= right - 1.5 * char
        indented = line.x0 > left + 1.2 * char
        gap = line.y0 - previous.y1 > 1.2 * char  # a blank line between them
        if full and not indented and not gap and not ends_paragraph(previous.text) and not opens_item(line.text):
            glue = " " if result[-1][-1:].isascii() and result[-1][-1:].isalnum() and line.text[:1].isascii() else ""
            result[-1] += glue + line.text
        else:
            result.append(line.text)
        previous = line
    return result
