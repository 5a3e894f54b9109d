"""The admin page at /admin: list the documents of the live index, upload new
ones, remove old ones. Plain HTML forms, in Chinese, with nothing from outside.

- Off (every /admin path is a 404) unless `config.admin_token` is set.
- Signed in either with the header `Authorization: Bearer <token>` (scripts) or
  through the login form, which sets an HttpOnly, SameSite=Strict cookie holding
  a random session id (ui.sessions) that expires and is revoked on logout; the
  cookie is Secure when the page is served over HTTPS (or behind a proxy saying
  so). Wrong tokens are throttled per client address (429 with Retry-After).
  Form posts from another site's page are refused by their Origin header as well.
- Uploads are staged in `<index_dir>/uploads/.staging/` and indexed from there
  with `index.update.add_paths`; only once the new version is in the index does
  the file replace the stored one in `<index_dir>/uploads/` (so an uploaded
  `会费.md` becomes the document `added/会费` and uploading it again updates it).
  A file that cannot be indexed is dropped and the stored original kept. Uploads
  are never deleted but by a removal on this page: the clean-up of leftovers runs
  only after a successful save and spares every file an index version refers to
  (ui/uploads.py); at start, an indexed upload a killed server left in staging is
  moved into place.
- The index cannot be written (permission denied, disk full, the lock held too
  long): the page says so in Chinese, with the cause, and nothing is lost.
- After each change the server's Asker loads the new version, so the chat
  answers from it at once.

The page is the Jinja2 template `templates/admin.html`, with autoescape.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import unicodedata
import uuid
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from corpus.loader import without_format_chars
from index.store.errors import StoreError
from index.update import ADDED_PREFIX, STATUS_TEXT, FileResult, add_paths, added_id, remove_documents
from ui.asking import Asker
from ui.auth import bearer_token, token_matches
from ui.config import Config
from ui.console import add_console_routes
from ui.curated_admin import curated_router
from ui.errors import storage_message
from ui.questionlog import QuestionLog
from ui.render import listed_title
from ui.sessions import LoginThrottle, SessionStore, client_address, is_https
from ui.templating import render_page
from ui.uploads import (
    StagingFolders,
    clean_uploads,
    recover_staged,
    staging_dir,
    unindexed_uploads,
    uploads_dir,
)

STATIC_DIR = Path(__file__).parent / "static"
UPLOAD_SUFFIXES = (".txt", ".md", ".html", ".htm", ".docx", ".pdf", ".doc", ".wps", ".xlsx", ".xls", ".csv", ".pptx",
                   ".png", ".jpg", ".jpeg", ".tif", ".tiff")
MAX_FILES = 20  # per upload
MAX_NAME_CHARS = 100
# ext4 and most Linux file systems allow 255 *bytes* a name: 85 Chinese characters in UTF-8
MAX_NAME_BYTES = 255
COOKIE = "uq_admin"
# Our own script file only (no inline script), no framing, forms post only here.
ADMIN_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
# Control characters and what Windows or a shell would trip over.
_UNSAFE_CHARS = re.compile(r'[\x00-\x1f\x7f<>:"/\\|?*]')

def safe_filename(name: str) -> str:
    """The base name of an uploaded file, safe to store: no folders, no control,
    format (invisible: RTL override, zero-width) or reserved characters, not hidden,
    at most MAX_NAME_CHARS characters; "" if nothing usable is left. (Its length in
    bytes is checked apart, with its own message: `name_too_long`.)"""
    base = re.split(r"[/\\]", unicodedata.normalize("NFC", name or ""))[-1]
    base = without_format_chars(_UNSAFE_CHARS.sub("", base)).strip().lstrip(".").strip()
    stem, suffix = os.path.splitext(base)
    if len(base) > MAX_NAME_CHARS:
        base = stem[: MAX_NAME_CHARS - len(suffix)] + suffix
    return base


def name_too_long(name: str) -> str:
    """The Chinese reason a stored name would be refused by the file system, or ""."""
    size = len(name.encode("utf-8"))
    if size <= MAX_NAME_BYTES:
        return ""
    return (f"文件名太长（{size} 字节），服务器的文件系统最多允许 {MAX_NAME_BYTES} 字节"
            f"（约 {MAX_NAME_BYTES // 3} 个汉字），请改短文件名后重新上传")


def upload_body_limit(max_upload_mb: int) -> int:
    """Bytes one upload request may have: MAX_FILES files of the largest size, with room
    for the multipart framing."""
    return MAX_FILES * (max_upload_mb + 1) * 1024 * 1024


def admin_router(asker: Asker, config: Config, throttle: LoginThrottle | None = None,
                 question_log: QuestionLog | None = None) -> APIRouter:
    """The /admin routes; `throttle` counts wrong tokens per address, shared with /api/ready;
    `question_log` (when questions are logged) feeds the staff console (ui/console.py)."""
    router = APIRouter(prefix="/admin", include_in_schema=False)
    token = config.admin_token
    index_dir = Path(config.index_dir)
    limit = config.max_upload_mb * 1024 * 1024
    sessions = SessionStore()
    throttle = throttle or LoginThrottle()
    staged = StagingFolders()
    if token:
        recover_staged(index_dir, {doc_id: entry["hash"] for doc_id, entry in asker.bot.store.manifest.documents.items()
                                   if doc_id.startswith(ADDED_PREFIX)})

    def denied(request: Request) -> HTMLResponse | None:
        """None if the request is signed in; otherwise the login page, 401 (no
        credentials) or 403 (wrong ones). A 404 when the admin page is off."""
        if not token:
            raise HTTPException(status_code=404, detail="Not Found")
        if request.method == "POST" and not _same_origin(request):
            return _page(note="请求来自其他网站，已拒绝。", status=403)
        given = bearer_token(request)
        cookie = request.cookies.get(COOKIE, "")
        if given is not None:
            right, wait = throttle.check(client_address(request), lambda: token_matches(given, token))
            if right:
                return None
            return _too_many(wait) if wait else _page(login=True, note="口令不正确。", status=403)
        if cookie:
            if sessions.valid(cookie):
                return None
            return _page(login=True, note="登录已失效，请重新登录。", status=403)
        return _page(login=True, status=401)

    def documents_page(results: list[FileResult] | None = None, note: str = "", status: int = 200) -> HTMLResponse:
        return _page(results=results, note=note, status=status, asker=asker, max_mb=config.max_upload_mb,
                     index_dir=index_dir)

    router.include_router(curated_router(asker, config, denied))  # /admin/curated: approved answers

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
            return _page(note="请求来自其他网站，已拒绝。", status=403)
        client = client_address(request)
        # Counted from its start, before its body is read (issue 22): parallel guesses
        # cannot all pass the check before the first of them is answered.
        wait, ticket = throttle.begin(client)
        if wait:
            return _too_many(wait)  # not even compared: a guesser learns nothing while waiting
        right = False
        try:
            given = str((await request.form(max_files=0, max_fields=5)).get("token", ""))
            # checked again now that the token is here: guesses made while it was on its way count
            if wait := throttle.recheck(client, ticket):
                return _too_many(wait)
            right = token_matches(given, token)
        finally:
            throttle.end(client, right)
        if not right:
            wait = throttle.retry_after(client)
            return _too_many(wait) if wait else _page(login=True, note="口令不正确。", status=403)
        response = RedirectResponse("/admin", status_code=303)
        response.set_cookie(COOKIE, sessions.create(), max_age=int(sessions.lifetime), httponly=True,
                            samesite="strict", path="/admin", secure=is_https(request))
        return response

    @router.post("/logout")
    def logout(request: Request) -> Response:
        # A refused logout (another site's form, a wrong token) changes nothing: revoking the
        # session anyway would let any page sign the admin out (issue 22).
        if refusal := denied(request):
            return refusal
        response = RedirectResponse("/admin", status_code=303)
        sessions.revoke(request.cookies.get(COOKIE, ""))
        response.delete_cookie(COOKIE, path="/admin", httponly=True, samesite="strict", secure=is_https(request))
        return response

    @router.post("/upload", response_class=HTMLResponse)
    async def upload(request: Request) -> Response:
        # Signed in first, then the body: a stranger's upload is never even read.
        if refusal := denied(request):
            return refusal
        if int(request.headers.get("content-length") or 0) > upload_body_limit(config.max_upload_mb):
            note = f"上传内容太大：每次最多 {MAX_FILES} 个文件，每个不超过 {config.max_upload_mb} MB。"
            return documents_page(note=note, status=413)
        refused, saved = [], {}
        # Staged in a folder of this upload's own: the stored originals are untouched until indexed.
        staging = staging_dir(index_dir) / uuid.uuid4().hex
        staged.register(staging)
        indexed = False
        try:
            async with request.form(max_files=MAX_FILES, max_fields=MAX_FILES) as form:
                for upload in form.getlist("files"):
                    if not isinstance(upload, UploadFile) or not upload.filename:
                        continue
                    name, problem = await _stage_upload(upload, staging, limit, config.max_upload_mb)
                    if problem:
                        refused.append(FileResult(name or upload.filename, "", "error", problem))
                    else:
                        saved[str(staging / name)] = name
            if not refused and not saved:
                return documents_page(note="请选择要上传的文件。")
            results: list[FileResult] = []
            if saved:
                report = await run_in_threadpool(
                    add_paths, index_dir, [Path(p) for p in saved], _settings(asker), asker.indexing_embedder(), False,
                    store=config.store,
                )
                # Indexed: now the new versions replace the stored files (those that failed never do).
                for r in report.results:
                    if r.status != "error" and r.name in saved:
                        os.replace(r.name, uploads_dir(index_dir) / saved[r.name])
                results = [FileResult(saved.get(r.name, r.name), r.doc_id, r.status, r.reason, r.chunks)
                           for r in report.results]
                indexed = bool(report.version)
                await run_in_threadpool(asker.reload)
        except (StoreError, OSError) as exc:
            return documents_page(refused, note=f"索引未能更新，原有文档均未改动：{storage_message(exc)}", status=503)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
            staged.release(staging)
        if indexed:  # only after a successful save (ui/uploads.py)
            await run_in_threadpool(clean_uploads, index_dir, staged)
        return documents_page(results + refused)

    @router.post("/remove", response_class=HTMLResponse)
    async def remove(request: Request) -> Response:
        if refusal := denied(request):
            return refusal
        doc_id = str((await request.form(max_files=0, max_fields=5)).get("doc_id", ""))
        document = asker.bot.documents.get(doc_id)
        try:
            report = await run_in_threadpool(remove_documents, index_dir, [doc_id], _settings(asker),
                                             store=config.store)
        except (StoreError, OSError) as exc:
            return documents_page(note=f"索引未能更新，文档未移除：{storage_message(exc)}", status=503)
        if document is not None:
            _discard_upload_of(index_dir, doc_id, document.source)  # the one explicit deletion
        await run_in_threadpool(asker.reload)
        if report.version:
            await run_in_threadpool(clean_uploads, index_dir, staged)
        titled = [FileResult(f"《{document.title}》" if document else doc_id, r.doc_id, r.status) for r in report.results]
        return documents_page(titled)

    add_console_routes(router, denied, asker, question_log, config.console_group_distance)
    return router


# ----- uploads ----------------------------------------------------------------------


async def _stage_upload(upload: UploadFile, staging: Path, limit: int, limit_mb: int) -> tuple[str, str]:
    """(staged name, "") or (name, why it was refused)."""
    name = safe_filename(upload.filename or "")
    if not name:
        return "", "文件名无效"
    if too_long := name_too_long(name):
        return name, too_long
    suffix = os.path.splitext(name)[1].lower()
    if suffix not in UPLOAD_SUFFIXES:
        return name, f"不支持的文件类型 {suffix or '（无扩展名）'}，只接受 {'、'.join(UPLOAD_SUFFIXES)}"
    data = await upload.read(limit + 1)
    if len(data) > limit:
        return name, f"文件太大（超过 {limit_mb} MB）"
    if (staging / name).exists():
        return name, "同一批上传中有同名文件"
    staging.mkdir(parents=True, exist_ok=True)
    try:
        (staging / name).write_bytes(data)
    except OSError as exc:
        if exc.errno not in (errno.ENAMETOOLONG, errno.EINVAL, errno.EILSEQ):
            raise  # the disk or the folder's permissions: the whole upload stops, with the cause
        # this file's name only (a file system with other rules): the rest of the batch goes on
        (staging / name).unlink(missing_ok=True)
        return name, "文件名不被服务器的文件系统接受，请改用较短的、常见字符的文件名后重新上传"
    return name, ""


def _discard_upload_of(index_dir: Path, doc_id: str, source: str) -> None:
    """Delete the uploaded file of a removed document, if it came from the uploads folder."""
    path = uploads_dir(index_dir) / source
    if doc_id.startswith(ADDED_PREFIX) and Path(source).name == source and added_id(path) == doc_id:
        path.unlink(missing_ok=True)


def _settings(asker: Asker):
    # The settings of the index the bot answers from, which the loaded model matches.
    return asker.bot.store.manifest.settings


def _same_origin(request: Request) -> bool:
    """Browsers send Origin with form posts (a few only Referer); one from another site is
    a forged request. Scheme, host and port are compared, default ports filled in, so
    https://host:port does not pass for an http site. With neither header (curl, scripts)
    the request goes on: it still needs the token or the session cookie."""
    own = _origin_of(f"{_scheme(request)}://{request.headers.get('host', '')}")
    origin = request.headers.get("origin")
    if origin is None:
        origin = request.headers.get("referer")
        if origin is None:
            return True
    return own is not None and _origin_of(origin) == own


def _scheme(request: Request) -> str:
    # A proxy's X-Forwarded-Proto (nginx sets it): a browser cannot add it to a cross-site form
    # post, so believing it here cannot help a forged request; it only keeps HTTPS behind nginx working.
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return forwarded if forwarded in ("http", "https") else request.url.scheme


def _origin_of(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of a URL; None for "null", other schemes or a malformed one."""
    try:
        parts = urlsplit(url.strip())
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https") or not parts.hostname:
            return None
        return scheme, parts.hostname.lower(), parts.port or (443 if scheme == "https" else 80)
    except ValueError:  # a port that is not a number or out of range
        return None


# ----- HTML ---------------------------------------------------------------------------


def _page(login: bool = False, note: str = "", status: int = 200, results: list[FileResult] | None = None,
          asker: Asker | None = None, max_mb: int = 0, headers: dict[str, str] | None = None,
          index_dir: Path | None = None) -> HTMLResponse:
    rows, unindexed, warning = [], [], ""
    if asker is not None:
        bot = asker.bot
        warning = bot.store.warning
        if index_dir is not None:
            added = {doc.source for doc_id, doc in bot.documents.items() if doc_id.startswith(ADDED_PREFIX)}
            unindexed = unindexed_uploads(index_dir, added)
        for doc_id, doc in sorted(bot.documents.items()):
            chunks = (bot.store.manifest.documents.get(doc_id) or {}).get("chunks", "")
            rows.append({"doc_id": doc_id, "title": listed_title(doc.title, doc.metadata), "chunks": chunks,
                         "source": doc.source})
    shown = [
        {"name": r.name, "status": r.status, "status_text": STATUS_TEXT[r.status],
         "detail": r.reason if r.status == "error" else (f"{r.doc_id}，{r.chunks} 个段落" if r.chunks else r.doc_id)}
        for r in results or []
    ]
    page = render_page(
        "admin.html", login=login, note=note,
        results=shown, documents=rows, suffixes=UPLOAD_SUFFIXES, max_mb=max_mb, max_files=MAX_FILES,
        unindexed=unindexed, index_warning=warning,
    )
    headers = {"Content-Security-Policy": ADMIN_CSP, "Cache-Control": "no-store", **(headers or {})}
    return HTMLResponse(page, status_code=status, headers=headers)


def _too_many(wait: int) -> HTMLResponse:
    return _page(login=True, note=f"口令错误次数过多，请 {wait} 秒后再试。", status=429,
                 headers={"Retry-After": str(wait)})
