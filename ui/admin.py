"""The admin page at /admin: list the documents of the live index, upload new
ones, remove old ones. Plain HTML forms, in Chinese, with nothing from outside.

- Off (every /admin path is a 404) unless `config.admin_token` is set.
- Signed in either with the header `Authorization: Bearer <token>` (scripts) or
  through the login form, which sets an HttpOnly, SameSite=Strict cookie
  holding an HMAC of the token (not the token itself). Form posts from another
  site's page are refused by their Origin header as well.
- Uploads are stored in `<index_dir>/uploads/` under a sanitized base name and
  indexed with `index.update.add_paths`, so an uploaded `会费.md` becomes the
  document `added/会费` and uploading it again updates it. A file that cannot
  be indexed is not kept.
- After each change the server's Asker loads the new version, so the chat
  answers from it at once.

Everything shown comes from users or documents and is escaped with html.escape.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import os
import re
import unicodedata
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from index.store import StoreError
from index.update import ADDED_PREFIX, STATUS_TEXT, FileResult, add_paths, added_id, remove_documents
from ui.asking import Asker
from ui.config import Config

STATIC_DIR = Path(__file__).parent / "static"
UPLOAD_SUFFIXES = (".txt", ".md", ".html", ".htm", ".docx", ".pdf")
MAX_FILES = 20  # per upload
MAX_NAME_CHARS = 100
COOKIE = "uq_admin"
# Our own script file only (no inline script), no framing, forms post only here.
ADMIN_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
# Control characters and what Windows or a shell would trip over.
_UNSAFE_CHARS = re.compile(r'[\x00-\x1f\x7f<>:"/\\|?*]')

CSS = """
body{font-family:"PingFang SC","Microsoft YaHei","Noto Sans CJK SC",sans-serif;margin:0;background:#f6f6f6;color:#222}
main{max-width:960px;margin:0 auto;padding:16px 20px 40px;background:#fff;min-height:100vh}
h1{font-size:22px;color:#b71c1c} h2{font-size:17px;margin-top:28px}
table{border-collapse:collapse;width:100%;font-size:14px} th,td{border-bottom:1px solid #ddd;padding:6px;text-align:left}
.ok{color:#1b5e20} .err{color:#b71c1c} .muted{color:#777;font-size:13px}
.busy{color:#b71c1c;font-weight:bold} button{cursor:pointer;white-space:nowrap}
td:last-child{width:1%}
"""


def uploads_dir(index_dir: Path) -> Path:
    return Path(index_dir) / "uploads"


def safe_filename(name: str) -> str:
    """The base name of an uploaded file, safe to store: no folders, no control
    or reserved characters, not hidden, not too long; "" if nothing usable is left."""
    base = re.split(r"[/\\]", unicodedata.normalize("NFC", name or ""))[-1]
    base = _UNSAFE_CHARS.sub("", base).strip().lstrip(".").strip()
    stem, suffix = os.path.splitext(base)
    if len(base) > MAX_NAME_CHARS:
        base = stem[: MAX_NAME_CHARS - len(suffix)] + suffix
    return base


def _session_value(token: str) -> str:
    return hmac.new(token.encode("utf-8"), b"unionqa admin session", hashlib.sha256).hexdigest()


def admin_router(asker: Asker, config: Config) -> APIRouter:
    router = APIRouter(prefix="/admin", include_in_schema=False)
    token = config.admin_token
    index_dir = Path(config.index_dir)
    limit = config.max_upload_mb * 1024 * 1024

    def denied(request: Request) -> HTMLResponse | None:
        """None if the request is signed in; otherwise the login page, 401 (no
        credentials) or 403 (wrong ones). A 404 when the admin page is off."""
        if not token:
            raise HTTPException(status_code=404, detail="Not Found")
        if request.method == "POST" and not _same_origin(request):
            return _page(_message("请求来自其他网站，已拒绝。", error=True), status=403)
        header = request.headers.get("authorization", "")
        cookie = request.cookies.get(COOKIE, "")
        if header.lower().startswith("bearer "):
            ok = hmac.compare_digest(header[7:].strip().encode("utf-8"), token.encode("utf-8"))
        elif cookie:
            ok = hmac.compare_digest(cookie.encode("utf-8"), _session_value(token).encode("utf-8"))
        else:
            return _page(_login_form(), status=401)
        return None if ok else _page(_login_form("口令不正确或登录已失效，请重新登录。"), status=403)

    def documents_page(results: list[FileResult] | None = None, note: str = "", status: int = 200) -> HTMLResponse:
        body = _results_html(results, note) + _upload_form(config.max_upload_mb) + _documents_html(asker)
        return _page(body, status=status)

    @router.get("", response_class=HTMLResponse)
    def home(request: Request) -> Response:
        return denied(request) or documents_page()

    @router.get("/admin.js")
    def script() -> Response:
        if not token:
            raise HTTPException(status_code=404, detail="Not Found")
        return Response((STATIC_DIR / "admin.js").read_text(encoding="utf-8"), media_type="text/javascript")

    @router.post("/login")
    async def login(request: Request) -> Response:
        if not token:
            raise HTTPException(status_code=404, detail="Not Found")
        if not _same_origin(request):
            return _page(_message("请求来自其他网站，已拒绝。", error=True), status=403)
        given = str((await request.form(max_files=0, max_fields=5)).get("token", ""))
        if not hmac.compare_digest(given.encode("utf-8"), token.encode("utf-8")):
            return _page(_login_form("口令不正确。"), status=403)
        response = RedirectResponse("/admin", status_code=303)
        response.set_cookie(COOKIE, _session_value(token), httponly=True, samesite="strict", path="/admin")
        return response

    @router.post("/logout")
    def logout(request: Request) -> Response:
        response = denied(request) or RedirectResponse("/admin", status_code=303)
        response.delete_cookie(COOKIE, path="/admin")
        return response

    @router.post("/upload", response_class=HTMLResponse)
    async def upload(request: Request) -> Response:
        # Signed in first, then the body: a stranger's upload is never even read.
        if refusal := denied(request):
            return refusal
        if int(request.headers.get("content-length") or 0) > MAX_FILES * (limit + 1024 * 1024):
            note = f"上传内容太大：每次最多 {MAX_FILES} 个文件，每个不超过 {config.max_upload_mb} MB。"
            return documents_page(note=note, status=413)
        refused, saved = [], {}
        async with request.form(max_files=MAX_FILES, max_fields=MAX_FILES) as form:
            for upload in form.getlist("files"):
                if not isinstance(upload, UploadFile) or not upload.filename:
                    continue
                name, problem = await _store_upload(upload, index_dir, limit, config.max_upload_mb)
                if problem:
                    refused.append(FileResult(name or upload.filename, "", "error", problem))
                else:
                    saved[str(uploads_dir(index_dir) / name)] = name
        if not refused and not saved:
            return documents_page(note="请选择要上传的文件。")
        results: list[FileResult] = []
        if saved:
            try:
                report = await run_in_threadpool(
                    add_paths, index_dir, [Path(p) for p in saved], _settings(asker), asker.indexing_embedder(), False
                )
            except StoreError as exc:
                _discard(list(saved))
                return documents_page(refused, note=f"索引未能更新：{exc}")
            _discard([r.name for r in report.errors])
            results = [FileResult(saved.get(r.name, r.name), r.doc_id, r.status, r.reason, r.chunks) for r in report.results]
            await run_in_threadpool(asker.reload)
        return documents_page(results + refused)

    @router.post("/remove", response_class=HTMLResponse)
    async def remove(request: Request) -> Response:
        if refusal := denied(request):
            return refusal
        doc_id = str((await request.form(max_files=0, max_fields=5)).get("doc_id", ""))
        document = asker.bot.documents.get(doc_id)
        try:
            report = await run_in_threadpool(remove_documents, index_dir, [doc_id], _settings(asker))
        except StoreError as exc:
            return documents_page(note=str(exc))
        if document is not None:
            _discard_upload_of(index_dir, doc_id, document.source)
        await run_in_threadpool(asker.reload)
        titled = [FileResult(f"《{document.title}》" if document else doc_id, r.doc_id, r.status) for r in report.results]
        return documents_page(titled)

    return router


# ----- uploads ----------------------------------------------------------------------


async def _store_upload(upload: UploadFile, index_dir: Path, limit: int, limit_mb: int) -> tuple[str, str]:
    """(stored name, "") or (name, why it was refused)."""
    name = safe_filename(upload.filename or "")
    if not name:
        return "", "文件名无效"
    suffix = os.path.splitext(name)[1].lower()
    if suffix not in UPLOAD_SUFFIXES:
        return name, f"不支持的文件类型 {suffix or '（无扩展名）'}，只接受 {'、'.join(UPLOAD_SUFFIXES)}"
    data = await upload.read(limit + 1)
    if len(data) > limit:
        return name, f"文件太大（超过 {limit_mb} MB）"
    folder = uploads_dir(index_dir)
    folder.mkdir(parents=True, exist_ok=True)
    # Hidden while written, so a half-written file is never taken for a document.
    partial = folder / f".{name}.part"
    partial.write_bytes(data)
    os.replace(partial, folder / name)
    return name, ""


def _discard(paths: list[str]) -> None:
    for path in paths:
        Path(path).unlink(missing_ok=True)


def _discard_upload_of(index_dir: Path, doc_id: str, source: str) -> None:
    """Delete the uploaded file of a removed document, if it came from the uploads folder."""
    path = uploads_dir(index_dir) / source
    if doc_id.startswith(ADDED_PREFIX) and Path(source).name == source and added_id(path) == doc_id:
        path.unlink(missing_ok=True)


def _settings(asker: Asker):
    # The settings of the index the bot answers from, which the loaded model matches.
    return asker.bot.store.manifest.settings


def _same_origin(request: Request) -> bool:
    """Browsers send Origin with form posts; one from another site is a forged request."""
    origin = request.headers.get("origin")
    return origin is None or urlsplit(origin).netloc == request.headers.get("host", "")


# ----- HTML ---------------------------------------------------------------------------


def _page(body: str, status: int = 200) -> HTMLResponse:
    page = (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>文档管理 - 工会知识问答</title><style>{CSS}</style>'
        '<script src="/admin/admin.js" defer></script></head>'
        f'<body><main><h1>文档管理</h1>{body}<p class="muted"><a href="/">返回问答</a></p></main></body></html>'
    )
    return HTMLResponse(page, status_code=status, headers={"Content-Security-Policy": ADMIN_CSP, "Cache-Control": "no-store"})


def _message(text: str, error: bool = False) -> str:
    return f'<p class="{"err" if error else "ok"}">{html.escape(text)}</p>'


def _login_form(problem: str = "") -> str:
    return (
        (_message(problem, error=True) if problem else "<p>请输入管理口令。</p>")
        + '<form method="post" action="/admin/login">'
        '<input type="password" name="token" autocomplete="current-password" required aria-label="管理口令"> '
        '<button type="submit">登录</button></form>'
    )


def _results_html(results: list[FileResult] | None, note: str) -> str:
    items = []
    for r in results or []:
        css = "err" if r.status == "error" else "ok"
        detail = r.reason if r.status == "error" else (f"{r.doc_id}，{r.chunks} 个段落" if r.chunks else r.doc_id)
        items.append(
            f'<li class="{css}"><b>{html.escape(r.name)}</b>：{html.escape(STATUS_TEXT[r.status])}'
            f"（{html.escape(detail)}）</li>"
        )
    parts = [_message(note, error=True)] if note else []
    if items:
        parts.append(f'<h2>处理结果</h2><ul id="results">{"".join(items)}</ul>')
    return "".join(parts)


def _upload_form(max_mb: int) -> str:
    return (
        "<h2>上传文档</h2>"
        '<form method="post" action="/admin/upload" enctype="multipart/form-data" class="uq-busy-form">'
        f'<input type="file" name="files" multiple required accept="{",".join(UPLOAD_SUFFIXES)}"> '
        '<button type="submit">上传并建立索引</button> '
        '<span class="busy" hidden>正在建立索引…请稍候，完成前不要关闭页面。</span></form>'
        f'<p class="muted">支持 {"、".join(UPLOAD_SUFFIXES)}，每个文件不超过 {max_mb} MB，每次最多 {MAX_FILES} 个。'
        "同名文件再次上传会更新原文档。</p>"
    )


def _documents_html(asker: Asker) -> str:
    bot = asker.bot
    rows = []
    for doc_id, doc in sorted(bot.documents.items()):
        chunks = (bot.store.manifest.documents.get(doc_id) or {}).get("chunks", "")
        rows.append(
            f"<tr><td>{html.escape(doc_id)}</td><td>{html.escape(doc.title)}</td><td>{html.escape(str(chunks))}</td>"
            f"<td>{html.escape(doc.source)}</td><td>"
            '<form method="post" action="/admin/remove" class="uq-busy-form" '
            f'data-confirm="{html.escape("确定从知识库中移除《" + doc.title + "》吗？")}">'
            f'<input type="hidden" name="doc_id" value="{html.escape(doc_id)}">'
            '<button type="submit">移除</button><span class="busy" hidden>正在更新索引…</span></form></td></tr>'
        )
    return (
        f"<h2>知识库中的文档（{len(rows)} 篇）</h2>"
        "<table><thead><tr><th>编号</th><th>标题</th><th>段落数</th><th>来源</th><th></th></tr></thead>"
        f'<tbody id="documents">{"".join(rows)}</tbody></table>'
        '<form method="post" action="/admin/logout"><p><button type="submit">退出登录</button></p></form>'
    )
