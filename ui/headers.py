"""Headers sent with every response: which portals may embed the chat (the
frame-ancestors policy), `X-Content-Type-Options: nosniff` (a document or an error
is never run as a script or page because a browser guessed its type) and
`Referrer-Policy: same-origin` (the chat's and the admin page's addresses are not
sent to other sites; our own Origin check still gets them)."""

from __future__ import annotations

import re

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ui.config import ConfigError

ORIGIN = re.compile(r"^https?://[A-Za-z0-9.\-]+(:\d{1,5})?$|^https?://\[[0-9A-Fa-f:.]+\](:\d{1,5})?$")


def check_origins(origins: tuple[str, ...]) -> tuple[str, ...]:
    """Origins go into a response header verbatim, so only exact scheme://host[:port] are accepted."""
    cleaned = tuple(o.strip().rstrip("/") for o in origins if o.strip())
    for origin in cleaned:
        if not ORIGIN.match(origin):
            raise ConfigError(f"允许嵌入的来源格式不正确：{origin!r}，应为 https://portal.example.org 这样的形式。")
    return cleaned


def frame_ancestors(origins: tuple[str, ...]) -> str:
    return "frame-ancestors " + " ".join(["'self'", *origins])


REFERRER_POLICY = "same-origin"


class SecurityHeadersMiddleware:
    """Adds nosniff and Referrer-Policy to every response, and `Content-Security-Policy:
    frame-ancestors …` to every one that has no policy of its own. Outermost but for the
    access log, so that the 413s, 405s and 503s answered at the door carry them too."""

    def __init__(self, app: ASGIApp, policy: str):
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_policy(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if "content-security-policy" not in headers:
                    headers.append("Content-Security-Policy", self.policy)
                headers["X-Content-Type-Options"] = "nosniff"
                if "referrer-policy" not in headers:
                    headers.append("Referrer-Policy", REFERRER_POLICY)
            await send(message)

        await self.app(scope, receive, send_with_policy)
