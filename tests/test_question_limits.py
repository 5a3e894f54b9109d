"""One size rule for a question on every route, applied before anything is queued or
echoed (issue 23): the chat's Gradio routes, /api/ask (and its SSE stream), /v1. And a
Chinese token with `Authorization: Bearer`, on the admin page, /api/ready and /v1."""

from __future__ import annotations

import json
import logging
import resource
import time

import httpx
import pytest

from ui.config import Config
from ui.limits import INVALID_UNICODE
from ui.server import bind_socket, create_app, running

TOKEN = "工会管理口令2026"
KEY = "密钥一号"
LIMIT = 500


@pytest.fixture(scope="module")
def url(bot, tmp_path_factory):
    work = tmp_path_factory.mktemp("limits")
    config = Config(feedback_log=work / "feedback.jsonl", admin_token=TOKEN, api_keys=(KEY, "k2"),
                    index_dir=work / "index")
    with running(create_app(config, bot), bind_socket()) as base:
        yield base


def rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def chunks(total: int, size: int = 1 << 20):
    """A body streamed in chunks, without a Content-Length: a client that does not declare it."""
    head = b'{"data": ["'
    yield head
    sent = len(head)
    while sent < total:
        yield b"x" * size
        sent += size
    yield b'", null], "fn_index": 0, "session_hash": "abc"}'


# ----- the chat's Gradio routes ---------------------------------------------------------------


@pytest.mark.parametrize("route", ["gradio_api/queue/join", "gradio_api/call/chat", "gradio_api/run/chat"])
def test_a_huge_chat_message_is_refused_at_once_and_memory_does_not_grow(url, route):
    with httpx.Client(base_url=url, timeout=60) as c:
        started = time.perf_counter()
        declared = c.post(route, content=b"x" * (8 << 20), headers={"Content-Type": "application/json"})
        assert declared.status_code == 413 and "请求内容太大" in declared.json()["detail"]
        before = rss_mb()
        for _ in range(5):  # 5 × 12 MB streamed: none of it may stay in the server
            streamed = c.post(route, content=chunks(12 << 20), headers={"Content-Type": "application/json"})
            assert streamed.status_code == 413
        elapsed = time.perf_counter() - started
    grown = rss_mb() - before
    print(f"\n{route}: 8 MB declared + 5 × 12 MB streamed refused in {elapsed:.2f} s; RSS grew {grown:.1f} MB")
    assert elapsed < 20
    assert grown < 40  # the test process is the server: 60 MB sent, a few MB of buffers at most


@pytest.mark.parametrize("route", ["gradio_api/queue/join", "gradio_api/call/chat"])
def test_a_question_over_the_limit_is_refused_before_it_is_queued(url, route):
    body = {"data": ["工" * (LIMIT + 1), None], "fn_index": 0, "session_hash": "s1"}
    with httpx.Client(base_url=url, timeout=60) as c:
        r = c.post(route, json=body)
        # escaped JSON (6 bytes a character) is counted in characters, not bytes
        escaped = c.post(route, content=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    for response in (r, escaped):
        assert response.status_code == 422
        assert response.json()["detail"] == f"问题太长了（{LIMIT + 1} 字），请控制在 {LIMIT} 字以内。"
        assert "工工工" not in response.text  # nothing echoed


def test_a_question_at_the_limit_still_goes_through(url):
    with httpx.Client(base_url=url, timeout=120) as c:
        r = c.post("gradio_api/call/chat", json={"data": ["工会" * (LIMIT // 2)]})
        assert r.status_code == 200
        events = c.get(f"gradio_api/call/chat/{r.json()['event_id']}").text
    assert "event: complete" in events


def test_a_lone_surrogate_in_the_chat_gets_the_api_message_and_the_stream_survives(url, caplog):
    """Through the browser's own route (queue/join + the session's event stream)."""
    with httpx.Client(base_url=url, timeout=60) as c:
        config = c.get("config").json()
        [fn] = [d["id"] for d in config["dependencies"] if d.get("api_name") == "chat"]
        session = "surrogate-session"
        with caplog.at_level(logging.ERROR):
            joined = c.post("gradio_api/queue/join", content=json.dumps(
                {"data": ["\ud800工会", None], "fn_index": fn, "session_hash": session, "event_data": None,
                 "trigger_id": None}).encode(), headers={"Content-Type": "application/json"})
            assert joined.status_code == 200
            stream = c.get("gradio_api/queue/data", params={"session_hash": session}).text
            # the same session asks again, and is answered
            again = c.post("gradio_api/queue/join", json={"data": ["试用期最长多久？", None], "fn_index": fn,
                                                          "session_hash": session, "event_data": None})
            assert again.status_code == 200
            answered = c.get("gradio_api/queue/data", params={"session_hash": session}).text
    messages = [json.loads(line[6:]) for line in stream.splitlines() if line.startswith("data: ")]
    warnings = [m for m in messages if m.get("msg") == "log"]
    assert [w["log"] for w in warnings] == [INVALID_UNICODE]
    [done] = [m for m in messages if m.get("msg") == "process_completed"]
    assert done["success"] is True
    assert "\\ud800" not in stream  # not echoed back
    assert "Exception in ASGI application" not in caplog.text
    assert "uq-answer" in answered


# ----- /api/ask and /v1 ------------------------------------------------------------------------


def test_the_same_rule_on_api_ask_its_stream_and_v1(url):
    long = "工" * (LIMIT + 1)
    expected = f"问题太长了（{LIMIT + 1} 字），请控制在 {LIMIT} 字以内。"
    v1 = {"Authorization": f"Bearer {KEY}".encode()}
    with httpx.Client(base_url=url, timeout=60) as c:
        assert c.post("api/ask", json={"question": long}).json()["detail"] == expected
        streamed = c.post("api/ask", json={"question": long, "stream": True})
        assert streamed.status_code == 422 and streamed.json()["detail"] == expected
        chat = c.post("v1/chat/completions", headers=v1, json={"messages": [{"role": "user", "content": long}]})
        assert chat.status_code == 400 and chat.json()["error"]["message"] == expected
        for path in ("api/ask", "v1/chat/completions"):  # and a huge body never reaches the route
            huge = c.post(path, headers=v1, content=chunks(10 << 20))
            body = huge.json()
            detail = body["error"]["message"] if path.startswith("v1") else body["detail"]  # OpenAI's shape on /v1
            assert huge.status_code == 413 and "请求内容太大" in detail


# ----- a Chinese token with Bearer -----------------------------------------------------------


def test_a_chinese_admin_token_works_with_bearer(url):
    # sent as UTF-8 bytes, as curl sends `-H 'Authorization: Bearer 工会管理口令2026'`
    auth = {"Authorization": f"Bearer {TOKEN}".encode()}
    with httpx.Client(base_url=url, timeout=60) as c:
        page = c.get("admin", headers=auth)
        assert page.status_code == 200 and "上传" in page.text
        wrong = c.get("admin", headers={"Authorization": "Bearer 工会管理口令2025".encode()})
        assert wrong.status_code == 403
        assert c.get("admin", headers=auth).status_code == 200  # a right token clears the failure
        ready = c.get("api/ready", headers=auth).json()
        assert "processes" in ready and "index_version" in ready
        assert "processes" not in c.get("api/ready").json()


def test_a_chinese_v1_key_works_with_bearer(url):
    with httpx.Client(base_url=url, timeout=60) as c:
        assert c.get("v1/models", headers={"Authorization": f"Bearer {KEY}".encode()}).status_code == 200
        assert c.get("v1/models", headers={"Authorization": "Bearer k2"}).status_code == 200
        assert c.get("v1/models", headers={"Authorization": "Bearer 密钥二号".encode()}).status_code == 401
        assert c.get("v1/models").status_code == 401


# ----- feedback votes ---------------------------------------------------------------------------


class ChatSession:
    """The browser's own protocol: queue/join, then the session's event stream."""

    def __init__(self, client: httpx.Client, session: str):
        self.c, self.session = client, session
        config = client.get("config").json()
        [chat] = [c["id"] for c in config["components"] if c.get("props", {}).get("elem_id") == "uq-chat"]
        self.ask_fn = next(d["id"] for d in config["dependencies"] if d.get("api_name") == "chat")
        self.like_fn = next(d["id"] for d in config["dependencies"] if [chat, "like"] in d["targets"])

    def run(self, fn: int, data: list, event_data: dict | None = None) -> list[dict]:
        joined = self.c.post("gradio_api/queue/join", json={
            "data": data, "fn_index": fn, "session_hash": self.session, "event_data": event_data})
        assert joined.status_code == 200, joined.text
        stream = self.c.get("gradio_api/queue/data", params={"session_hash": self.session}).text
        return [json.loads(line[6:]) for line in stream.splitlines() if line.startswith("data: ")]

    def like(self, turn: int, liked: bool = True) -> list[str]:
        messages = self.run(self.like_fn, [None, None], {"index": [2 * turn + 1, 0], "value": "…", "liked": liked})
        return [m["log"] for m in messages if m.get("msg") == "log"]


def test_one_vote_per_answer_and_session_and_votes_are_rate_limited(bot, tmp_path, monkeypatch):
    import ui.chat

    monkeypatch.setattr(ui.chat, "FEEDBACK_PER_MINUTE", 2)
    log = tmp_path / "feedback.jsonl"
    with running(create_app(Config(feedback_log=log), bot), bind_socket()) as base, \
            httpx.Client(base_url=base, timeout=120) as c:
        session = ChatSession(c, "voter")
        for question in ("试用期最长多久？", "工会的基本职责是什么？", "劳模精神的内涵是什么？"):
            session.run(session.ask_fn, [question, None])
        started = time.perf_counter()
        shown = [session.like(0) for _ in range(30)]  # a script clicking 👍 on one answer
        elapsed = time.perf_counter() - started
        assert shown[0] == ["感谢您的反馈！"] and all(s == ["您已对这条回答反馈过，谢谢！"] for s in shown[1:])
        assert session.like(1, liked=False) == ["感谢您的反馈！"]
        [refused] = session.like(2)  # the third vote of this address in a minute
        assert refused.startswith("反馈太频繁，请") and refused.endswith("秒后再试。")
    lines = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    assert [e["rating"] for e in lines] == ["up", "down"]
    assert [e["question"] for e in lines] == ["试用期最长多久？", "工会的基本职责是什么？"]
    print(f"\n30 votes on one answer: {elapsed:.2f} s, {len(lines)} lines written in all")
