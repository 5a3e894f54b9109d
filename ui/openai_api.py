"""Our own OpenAI-compatible endpoint: chat front-ends (Open WebUI, LobeChat,
NextChat), portals and scripts use the bot as a model named `unionqa`.

- `GET /v1/models`: the one model.
- `POST /v1/chat/completions`, streaming or not: the last user message is the
  question, earlier user/assistant pairs the history. The reply is the extractive
  answer, or the generated one when an LLM is configured. Citations are in the
  message text (`[n]` markers and a 来源 list) and in the extra field `citations`;
  `unionqa` says how the answer was made (status, generated, fallback, notice).
- A stream sends only sentences that passed the citation check. If the final
  answer is the extractive one after all, it follows the streamed sentences with
  its notice (a stream cannot take back what it sent; what it sent was checked).
- API keys are optional (`UNIONQA_API_KEYS`); each key (or, without keys, each
  client address) may make `api_rate_per_minute` requests a minute, then gets a
  429 with `Retry-After`. Errors have OpenAI's shape: `{"error": {message, type, code}}`.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict

from fastapi import APIRouter, Body, Request
from fastapi.responses import JSONResponse
from fastapi.sse import format_sse_event
from pydantic import BaseModel, ValidationError

from bot.llm.generate import Partial
from bot.records import REFUSED, Answer
from ui.api_docs import SSE_RESPONSE, openai_error_responses
from ui.asking import Asker, QuestionError, ServerBusy, check_question
from ui.auth import bearer_token, matching_key
from ui.config import Config
from ui.limits import INVALID_UNICODE, NOT_ALLOWED, V1_BAD_REQUEST, has_lone_surrogate, printable
from ui.ratelimit import RateLimiter
from ui.sessions import LoginThrottle, client_address
from ui.sse import ClosingEventSourceResponse

log = logging.getLogger(__name__)

MODEL_NAME = "unionqa"
CREATED = 1_764_115_200  # a fixed "created" time for the model list (2025-11-26)
SOURCES_HEADING = "来源："
MISSING_KEY = "API 密钥无效或缺失：请在 Authorization: Bearer 中给出密钥。"


class ChatMessage(BaseModel):
    role: str
    content: str | list[dict] | None = None

    def text(self) -> str:
        """The text of a message; OpenAI also allows a list of parts ({"type": "text", "text": …})."""
        if isinstance(self.content, list):
            return "".join(str(p.get("text", "")) for p in self.content if p.get("type") == "text")
        return self.content or ""


class ChatRequest(BaseModel):
    model: str = MODEL_NAME
    messages: list[ChatMessage]
    stream: bool = False
    # temperature, max_tokens, … are accepted and ignored: the answer comes from the documents


def openai_error(status: int, message: str, kind: str, code: str | None = None,
                 headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": kind, "param": None, "code": code}},
                        status_code=status, headers=headers)


def split_conversation(messages: list[ChatMessage]) -> tuple[str, list[tuple[str, str]]]:
    """The question (the last user message) and the earlier (question, answer) pairs."""
    question = ""
    history: list[tuple[str, str]] = []
    pending: str | None = None
    for i, message in enumerate(messages):
        if message.role == "user":
            if i == len(messages) - 1:
                question = message.text()
            else:
                pending = message.text()
        elif message.role == "assistant" and pending is not None:
            # our own earlier reply: its list of sources is not part of the answer
            history.append((pending, message.text().split("\n\n" + SOURCES_HEADING)[0]))
            pending = None
    return question, history


def sources_text(answer: Answer) -> str:
    if not answer.citations:
        return ""
    lines = [SOURCES_HEADING]
    for c in answer.citations:
        where = " ".join(part for part in (c.doc_number, c.section, c.article, f"第{c.page}页" if c.page else "",
                                           "扫描件识别" if c.scanned else "") if part)
        shown = {"see_also": "另见 ", "other": "其他相关规定 "}.get(c.role, "")
        version = f"（{c.version}）" if c.version else ""
        lines.append(f"[{c.n}] {shown}《{c.title}》{version}{(' ' + where) if where else ''}")
    return "\n\n" + "\n".join(lines)


def message_text(answer: Answer) -> str:
    notice = f"（{answer.notice}）\n" if answer.notice else ""
    return notice + answer.text + sources_text(answer)


def extra_fields(answer: Answer) -> dict:
    return {
        "citations": [asdict(c) for c in answer.citations],
        "unionqa": {"status": answer.status, "refused": answer.status == REFUSED, "generated": answer.generated,
                    "fallback": answer.fallback, "notice": answer.notice, "query": answer.query},
    }


def completion(answer: Answer, completion_id: str) -> dict:
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": MODEL_NAME,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": message_text(answer)},
                     "logprobs": None, "finish_reason": "stop"}],
        **extra_fields(answer),
    }


def _chunk(completion_id: str, delta: dict, finish_reason: str | None = None, extra: dict | None = None) -> bytes:
    body = {"id": completion_id, "object": "chat.completion.chunk", "created": int(time.time()),
            "model": MODEL_NAME,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
            **(extra or {})}
    return format_sse_event(data_str=json.dumps(body, ensure_ascii=False))


def completion_chunks(stream: Iterator[Partial | Answer], completion_id: str) -> Iterator[bytes]:
    """OpenAI's stream: a role chunk, content chunks of checked sentences, the rest of
    the final answer and its sources, a last chunk with finish_reason and the extra
    fields, then `data: [DONE]`."""
    yield _chunk(completion_id, {"role": "assistant", "content": ""})
    sent = ""
    try:
        for item in stream:
            if isinstance(item, Partial):
                if len(item.checked) > len(sent) and item.checked.startswith(sent):
                    yield _chunk(completion_id, {"content": item.checked[len(sent):]})
                    sent = item.checked
                continue
            final = message_text(item)
            if sent and item.generated and item.text.startswith(sent.strip()):
                rest = item.text[len(sent.strip()):] + sources_text(item)
            elif sent:  # the extractive answer after all, after the checked sentences already sent
                rest = "\n\n" + final
            else:
                rest = final
            if rest:
                yield _chunk(completion_id, {"content": rest})
            yield _chunk(completion_id, {}, "stop", extra_fields(item))
    except Exception:
        log.exception("the bot failed while streaming a chat completion")
        yield format_sse_event(data_str=json.dumps(
            {"error": {"message": "回答问题时出错，请稍后再试。", "type": "server_error", "param": None, "code": None}},
            ensure_ascii=False))
    yield format_sse_event(data_str="[DONE]")


def openai_router(asker: Asker, config: Config) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["OpenAI 兼容接口"])
    keys = tuple(config.api_keys)
    limiter = RateLimiter(config.api_rate_per_minute)
    wrong_keys = LoginThrottle()  # wrong keys per address, backing off as the admin sign-in does

    def admit(request: Request) -> JSONResponse | None:
        """None when the request may go ahead; else the 401 or 429 to send."""
        address = client_address(request)
        identity = f"ip:{address}"
        if keys:
            given = bearer_token(request)
            if given is None:  # no key at all is a client misconfigured, not a guess
                return openai_error(401, MISSING_KEY, "invalid_request_error", "invalid_api_key")
            # a key in Chinese works too (ui/auth.py); wrong keys are counted per address from
            # the start of each try, so parallel guesses get no more tries than sequential ones
            matched: str | None = None

            def is_a_key() -> bool:
                nonlocal matched
                matched = matching_key(given, keys)
                return matched is not None

            right, wait = wrong_keys.check(address, is_a_key)
            if not right or matched is None:
                if wait:
                    return openai_error(429, f"API 密钥错误次数过多，请 {wait} 秒后再试。", "rate_limit_exceeded",
                                        "rate_limit_exceeded", headers={"Retry-After": str(wait)})
                return openai_error(401, MISSING_KEY, "invalid_request_error", "invalid_api_key")
            identity = "key:" + matched
        wait = limiter.retry_after(identity)
        if wait:
            return openai_error(429, f"请求过于频繁，请 {wait} 秒后再试。", "rate_limit_exceeded",
                                "rate_limit_exceeded", headers={"Retry-After": str(wait)})
        return None

    @router.get("/models", summary="模型列表（只有 unionqa）", responses=openai_error_responses(401, 429))
    def models(request: Request):
        refused = admit(request)
        if refused is not None:
            return refused
        return {"object": "list",
                "data": [{"id": MODEL_NAME, "object": "model", "created": CREATED, "owned_by": "unionqa"}]}

    @router.post(
        "/chat/completions",
        summary="以 OpenAI 聊天接口提问",
        description="最后一条 user 消息是问题，此前的 user/assistant 消息是对话历史。回答带 [n] 引用编号与来源列表，"
        "`citations` 字段给出引用的段落。`stream: true` 时按 OpenAI 的 SSE 格式逐步返回。",
        responses={200: {"content": SSE_RESPONSE, "description": "回答（chat.completion）；`stream: true` 时为 SSE"},
                   **openai_error_responses(400, 401, 404, 413, 429, 500, 503)},
    )
    def chat_completions(request: Request, body: dict = Body(..., examples=[  # noqa: B008
            {"model": MODEL_NAME, "messages": [{"role": "user", "content": "试用期最长多久？"}]}])):
        refused = admit(request)
        if refused is not None:
            return refused
        try:
            chat = ChatRequest.model_validate(body)
        except ValidationError:
            return openai_error(400, V1_BAD_REQUEST, "invalid_request_error")
        if chat.model != MODEL_NAME:
            return openai_error(404, f"没有模型 {printable(chat.model)!r}；可用的模型是 {MODEL_NAME}。",
                                "invalid_request_error", "model_not_found")
        question, history = split_conversation(chat.messages)
        try:
            question = check_question(question, asker.max_chars)
            # any earlier message too: the tokenizer cannot take a lone surrogate (a 500 before issue 22)
            if any(has_lone_surrogate(text) for pair in history for text in pair):
                raise QuestionError(INVALID_UNICODE)
        except QuestionError as exc:
            return openai_error(400, str(exc), "invalid_request_error")
        completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        try:
            if chat.stream:
                # the extractive part runs here (a full pool is a 503, not a broken stream);
                # only the LLM's writing is streamed
                stream = asker.ask_stream(question, history, client_address(request))
                return ClosingEventSourceResponse(completion_chunks(stream, completion_id), stream)
            answer = asker.ask(question, history, client_address(request))
        except ServerBusy as exc:
            return openai_error(503, str(exc), "server_error", "server_busy",
                                headers={"Retry-After": str(exc.retry_after)})
        except QuestionError as exc:
            return openai_error(400, str(exc), "invalid_request_error")
        except Exception:
            # not the question itself: logs hold questions only when configured to (ui.logs)
            log.exception("the bot failed on a chat completion")
            return openai_error(500, "回答问题时出错，请稍后再试。", "server_error")
        return completion(answer, completion_id)

    @router.api_route("/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"],
                      include_in_schema=False)
    def elsewhere(rest: str, request: Request) -> JSONResponse:
        # Without this, the chat mounted at "/" would answer in its own shape (an English 404).
        if rest in ("chat/completions", "models"):
            return openai_error(405, NOT_ALLOWED, "invalid_request_error", headers={
                "Allow": "POST" if rest == "chat/completions" else "GET"})
        return openai_error(404, f"没有接口 /v1/{printable(rest)}；可用的是 POST /v1/chat/completions 与 GET /v1/models。",
                            "invalid_request_error")

    return router
