"""Limits and clear messages at the entrance of the server.

- `BodyLimitMiddleware`: one request-size limit for every route (API_BODY_BYTES unless a
  rule says otherwise: the chat's Gradio routes, the admin upload), a Chinese 413, checked
  on Content-Length and on the streamed chunks, before any route reads the body.
- `ChatInputMiddleware`: on the chat's Gradio routes, a Chinese 422 for a question over
  `max_chars`, before Gradio parses the body, queues the event or echoes it; Gradio's
  upload route refused (the chat takes no files).
- `SecurityHeadersMiddleware` (ui/headers.py) adds nosniff, Referrer-Policy and the
  frame-ancestors policy to every response.
- `MethodMiddleware`: TRACE, TRACK and CONNECT get a 405, not a 404.
- `http_error`, `validation_error`: every 4xx in Chinese; `error_responses` declares
  them in the OpenAPI document.
- `has_lone_surrogate`: text that is not valid Unicode (a lone UTF-16 surrogate
  such as "\\ud800", which JSON can carry) is refused before it reaches the tokenizer.
"""

from __future__ import annotations

import html
import json
import re

from fastapi import FastAPI
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from corpus.errors import UnionQAError

API_BODY_BYTES = 64 * 1024  # a question of 500 characters and a long history fit many times over
DRAIN_BYTES = 16 * 1024 * 1024  # read and dropped before a 413; beyond it the connection is closed
_SURROGATE = re.compile("[\ud800-\udfff]")
_REFUSED_METHODS = {"TRACE", "TRACK", "CONNECT"}  # echo and tunnel methods nobody here serves

TOO_LARGE = "请求内容太大（超过 {limit} KB），请缩短问题或对话历史。"
TOO_LARGE_UPLOAD = "请求内容太大（超过 {limit} MB），请分批上传较小的文件。"
NO_UPLOADS = "聊天不接受上传文件。"
NOT_ALLOWED = "不支持该请求方法。"
INVALID_JSON = '请求格式不正确：请求体不是有效的 JSON。请发送 JSON：{"question": "问题", "history": [["问题", "回答"], …]}（history 可省略）。'
BAD_REQUEST = '请求格式不正确。请发送 JSON：{"question": "问题", "history": [["问题", "回答"], …]}（history 可省略）。'
V1_BAD_REQUEST = '请求格式不正确：应为 {"model": "unionqa", "messages": [{"role": "user", "content": "问题"}]}。'
V1_INVALID_JSON = "请求格式不正确：请求体不是有效的 JSON。" + V1_BAD_REQUEST.removeprefix("请求格式不正确：")
NOT_FOUND = "找不到该页面或文档。"
BAD_PARAMETER = "参数 {name} 的值无效：{problem}。"
INVALID_UNICODE = "问题或对话历史中含有无效的字符（不成对的代理码位），请检查后重新输入。"
QUESTION_TOO_LONG = "问题太长了（{n} 字），请控制在 {limit} 字以内。"
GRADIO_PREFIX = "/gradio_api/"
# Gradio's routes that take files (multipart) into the server's temp folder
GRADIO_FILE_ROUTES = ("/gradio_api/upload", "/gradio_api/process_recording")
# The Gradio routes that take an event's input values in `data` (queue/join is the browser's).
_GRADIO_EVENT_ROUTES = re.compile(r"^/gradio_api/(queue/join|run/|api/|call/)")


def has_lone_surrogate(text: str) -> bool:
    return bool(_SURROGATE.search(text))


def _json_response(status: int, detail: str, headers: list[tuple[bytes, bytes]] | None = None,
                   path: str = "") -> tuple[Message, Message]:
    """The error as JSON; on the admin page's paths, which browsers post forms to, as a
    small HTML page (a browser would show JSON as it is)."""
    if path.startswith("/admin"):
        kind = b"text/html; charset=utf-8"
        body = (f'<!doctype html><html lang="zh-CN"><meta charset="utf-8"><title>管理</title>'
                f'<p>{html.escape(detail)}</p><p><a href="/admin">返回管理页</a></p></html>').encode()
    else:
        kind = b"application/json"
        body = json.dumps(error_body(path, status, detail), ensure_ascii=False).encode("utf-8")
    start: Message = {
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", kind), (b"content-length", str(len(body)).encode()), *(headers or [])],
    }
    return start, {"type": "http.response.body", "body": body}


OPENAI_PREFIX = "/v1/"
_OPENAI_TYPES = {401: "invalid_request_error", 404: "invalid_request_error", 429: "rate_limit_exceeded"}


def error_body(path: str, status: int, detail: str) -> dict:
    """An error as JSON: `{"detail": …}`, or OpenAI's `{"error": {…}}` under /v1/, which
    the openai library and chat front-ends read (they show nothing useful for `detail`)."""
    if not path.startswith(OPENAI_PREFIX):
        return {"detail": detail}
    kind = _OPENAI_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    return {"error": {"message": detail, "type": kind, "param": None, "code": None}}


def too_large_message(limit: int) -> str:
    if limit >= 1024 * 1024:
        return TOO_LARGE_UPLOAD.format(limit=limit // (1024 * 1024))
    return TOO_LARGE.format(limit=limit // 1024)


class BodyTooLarge(UnionQAError):
    """Raised by a counting `receive` once a streamed body passes its limit."""

    status = 413


class BodyLimitMiddleware:
    """One request-size limit for every route, before any route reads the body: a Chinese
    413 (OpenAI's error shape under /v1/) for a body over the limit of its path, whether it
    declares its length (refused without reading it) or streams it in chunks.

    `rules` are (path prefix, limit, streamed), the first matching prefix wins; every other
    path gets `default`. A small limit is enforced by reading the body here (bounded) and
    handing it on; a `streamed` one (the admin upload, hundreds of MB that the form parser
    spools to disk) by counting the chunks as the route reads them, so the body is never
    held here. (FastAPI's own `max_body_size` answers in English plain text.)"""

    def __init__(self, app: ASGIApp, rules: tuple[tuple[str, int, bool], ...] = (),
                 default: int = API_BODY_BYTES):
        self.app = app
        self.rules = rules
        self.default = default

    def limit_for(self, path: str) -> tuple[int, bool]:
        for prefix, limit, streamed in self.rules:
            if path.startswith(prefix):
                return limit, streamed
        return self.default, False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        limit, streamed = self.limit_for(path)
        if not streamed:
            body = await read_body(scope, receive, limit)
            if body is None:
                await _send_error(send, 413, too_large_message(limit), path)
                return
            await self.app(scope, replaying(body, receive), send)
            return
        if _declared_length(scope) > limit:
            await _send_error(send, 413, too_large_message(limit), path)
            return
        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting(receive, limit), sending)
        except BodyTooLarge:
            if not started:
                await drain(receive)  # so that the client, still sending, reads the 413
                await _send_error(send, 413, too_large_message(limit), path)


async def drain(receive: Receive, limit: int = DRAIN_BYTES) -> None:
    """Read and drop the rest of a body, up to `limit` bytes (beyond, the connection is closed)."""
    received = 0
    while received <= limit:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            return
        received += len(message.get("body", b""))


def _declared_length(scope: Scope) -> int:
    declared = dict(scope["headers"]).get(b"content-length", b"")
    return int(declared) if declared.isdigit() else -1


def counting(receive: Receive, limit: int) -> Receive:
    """A `receive` that raises BodyTooLarge once more than `limit` body bytes have come."""
    received = 0

    async def count() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise BodyTooLarge
        return message

    return count


async def read_body(scope: Scope, receive: Receive, limit: int) -> bytes | None:
    """The whole request body, or None if it is over `limit` bytes (declared or sent).

    Read before any route sees it, up to the limit, so memory stays bounded whatever the
    client sends. Over the limit, the rest is still read (up to DRAIN_BYTES) and dropped,
    so that the client, still sending, gets the answer instead of a reset connection;
    a body declared over the limit is not read at all."""
    declared = _declared_length(scope)
    if declared > DRAIN_BYTES:
        return None
    too_large = declared > limit
    chunks: list[bytes] = []
    received = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None  # the client went away
        received += len(message.get("body", b""))
        too_large = too_large or received > limit
        if not too_large:
            chunks.append(message.get("body", b""))
        if not message.get("more_body", False) or received > DRAIN_BYTES:
            break
    return None if too_large else b"".join(chunks)


def replaying(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands the app the body already read, then the client's later messages."""
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _send_error(send: Send, status: int, detail: str, path: str = "") -> None:
    for message in _json_response(status, detail, path=path):
        await send(message)


def chat_body_limit(max_chars: int) -> int:
    """Bytes a chat request may have: a question of `max_chars` characters written as JSON
    escapes (6 bytes each: \\uXXXX, or 12 for a pair) and the event's other fields, with room
    for the answer's text that a 👍/👎 sends back; never less than the API's limit."""
    return max(API_BODY_BYTES, 12 * max_chars + 16 * 1024)


class ChatInputMiddleware:
    """The question's size rule on the chat's Gradio routes, before Gradio reads the body.

    Gradio parses a request's whole JSON body, and its queue keeps the event (and the
    textbox value sent back) until the event stream is read: anonymous clients sending
    megabytes of "question" held gigabytes in the web process (issue 23). So every POST
    under /gradio_api/ is cut at `chat_body_limit` (413), and an event whose input text is
    over `max_chars` characters is refused with the same Chinese message as /api/ask (422),
    without being queued or echoed. The browser's textbox already stops at `max_chars`."""

    def __init__(self, app: ASGIApp, max_chars: int):
        self.app = app
        self.max_chars = max_chars
        self.limit = chat_body_limit(max_chars)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or not scope["path"].startswith(GRADIO_PREFIX):
            await self.app(scope, receive, send)
            return
        if scope["path"].rstrip("/") in GRADIO_FILE_ROUTES:
            # The chat has no file input: Gradio's upload route would take anybody's files
            # into the server's temp folder, without sign-in (issue 22). Refused unread.
            await _send_error(send, 403, NO_UPLOADS)
            return
        body = await read_body(scope, receive, self.limit)
        if body is None:
            await _send_error(send, 413, TOO_LARGE.format(limit=self.limit // 1024))
            return
        if _GRADIO_EVENT_ROUTES.match(scope["path"]):
            longest = _longest_input(body)
            if longest > self.max_chars:
                await _send_error(send, 422, QUESTION_TOO_LONG.format(n=longest, limit=self.max_chars))
                return
        await self.app(scope, replaying(body, receive), send)


def _longest_input(body: bytes) -> int:
    """The length of the longest text among an event's input values (0 if none, or if the
    body is not JSON: Gradio then answers it itself)."""
    try:
        data = json.loads(body).get("data")
    except (ValueError, AttributeError):
        return 0
    texts = [v for v in data if isinstance(v, str)] if isinstance(data, list) else []
    return max((len(t.strip()) for t in texts), default=0)


class MethodMiddleware:
    """405 with a Chinese message for TRACE, TRACK and CONNECT on every path (the
    chat mounted at "/" would otherwise answer them with a 404)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in _REFUSED_METHODS:
            for message in _json_response(405, NOT_ALLOWED, [(b"allow", b"GET, HEAD, POST, OPTIONS")],
                                          path=scope["path"]):
                await send(message)
            return
        await self.app(scope, receive, send)


# Chinese for the English details that FastAPI and Starlette give their own errors.
_STATUS_TEXT = {
    400: INVALID_JSON,
    404: NOT_FOUND,
    405: NOT_ALLOWED,
    413: TOO_LARGE.format(limit=API_BODY_BYTES // 1024),
}
_CJK = re.compile("[\u4e00-\u9fff]")


async def http_error(request: Request, exc: Exception) -> JSONResponse:
    """An HTTPException as JSON, its detail in Chinese (ours already are)."""
    assert isinstance(exc, HTTPException)
    detail = exc.detail if isinstance(exc.detail, str) and _CJK.search(exc.detail) else None
    if detail is None:
        detail = _STATUS_TEXT.get(exc.status_code, f"请求无法处理（{exc.status_code}）。")
    return JSONResponse(error_body(request.url.path, exc.status_code, detail), status_code=exc.status_code,
                        headers=exc.headers)


async def validation_error(request: Request, exc: Exception) -> JSONResponse:
    """A body that is not JSON: 400; a field or parameter of the wrong kind: 422, saying which."""
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    if request.url.path.startswith(OPENAI_PREFIX):
        # OpenAI answers a malformed request with 400 and its own error shape
        invalid_json = any(e.get("type") == "json_invalid" for e in errors)
        return JSONResponse(error_body(request.url.path, 400, V1_INVALID_JSON if invalid_json else V1_BAD_REQUEST),
                            status_code=400)
    if any(e.get("type") == "json_invalid" for e in errors):
        return JSONResponse({"detail": INVALID_JSON}, status_code=400)
    ours = [e for e in errors if e.get("type") == INVALID_UNICODE_TYPE]
    if ours:
        detail = INVALID_UNICODE
    elif errors and errors[0].get("loc", ("body",))[0] in ("query", "path"):
        name = str(errors[0]["loc"][-1])
        problem = "应为整数" if "int" in str(errors[0].get("type", "")) else "格式不对"
        detail = BAD_PARAMETER.format(name=name, problem=problem)
    else:
        detail = BAD_REQUEST
    return JSONResponse({"detail": detail, "errors": jsonable_encoder(errors, custom_encoder={str: printable})},
                        status_code=422)


def printable(text: str) -> str:
    # A lone surrogate cannot be encoded as UTF-8 in the response: show its code point instead.
    return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


INVALID_UNICODE_TYPE = "invalid_unicode"


def declare_question_limits(app: FastAPI, max_chars: int) -> None:
    """Put the question's length limits (which `check_question` enforces with a
    Chinese 422) into the app's OpenAPI document; the limit is configurable, so it
    is added when the document is built, not written into the request model."""
    build = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            schema = build()
            question = schema.get("components", {}).get("schemas", {}).get("AskRequest", {}).get("properties", {})
            if "question" in question:
                question["question"].update(minLength=1, maxLength=max_chars)
        return app.openapi_schema

    app.openapi = openapi
