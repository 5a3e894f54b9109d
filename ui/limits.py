"""Limits and clear messages at the entrance of the server.

- `BodyLimitMiddleware`: a request body over the limit gets a 413 with a Chinese
  message, whether it declares its length or streams it in chunks; checked before
  any route reads it (the admin upload has its own, larger limit).
- TRACE (and other methods no route has) gets a 405, not a 404.
- `bad_request_messages`: every 4xx of the API in Chinese, for the OpenAPI document.
- `has_lone_surrogate`: text that is not valid Unicode (a lone UTF-16 surrogate
  such as "\\ud800", which JSON can carry) is refused before it reaches the tokenizer.
"""

from __future__ import annotations

import json
import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

API_BODY_BYTES = 64 * 1024  # a question of 500 characters and a long history fit many times over
_SURROGATE = re.compile("[\ud800-\udfff]")
_REFUSED_METHODS = {"TRACE", "TRACK", "CONNECT"}  # echo and tunnel methods nobody here serves

TOO_LARGE = "请求内容太大（超过 {limit} KB），请缩短问题或对话历史。"
NOT_ALLOWED = "不支持该请求方法。"
INVALID_JSON = '请求格式不正确：请求体不是有效的 JSON。请发送 JSON：{"question": "问题", "history": [["问题", "回答"], …]}（history 可省略）。'
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
    """413 for bodies over `limit` bytes on paths under `prefix`; 405 for TRACE,
    TRACK and CONNECT anywhere."""

    def __init__(self, app: ASGIApp, limit: int = API_BODY_BYTES, prefix: str = "/api/"):
        self.app = app
        self.limit = limit
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] in _REFUSED_METHODS:
            for message in _json_response(405, NOT_ALLOWED, [(b"allow", b"GET, HEAD, POST, OPTIONS")]):
                await send(message)
            return
        if not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._too_large(send)
            return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _TooLarge:
            if not started:
                await self._too_large(send)

    async def _too_large(self, send: Send) -> None:
        for message in _json_response(413, TOO_LARGE.format(limit=self.limit // 1024), [(b"connection", b"close")]):
            await send(message)


class _TooLarge(Exception):
    pass


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
