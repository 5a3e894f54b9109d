"""Structured logs for the server: one JSON object per line on stderr (systemd's
journal, or any log shipper, reads them as they are).

Every line has `time` (UTC, ISO 8601), `level`, `logger`, `pid`, `event` and the
record's own fields. Requests are logged by `AccessLogMiddleware` (method, path,
status, milliseconds; never the query string or the body). Questions are personal
data: `log_question` writes one only when the setting `log_questions`
(UNIONQA_LOG_QUESTIONS, --log-questions) is on, and otherwise logs only its length,
outcome and timing.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from datetime import UTC, datetime
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("unionqa")
access = logging.getLogger("unionqa.access")

# attributes every LogRecord has; anything else was passed in `extra` and is a field of the line
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}


class JsonLineFormatter(logging.Formatter):
    """A record as one line of JSON; non-ASCII text kept readable (ensure_ascii=False)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "pid": record.process,
            "event": getattr(record, "event", "message"),
        }
        message = record.getMessage()
        if message:
            line["message"] = message
        for key, value in vars(record).items():
            if key not in _STANDARD and key != "event":
                line[key] = value
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def setup_logging(level: int = logging.INFO) -> None:
    """Send every logger (ours, uvicorn's, gradio's) through one JSON-line handler on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLineFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)  # libraries: warnings and errors only
    log.setLevel(level)
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # our access log replaces uvicorn's plain-text one
    logging.getLogger("uvicorn.access").disabled = True


def log_question(enabled: bool, question: str, status: str, seconds: float, **fields: Any) -> None:
    """One line per question answered; the question's text only when `enabled`."""
    extra: dict[str, Any] = {"event": "question", "status": status, "ms": round(seconds * 1000, 1),
                             "chars": len(question), **fields}
    if enabled:
        extra["question"] = question
    log.info("", extra=extra)


class AccessLogMiddleware:
    """One `request` line per HTTP request: method, path, status and milliseconds.

    Pure ASGI (no BaseHTTPMiddleware), so the chat's streamed responses pass through untouched;
    a stream is logged when it ends."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets if the app fails before answering

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            access.info("", extra={
                "event": "request",
                "method": scope.get("method", ""),
                "path": scope.get("path", ""),
                "status": status,
                "ms": round((time.perf_counter() - started) * 1000, 1),
            })
