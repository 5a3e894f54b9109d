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

from fastapi.sse import format_sse_event

from bot.generate import Partial
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
