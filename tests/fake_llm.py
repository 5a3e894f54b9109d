"""A real HTTP server on 127.0.0.1 that speaks the chat-completions protocol as
OpenAI's API sends it, scripted per test: `data:` chunks over chunked transfer
encoding ending in `data: [DONE]`, JSON error bodies, 429 with Retry-After, 500,
slow, hanging and cut-off streams.

The scripted answers are written from the passages in the prompt, the way a model
would: `good` cites what the passages say; the others add one kind of mistake.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODEL = "qwen-test"
PASSAGE = re.compile(r"\[(\d+)\] [^\n]*\n(.*?)(?=\n\n\[\d+\] |\n\n问题：)", re.S)
WRONG_NUMBER = "用人单位还应当在七百七十七日内支付补偿[1]。"  # 777 is in no passage
UNCITED = "此外，单位还应当为职工购买商业保险。"
OUT_OF_RANGE = "职工可以随时提出申请[9]。"


@dataclass
class Reply:
    content: str = ""
    finish_reason: str = "stop"
    status: int = 200
    error: dict | None = None
    headers: tuple[tuple[str, str], ...] = ()
    delay: float = 0.0  # before the response starts
    chunk_delay: float = 0.0  # between streamed chunks
    chunk_chars: int = 3
    cut_after: int | None = None  # close the connection after this many content chunks
    hang: bool = False  # never answer


def passages(request: dict) -> list[str]:
    """The passage texts of our prompt, by number."""
    user = request["messages"][-1]["content"]
    return [m.group(2) for m in PASSAGE.finditer(user)]


def first_sentence(text: str) -> str:
    for sentence in re.findall(r"[^。；\n]+[。；]", text):
        if len(sentence.strip()) >= 8:
            return sentence.strip()
    return text.strip()[:40] + "。"


def good_answer(request: dict) -> str:
    found = passages(request)
    if not found:  # not one of our questions (`unionqa llm check`): a plain short reply
        return "好"
    sentences = [f"根据文件，{first_sentence(found[0]).rstrip('。；')}[1]。"]
    if len(found) > 1:
        sentences.append(f"{first_sentence(found[1]).rstrip('。；')}[2]。")
    return "".join(sentences)


SCRIPTS: dict[str, Callable[[dict], Reply]] = {
    "good": lambda r: Reply(good_answer(r)),
    "uncited": lambda r: Reply(good_answer(r) + UNCITED),
    "wrong_number": lambda r: Reply(good_answer(r) + WRONG_NUMBER),
    "out_of_range": lambda r: Reply(good_answer(r) + OUT_OF_RANGE),
    # the model hit max_tokens in the middle of its second sentence
    "truncated": lambda r: Reply(good_answer(r)[:-12], finish_reason="length"),
    "only_uncited": lambda r: Reply(UNCITED + "请咨询当地工会。"),
    "slow": lambda r: Reply(good_answer(r), chunk_delay=0.12),
    "hang": lambda r: Reply(hang=True),
    "cut_off": lambda r: Reply(good_answer(r), cut_after=4),
    "error_500": lambda r: Reply(status=500, error={
        "message": "The server had an error while processing your request. Sorry about that!",
        "type": "server_error", "param": None, "code": None}),
    "rate_limited": lambda r: Reply(status=429, headers=(("retry-after", "20"),), error={
        "message": "Rate limit reached for requests", "type": "requests", "param": None,
        "code": "rate_limit_exceeded"}),
}


class FakeLLM(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.script: str | Callable[[dict], Reply] = "good"
        self.requests: list[dict] = []
        self.stopping = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def reply(self, request: dict) -> Reply:
        script = SCRIPTS[self.script] if isinstance(self.script, str) else self.script
        return script(request)

    def chat_requests(self) -> list[dict]:
        return [r for r in self.requests if "messages" in r]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FakeLLM

    def log_message(self, *args) -> None:  # quiet
        pass

    def _json(self, status: int, body: dict, headers: tuple[tuple[str, str], ...] = ()) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self.server.requests.append({"path": self.path})
        if self.path.rstrip("/").endswith("/models"):
            self._json(200, {"object": "list", "data": [
                {"id": MODEL, "object": "model", "created": 1_700_000_000, "owned_by": "fake"}]})
        else:
            self._json(404, {"error": {"message": "not found", "type": "invalid_request_error"}})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
        body["authorization"] = self.headers.get("authorization", "")
        self.server.requests.append(body)
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._json(404, {"error": {"message": "not found", "type": "invalid_request_error"}})
            return
        reply = self.server.reply(body)
        if reply.hang:
            self.server.stopping.wait(120)
            return
        if reply.delay:
            time.sleep(reply.delay)
        if reply.error is not None:
            self._json(reply.status, {"error": reply.error}, reply.headers)
            return
        if body.get("stream"):
            self._stream(reply)
        else:
            self._json(200, completion(reply))

    def _stream(self, reply: Reply) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream; charset=utf-8")
        self.send_header("transfer-encoding", "chunked")
        self.send_header("cache-control", "no-cache")
        self.end_headers()
        for i, event in enumerate(stream_events(reply)):
            if reply.cut_after is not None and i > reply.cut_after:
                self.wfile.flush()
                self.connection.shutdown(2)  # mid-answer, without the closing chunk: a dropped connection
                self.close_connection = True
                return
            data = event.encode()
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()
            if reply.chunk_delay and i:
                time.sleep(reply.chunk_delay)
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


def _chunk(delta: dict, finish_reason: str | None = None) -> str:
    chunk = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": int(time.time()),
             "model": MODEL, "system_fingerprint": None,
             "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}]}
    return f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n"


def stream_events(reply: Reply) -> Iterator[str]:
    yield _chunk({"role": "assistant", "content": "", "refusal": None})
    text = reply.content
    for start in range(0, len(text), reply.chunk_chars):
        yield _chunk({"content": text[start : start + reply.chunk_chars]})
    yield _chunk({}, reply.finish_reason)
    yield "data: [DONE]\n\n"


def completion(reply: Reply) -> dict:
    return {"id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()), "model": MODEL,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": reply.content, "refusal": None},
                         "logprobs": None, "finish_reason": reply.finish_reason}],
            "usage": {"prompt_tokens": 100, "completion_tokens": len(reply.content), "total_tokens": 100}}


@contextmanager
def fake_llm() -> Iterator[FakeLLM]:
    server = FakeLLM()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stopping.set()
        server.shutdown()
        server.server_close()
