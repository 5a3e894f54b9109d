"""A page of an OCR'd document's original file as a PNG, rendered on demand for the document
view (issue 20: 「查看第 N 页原图」 beside the recognised text, so a reader can check it).

Only pages the index says were read by OCR are served, and only from a file inside the corpus
folder or the uploads folder: the path comes from the indexed document's `source`, never from
the request, and is checked to resolve inside its folder."""

from __future__ import annotations

import io
from pathlib import Path, PurePosixPath

from corpus.image_loader import ocr_page_numbers
from corpus.records import Document
from index.build import ADDED_PREFIX

DPI = 110  # legible on a screen, a few hundred KB per A4 page
MAX_SIDE = 2000  # pixels, whatever the page size or the image's own resolution
PDF_SUFFIXES = {".pdf"}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff"}


def ocr_pages(document: Document) -> list[int]:
    return sorted(ocr_page_numbers(document.metadata))


def original_file(document: Document, corpus_dir: Path, uploads: Path) -> Path | None:
    """The document's file: an upload (source is its bare name) in `uploads`, any other document
    at `source` under `corpus_dir`; None when it is gone or would lie outside its folder."""
    source = document.source
    if not source or "\x00" in source:
        return None
    if document.doc_id.startswith(ADDED_PREFIX):
        if PurePosixPath(source).name != source:
            return None  # added from elsewhere by the command line: not kept by the server
        folder = uploads
    else:
        folder = corpus_dir
    try:
        base = Path(folder).resolve()
        path = (base / source).resolve()
    except (OSError, RuntimeError):
        return None
    if not path.is_relative_to(base) or not path.is_file():
        return None
    return path


def render_page(path: Path, number: int) -> bytes | None:
    """Page `number` (1-based) of a PDF or a frame of an image, as PNG; None if there is no such page."""
    suffix = path.suffix.lower()
    if suffix in PDF_SUFFIXES:
        image = _pdf_page(path, number)
    elif suffix in IMAGE_SUFFIXES:
        image = _image_frame(path, number)
    else:
        return None
    if image is None:
        return None
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()


def _pdf_page(path: Path, number: int):
    import pypdfium2

    pdf = pypdfium2.PdfDocument(str(path))
    try:
        if not 1 <= number <= len(pdf):
            return None
        page = pdf[number - 1]
        width, height = page.get_size()  # in points, 1/72 inch
        scale = min(DPI / 72, MAX_SIDE / max(width, height, 1))
        return page.render(scale=scale).to_pil().convert("RGB")
    finally:
        pdf.close()


def _image_frame(path: Path, number: int):
    from PIL import Image

    with Image.open(path) as image:
        if not 1 <= number <= getattr(image, "n_frames", 1):
            return None
        image.seek(number - 1)
        image.draft("RGB", (MAX_SIDE, MAX_SIDE))  # JPEG: decode at a reduced size
        frame = image.convert("RGB")
    frame.thumbnail((MAX_SIDE, MAX_SIDE))
    return frame
