"""Limits and clear messages at the entrance of the server.

- `BodyLimitMiddleware`: over API_BODY_BYTES on /api/, a Chinese 413, checked on
  Content-Length and on the streamed chunks, before any route reads the body.
- `MethodMiddleware`: TRACE, TRACK and CONNECT get a 405, not a 404.
- `http_error`, `validation_error`: every 4xx in Chinese; `error_responses` declares
  them in the OpenAPI document.
- `has_lone_surrogate`: text that is not valid Unicode (a lone UTF-16 surrogate
  such as "\\ud800", which JSON can carry) is refused before it reaches the tokenizer.
"""

from __future__ import annotations

import json
import re

from fastapi import FastAPI
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

API_BODY_BYTES = 64 * 1024  # a question of 500 characters and a long history fit many times over
DRAIN_BYTES = 16 * 1024 * 1024  # read and dropped before a 413; beyond it the connection is closed
_SURROGATE = re.compile("[\ud800-\udfff]")
_REFUSED_METHODS = {"TRACE", "TRACK", "CONNECT"}  # echo and tunnel methods nobody here serves

TOO_LARGE = "请求内容太大（超过 {limit} KB），请缩短问题或对话历史。"
NOT_ALLOWED = "不支持该请求方法。"
INVALID_JSON = '请求格式不正确：请求体不是有效的 JSON。请发送 JSON：{"question": "问题", "history": [["问题", "回答"], …]}（history 可省略）。'
BAD_REQUEST = '请求格式不正确。请发送 JSON：{"question": "问题", "history": [["问题", "回答"], …]}（history 可省略）。'
NOT_FOUND = "找不到该页面或文档。"
BAD_PARAMETER = "参数 {name} 的值无效：{problem}。"
INVALID_UNICODE = "问题或对话历史中含有无效的字符（不成对的代理码位），请检查后重新输入。"


def has_lone_surrogate(text: str) -> bool:
    return bool(_SURROGATE.search(text))


def _json_response(status: int, detail: str, headers: list[tuple[bytes, bytes]] | None = None) -> tuple[Message, Message]:
    body = json.dumps({"detail": detail}, ensure_ascii=False).encode("utf-8")
    start: Message = {
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                    *(headers or [])],
    }
    return start, {"type": "http.response.body", "body": body}


class BodyLimitMiddleware:
    """413 in Chinese for a body over `limit` bytes on paths under `prefix`, whether it
    declares its length or streams it in chunks. (FastAPI's own `max_body_size`
    answers in English plain text.)"""

    def __init__(self, app: ASGIApp, limit: int = API_BODY_BYTES, prefix: str = "/api/"):
        self.app = app
        self.limit = limit
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        too_large = declared.isdigit() and int(declared) > self.limit
        # API bodies are small: read the whole body first (up to the limit), then hand it on.
        # Over the limit, the rest is still read (up to DRAIN_BYTES) and dropped before the
        # 413, so that the client, still sending, gets the answer instead of a reset connection.
        chunks: list[bytes] = []
        received = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            received += len(message.get("body", b""))
            too_large = too_large or received > self.limit
            if not too_large:
                chunks.append(message.get("body", b""))
            if not message.get("more_body", False) or received > DRAIN_BYTES:
                break
        if too_large:
            await self._too_large(send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, send: Send) -> None:
        for message in _json_response(413, TOO_LARGE.format(limit=self.limit // 1024)):
            await send(message)


class MethodMiddleware:
    """405 with a Chinese message for TRACE, TRACK and CONNECT on every path (the
    chat mounted at "/" would otherwise answer them with a 404)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in _REFUSED_METHODS:
            for message in _json_response(405, NOT_ALLOWED, [(b"allow", b"GET, HEAD, POST, OPTIONS")]):
                await send(message)
            return
        await self.app(scope, receive, send)


def error_responses(*codes: int) -> dict[int | str, dict]:
    """OpenAPI `responses` entries for the 4xx a route can answer, all with a `detail` in Chinese."""
    descriptions = {
        400: "请求格式不正确（请求体不是有效的 JSON）",
        404: "找不到该文档",
        405: "不支持该请求方法",
        413: f"请求内容太大（超过 {API_BODY_BYTES // 1024} KB）",
        422: "参数无效：问题为空、太长或含有无效字符，或字段类型不对",
    }
    schema = {"type": "object", "properties": {"detail": {"type": "string"}}, "required": ["detail"]}
    return {code: {"description": descriptions[code], "content": {"application/json": {"schema": schema}}}
            for code in codes}


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
    return JSONResponse({"detail": detail}, status_code=exc.status_code, headers=exc.headers)


async def validation_error(request: Request, exc: Exception) -> JSONResponse:
    """A body that is not JSON: 400; a field or parameter of the wrong kind: 422, saying which."""
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
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
    return JSONResponse({"detail": detail, "errors": jsonable_encoder(errors, custom_encoder={str: _printable})},
                        status_code=422)


def _printable(text: str) -> str:
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
