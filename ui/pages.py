"""Pages the server renders itself: the document view and the embed script."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import HTMLResponse, Response

from ui import render
from ui.asking import Asker

STATIC_DIR = Path(__file__).parent / "static"
# The document view is our own static HTML: it needs no script at all, so none may run,
# whatever a document contains.
DOCUMENT_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; base-uri 'none'; form-action 'none'"


def pages_router(asker: Asker, frame_ancestors: str) -> APIRouter:
    router = APIRouter(include_in_schema=False)

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
