"""Pages the server renders itself: the document view and the embed script."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import HTMLResponse, Response

from ui import page_image, render
from ui.asking import Asker

STATIC_DIR = Path(__file__).parent / "static"
# The document view is our own static HTML: it needs no script at all, so none may run,
# whatever a document contains.
DOCUMENT_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; base-uri 'none'; form-action 'none'"


def pages_router(asker: Asker, frame_ancestors: str, corpus_dir: Path | None = None,
                 uploads: Path | None = None) -> APIRouter:
    """`corpus_dir` and `uploads` are where the original files of OCR'd pages are looked for;
    without them no page image is served."""
    router = APIRouter(include_in_schema=False)

    # Before /doc/{doc_id:path}, which would take this path too.
    @router.get("/doc/{doc_id:path}/page/{number:int}.png")
    def page_png(doc_id: str, number: int) -> Response:
        doc = asker.bot.documents.get(doc_id)
        if doc is None or number not in page_image.ocr_pages(doc):
            raise HTTPException(status_code=404, detail="找不到该文档的这一页扫描原图。")
        path = None
        if corpus_dir is not None and uploads is not None:
            path = page_image.original_file(doc, corpus_dir, uploads)
        if path is None:
            raise HTTPException(status_code=404, detail="该文档的原文件已不在文档目录或上传目录中，无法显示原图。")
        try:
            png = page_image.render_page(path, number)
        except Exception:  # a file changed or damaged since it was indexed; its name is no use to a reader
            png = None
        if png is None:
            raise HTTPException(status_code=404, detail="原文件中没有这一页，或原文件已损坏，无法显示原图。")
        return Response(png, media_type="image/png", headers={
            "Content-Security-Policy": f"{DOCUMENT_CSP}; {frame_ancestors}", "Cache-Control": "private, max-age=300"})

    @router.get("/doc/{doc_id:path}", response_class=HTMLResponse)
    def document(doc_id: str, start: int | None = None, end: int | None = None, q: str = "") -> HTMLResponse:
        doc = asker.bot.documents.get(doc_id)  # the live index, read per request
        if doc is None:
            raise HTTPException(status_code=404, detail="找不到该文档。")
        page = render.document_page(doc, start, end, render.parse_quotes(q))
        return HTMLResponse(page, headers={"Content-Security-Policy": f"{DOCUMENT_CSP}; {frame_ancestors}"})

    @router.get("/embed.js")
    def embed_script() -> Response:
        return Response(
            (STATIC_DIR / "embed.js").read_text(encoding="utf-8"),
            media_type="text/javascript; charset=utf-8",
            headers={"Cache-Control": "public, max-age=3600"},
        )

    return router
