"""A bounded queue in front of the answering processes: a question beyond the
limit gets 503 with Retry-After at once, instead of waiting without end.

The question paths are /api/ask and /v1/chat/completions, streamed or not (a
stream counts until it ends). Counted at the door (pure ASGI, before FastAPI hands
the request to a thread), so that requests waiting for a thread are counted too. The chat has its own bound:
Gradio's queue `max_size` (ui/server.py), whose 503 "queue full" gets a
Retry-After header here too.
"""

from __future__ import annotations

import json
import math
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

BUSY = "提问的人太多，服务繁忙，请 {seconds} 秒后再试。"
GUARDED = ("/api/ask", "/v1/chat/completions")  # POST paths that put a question to the bot


class AdmissionMiddleware:
    """At most `limit` questions in flight (being answered or waiting); the rest get 503.

    Retry-After is the recent time a question spent in here, rounded up: about how
    long the queue takes to move on."""

    def __init__(self, app: ASGIApp, limit: int, paths: tuple[str, ...] = GUARDED) -> None:
        self.app = app
        self.limit = limit
        self.paths = paths
        self.in_flight = 0  # only touched on the event loop's thread: no lock needed
        self.rejected = 0
        self._mean_seconds = 0.5

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope.get("method") != "POST" or not scope["path"].startswith(self.paths):
            await self.app(scope, receive, self._with_retry_after(send))
            return
        if self.in_flight >= self.limit:
            self.rejected += 1
            await self._busy(send, openai=scope["path"].startswith("/v1/"))
            return
        self.in_flight += 1
        started = time.perf_counter()
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1
            self._mean_seconds = 0.9 * self._mean_seconds + 0.1 * (time.perf_counter() - started)

    def _with_retry_after(self, send: Send) -> Send:
        """`send`, adding Retry-After to a 503 that has none (the chat's full queue)."""

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 503:
                headers = list(message.get("headers", []))
                if not any(name.lower() == b"retry-after" for name, _ in headers):
                    headers.append((b"retry-after", str(self.retry_after()).encode()))
                    message = {**message, "headers": headers}
            await send(message)

        return sending

    def retry_after(self) -> int:
        return max(1, min(30, math.ceil(self._mean_seconds)))

    async def _busy(self, send: Send, openai: bool = False) -> None:
        seconds = self.retry_after()
        message = BUSY.format(seconds=seconds)
        # /v1 clients (the openai library, chat front-ends) read OpenAI's error shape
        error = ({"error": {"message": message, "type": "server_error", "param": None, "code": "server_busy"}}
                 if openai else {"detail": message})
        body = json.dumps(error, ensure_ascii=False).encode("utf-8")
        await send({
            "type": "http.response.start",
            "status": 503,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"retry-after", str(seconds).encode()),
            ],
        })
        await send({"type": "http.response.body", "body": body})
