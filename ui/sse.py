"""Server-Sent Events for `POST /api/ask` with `"stream": true`.

Events, each `data:` a JSON object:
- `partial`: `{"checked", "pending", "dropped"}` while an LLM writes the answer. `checked`
  holds the sentences that passed the citation check so far; `pending` the sentence being
  written, not yet checked (it may still be dropped: show it muted, or not at all).
- `answer`: the final answer, the same object as the non-streaming response. It replaces
  whatever the partials showed (it may be the extractive answer, with a `notice`).
- `error`: `{"detail"}` when answering failed.
Without an LLM there is no `partial`: one `answer` event, then the stream ends.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

from fastapi.sse import EventSourceResponse, format_sse_event
from starlette.types import Receive, Scope, Send

from bot.llm.generate import Partial
from bot.records import Answer

log = logging.getLogger(__name__)


def event(name: str, data: dict) -> bytes:
    return format_sse_event(data_str=json.dumps(data, ensure_ascii=False), event=name)


def answer_events(stream: Iterator[Partial | Answer], to_json: Callable[[Answer], dict],
                  error_message: str) -> Iterator[bytes]:
    try:
        for item in stream:
            if isinstance(item, Partial):
                yield event("partial", {"checked": item.checked, "pending": item.pending, "dropped": item.dropped})
            else:
                yield event("answer", to_json(item))
    except Exception:
        log.exception("the bot failed while streaming an answer")
        yield event("error", {"detail": error_message})


class ClosingEventSourceResponse(EventSourceResponse):
    """An SSE response that closes the answer's stream (ui.asking.LoggedStream) when it is
    over, however it ends: a client that hangs up mid-answer leaves the stream unfinished,
    and a dropped stream caught in a reference cycle (the disconnect's traceback) would be
    closed, and its question logged as cancelled, only whenever the cyclic collector ran."""

    def __init__(self, content: Iterator[bytes], stream: Iterator[Partial | Answer], **kwargs: Any) -> None:
        super().__init__(content, **kwargs)
        self._stream = stream

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            close = getattr(self._stream, "close", None)
            if close is not None:
                close()
