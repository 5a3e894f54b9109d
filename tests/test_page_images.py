"""The page image beside OCR text in the document view (issue 20): 「查看第 N 页原图」 links to
/doc/{id}/page/{n}.png, which renders that page of the original file from the corpus or uploads
folder, and nothing else. Over HTTP on the real server; the OCR of the fixture takes seconds."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path
from urllib.parse import quote, urljoin

import httpx
import pytest
from PIL import Image

from bot.bot import Bot
from corpus.records import Document
from index.build import build_index
from index.store.folder import IndexStore
from tests.fixtures.office import RED_HEADER_LINES, mixed_pdf, render_page
from ui import page_image
from ui.config import Config
from ui.server import bind_socket, create_app, running

from .conftest import SETTINGS

DOC_ID = "通知/附件"


@pytest.fixture(scope="module")
def served(tmp_path_factory, embedder):
    root = tmp_path_factory.mktemp("page-images")
    corpus = root / "corpus"
    (corpus / "通知").mkdir(parents=True)
    (corpus / "通知" / "附件.pdf").write_bytes(mixed_pdf(render_page(RED_HEADER_LINES[:6])))
    (root / "secret.pdf").write_bytes(mixed_pdf(render_page(RED_HEADER_LINES[:6])))  # beside the corpus, never to be served
    build_index(corpus, root / "index", SETTINGS, embedder, progress=False)
    bot = Bot(IndexStore.load(root / "index"), embedder)
    config = Config(corpus_dir=corpus, index_dir=root / "index", feedback_log=root / "feedback.jsonl")
    with running(create_app(config, bot), bind_socket()) as url, httpx.Client(base_url=url, timeout=60) as client:
        yield client, bot, corpus


def page_url(doc_id: str, number: int) -> str:
    return f"/doc/{quote(doc_id, safe='/')}/page/{number}.png"


@pytest.mark.slow  # the OCR of the served fixture
def test_the_document_view_links_each_scanned_page_to_its_image(served) -> None:
    client, bot, _ = served
    assert bot.documents[DOC_ID].metadata["ocr_pages"] == "2"
    view = client.get("/doc/" + quote(DOC_ID, safe="/"))
    assert view.status_code == 200
    assert "查看第 2 页原图" in view.text and "查看第 1 页原图" not in view.text  # page 1 has its own text
    href = view.text.split('class="page-image" href="')[1].split('"')[0]
    image = client.get(urljoin(str(view.url), href))  # as the browser resolves the relative link
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert image.url.path == f"/doc/{DOC_ID}/page/2.png"
    assert "default-src 'none'" in image.headers["content-security-policy"]
    assert image.headers["x-content-type-options"] == "nosniff"
    picture = Image.open(io.BytesIO(image.content))
    # an A4 page at 110 dpi: 210 mm = 8.27 in → 909 px wide
    assert 880 <= picture.width <= 940 and max(picture.size) <= page_image.MAX_SIDE
    # the page shows the scan: dark text on white, not a blank render
    assert picture.convert("L").getextrema()[0] < 100


@pytest.mark.slow  # the OCR of the served fixture
def test_pages_not_read_by_ocr_and_unknown_ids_are_404(served) -> None:
    client, _, _ = served
    for path in (page_url(DOC_ID, 1), page_url(DOC_ID, 3), page_url(DOC_ID, 0), page_url("没有的文档", 1)):
        response = client.get(path)
        assert response.status_code == 404, path
        assert "找不到" in response.text
    assert client.get(f"/doc/{quote(DOC_ID, safe='/')}/page/abc.png").status_code == 404


@pytest.mark.slow  # the OCR of the served fixture
def test_a_traversal_never_reaches_a_file_outside_the_folders(served, monkeypatch) -> None:
    client, bot, _ = served
    for raw in ("/doc/..%2F..%2Fsecret/page/2.png", "/doc/%2E%2E/%2E%2E/secret/page/2.png"):
        assert client.get(raw).status_code == 404
    # an index whose document points outside the corpus (a crafted or stale source)
    outside = dataclasses.replace(bot.documents[DOC_ID], source="../secret.pdf")
    monkeypatch.setitem(bot.documents, DOC_ID, outside)
    response = client.get(page_url(DOC_ID, 2))
    assert response.status_code == 404 and "原文件已不在" in response.text


@pytest.mark.slow  # the OCR of the served fixture
def test_a_missing_original_is_a_clear_chinese_404(served) -> None:
    client, _, corpus = served
    original = corpus / "通知" / "附件.pdf"
    moved = original.with_suffix(".moved")
    original.rename(moved)
    try:
        response = client.get(page_url(DOC_ID, 2))
        assert response.status_code == 404
        assert "原文件已不在文档目录或上传目录中" in response.text
    finally:
        moved.rename(original)
    assert client.get(page_url(DOC_ID, 2)).status_code == 200


def test_an_upload_is_found_in_the_uploads_folder_only(tmp_path: Path) -> None:
    corpus, uploads = tmp_path / "corpus", tmp_path / "index" / "uploads"
    corpus.mkdir()
    uploads.mkdir(parents=True)
    (uploads / "扫描.png").write_bytes(b"png")
    (corpus / "扫描.png").write_bytes(b"png")
    upload = Document("added/扫描", "扫描", "扫描.png", "", ())
    assert page_image.original_file(upload, corpus, uploads) == (uploads / "扫描.png").resolve()
    for source in ("../corpus/扫描.png", "/etc/passwd", "sub/扫描.png"):
        assert page_image.original_file(dataclasses.replace(upload, source=source), corpus, uploads) is None
    in_corpus = Document("扫描", "扫描", "扫描.png", "", ())
    assert page_image.original_file(in_corpus, corpus, uploads) == (corpus / "扫描.png").resolve()
    assert page_image.original_file(dataclasses.replace(in_corpus, source="../index/uploads/扫描.png"),
                                    corpus, uploads) is None


def test_an_image_frame_is_rendered_within_the_pixel_cap(tmp_path: Path) -> None:
    big = Image.new("RGB", (5000, 3000), "white")
    frames = [big, Image.new("RGB", (800, 600), "black")]
    path = tmp_path / "两页.tif"
    frames[0].save(path, save_all=True, append_images=frames[1:])
    first = Image.open(io.BytesIO(page_image.render_page(path, 1)))
    assert max(first.size) == page_image.MAX_SIDE
    second = Image.open(io.BytesIO(page_image.render_page(path, 2)))
    assert second.size == (800, 600)
    assert page_image.render_page(path, 3) is None
