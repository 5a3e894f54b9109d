"""Serving on an office server, in one process: readiness, the bounded queue
(503 with Retry-After, never a hang), the JSON-line logs and their question
setting, and the settings behind them. The multi-process server is in
tests/test_workers.py."""

from __future__ import annotations

import json
import logging
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from ui import config as cfg
from ui.config import Config
from ui.logs import JsonLineFormatter, log_question
from ui.server import bind_socket, create_app, running

QUESTION = "试用期最长多久？"


@pytest.fixture
def feedback(tmp_path):
    return tmp_path / "feedback.jsonl"


def test_ready_only_once_the_model_has_answered(bot, feedback):
    token = "监控口令2026"
    auth = {"Authorization": f"Bearer {token}".encode()}
    with running(create_app(Config(feedback_log=feedback, admin_token=token), bot), bind_socket()) as url:
        before = httpx.get(url + "api/ready", timeout=30)
        assert before.status_code == 503 and before.json()["status"] == "starting"
        assert httpx.get(url + "api/health", timeout=30).status_code == 200  # alive, though not ready
        assert httpx.post(url + "api/ask", json={"question": QUESTION}, timeout=60).status_code == 200
        public = httpx.get(url + "api/ready", timeout=30)
        after = httpx.get(url + "api/ready", headers=auth, timeout=30)
        wrong = httpx.get(url + "api/ready", headers={"Authorization": "Bearer wrong"}, timeout=30)
    # anybody sees the status only: no process ids, memory or index details
    assert public.status_code == 200 and public.json() == {"status": "ready", "ready": True}
    assert wrong.status_code == 403 and wrong.json()["detail"] == "口令不正确。"
    assert after.status_code == 200
    body = after.json()
    assert body["status"] == "ready" and body["documents"] == len(bot.documents)
    assert body["index_version"] and body["index_warning"] == ""
    [web] = body["processes"]
    assert web["role"] == "web" and 0 < web["pss_mb"] <= web["rss_mb"]


class GatedBot:
    """The real bot, whose answers wait for a gate: keeps a known number of questions in flight."""

    def __init__(self, bot):
        self._bot = bot
        self.gate = threading.Event()
        self.entered = threading.Semaphore(0)

    def __getattr__(self, name):
        return getattr(self._bot, name)

    def ask(self, question, history=None):
        self.entered.release()
        assert self.gate.wait(60)
        return self._bot.ask(question, history)


def test_overload_is_a_503_with_retry_after_at_once(bot, feedback):
    gated = GatedBot(bot)
    config = Config(feedback_log=feedback, queue_per_worker=1)  # one process: 1 question in flight at most
    with running(create_app(config, gated), bind_socket()) as url, ThreadPoolExecutor(4) as pool:
        admitted = [pool.submit(httpx.post, url + "api/ask", json={"question": QUESTION}, timeout=60)]
        assert gated.entered.acquire(timeout=30)  # it is being answered, and holds the only place
        extra = [httpx.post(url + "api/ask", json={"question": QUESTION}, timeout=10) for _ in range(4)]
        gated.gate.set()
        answered = [f.result() for f in admitted]
        after = httpx.post(url + "api/ask", json={"question": QUESTION}, timeout=60)
    assert [r.status_code for r in extra] == [503] * 4
    for response in extra:
        assert int(response.headers["retry-after"]) >= 1
        assert "服务繁忙" in response.json()["detail"]
    assert [r.status_code for r in answered] == [200]
    assert after.status_code == 200  # the queue empties again


def test_openai_endpoint_counts_towards_the_same_bound(bot, feedback):
    """/v1/chat/completions puts questions to the bot like /api/ask: it takes a place in the
    same bounded queue, and past it gets a 503 with Retry-After, in OpenAI's error shape."""
    gated = GatedBot(bot)
    config = Config(feedback_log=feedback, queue_per_worker=1)
    completion = {"model": "unionqa", "messages": [{"role": "user", "content": QUESTION}]}
    with running(create_app(config, gated), bind_socket()) as url, ThreadPoolExecutor(2) as pool:
        admitted = pool.submit(httpx.post, url + "v1/chat/completions", json=completion, timeout=60)
        assert gated.entered.acquire(timeout=30)  # the /v1 question holds the only place
        asked = httpx.post(url + "api/ask", json={"question": QUESTION}, timeout=10)
        completed = httpx.post(url + "v1/chat/completions", json=completion, timeout=10)
        streamed = httpx.post(url + "v1/chat/completions", json={**completion, "stream": True}, timeout=10)
        gated.gate.set()
        first = admitted.result()
    assert asked.status_code == 503 and "服务繁忙" in asked.json()["detail"]
    for response in (completed, streamed):
        assert response.status_code == 503 and int(response.headers["retry-after"]) >= 1
        assert response.json()["error"]["code"] == "server_busy" and "服务繁忙" in response.json()["error"]["message"]
    assert first.status_code == 200 and first.json()["choices"][0]["message"]["content"]


def json_lines(records: list[logging.LogRecord]) -> list[dict]:
    formatter = JsonLineFormatter()
    return [json.loads(formatter.format(r)) for r in records]


@pytest.mark.parametrize("enabled", [False, True])
def test_questions_are_logged_only_when_asked_for(bot, tmp_path, caplog, enabled):
    question = "女职工产假有多少天？"
    config = Config(feedback_log=tmp_path / "feedback.jsonl", log_questions=enabled)
    with caplog.at_level(logging.INFO, logger="unionqa"), running(create_app(config, bot), bind_socket()) as url:
        assert httpx.post(url + "api/ask", json={"question": question}, timeout=60).status_code == 200
    lines = json_lines(caplog.records)
    [asked] = [line for line in lines if line["event"] == "question"]
    assert asked["status"] in ("answered", "related") and asked["ms"] > 0 and asked["chars"] == len(question)
    requests = [line for line in lines if line["event"] == "request" and line["path"] == "/api/ask"]
    assert requests and requests[0]["status"] == 200 and requests[0]["method"] == "POST"
    everything = "\n".join(json.dumps(line, ensure_ascii=False) for line in lines)
    assert (question in everything) is enabled
    assert (asked.get("question") == question) is enabled


def test_a_log_line_is_one_json_object_with_its_fields():
    record = logging.LogRecord("unionqa", logging.ERROR, __file__, 1, "出错：%s", ("索引",), None)
    record.event, record.path = "request", "/api/ask"
    line = JsonLineFormatter().format(record)
    assert "\n" not in line
    data = json.loads(line)
    assert data["level"] == "error" and data["message"] == "出错：索引" and data["path"] == "/api/ask"
    assert data["event"] == "request" and data["pid"] > 0 and data["time"].endswith("+00:00")


def test_log_question_keeps_the_text_out_by_default(caplog):
    with caplog.at_level(logging.INFO, logger="unionqa"):
        log_question(False, "我的工资被拖欠了", "answered", 0.1)
        log_question(True, "我的工资被拖欠了", "answered", 0.1)
    off, on = json_lines(caplog.records)
    assert "question" not in off and off["chars"] == 8
    assert on["question"] == "我的工资被拖欠了"


def test_serving_settings_from_environment_and_flags():
    assert 1 <= Config().workers <= 4
    config = cfg.from_env({"UNIONQA_WORKERS": "3", "UNIONQA_LOG_QUESTIONS": "yes", "UNIONQA_QUEUE_PER_WORKER": "10"})
    assert (config.workers, config.log_questions, config.queue_per_worker) == (3, True, 10)
    assert cfg.from_env({"UNIONQA_LOG_QUESTIONS": "0"}).log_questions is False
    for bad in ({"UNIONQA_WORKERS": "0"}, {"UNIONQA_WORKERS": "两个"}, {"UNIONQA_LOG_QUESTIONS": "也许"}):
        with pytest.raises(cfg.ConfigError, match="UNIONQA_"):
            cfg.from_env(bad)
    from ui.cli import parser

    args = parser().parse_args(["serve", "--workers", "2", "--log-questions"])
    assert cfg.resolve(args, environ={}).workers == 2 and cfg.resolve(args, environ={}).log_questions is True
    assert cfg.resolve(parser().parse_args(["serve"]), environ={}).log_questions is False


def test_any_503_gets_a_retry_after():
    """The chat's full queue is Gradio's own 503; the admission layer adds when to come back."""
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route
    from starlette.testclient import TestClient

    from ui.admission import AdmissionMiddleware

    async def full(request):
        return JSONResponse({"detail": "Queue is full"}, status_code=503)

    app = AdmissionMiddleware(Starlette(routes=[Route("/gradio_api/queue/join", full, methods=["POST"])]), limit=4)
    response = TestClient(app).post("/gradio_api/queue/join")
    assert response.status_code == 503 and int(response.headers["retry-after"]) >= 1
