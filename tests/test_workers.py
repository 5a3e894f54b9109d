"""`unionqa serve --workers 2` as a real process on 127.0.0.1: two answering
processes that share the model's memory, a short load smoke test, a new index
version picked up while serving, the chat in a real Chromium, and JSON-line logs."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import SETTINGS
from tests.test_openai_api import sse_events

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "ready-details-token"  # /api/ready shows the processes only with the admin token
pytestmark = pytest.mark.slow


def _loadgen():
    spec = importlib.util.spec_from_file_location("loadgen", ROOT / "scripts" / "loadgen.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("loadgen", module)  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def _serving(work: Path, *args: str):
    """`unionqa serve --workers 2 ARGS` on a free port, until it is ready: (its URL, its
    stderr log); stopped on exit."""
    port = _free_port()
    with open(work / "stderr.log", "w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.fake_embedder", "serve", "--workers", "2", *args,
             "--port", str(port), "--feedback-log", str(work / "feedback.jsonl")],
            stdout=subprocess.DEVNULL, stderr=stderr, env={**os.environ, "HF_HUB_OFFLINE": "1"}, cwd=ROOT,
        )
        url = f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + 600  # a busy shared machine: loading and forking can be slow
        try:
            while True:
                assert process.poll() is None, (work / "stderr.log").read_text()
                try:
                    if httpx.get(url + "api/ready", timeout=5).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, "the server did not become ready"
                time.sleep(0.2)
            yield url, work / "stderr.log"
        finally:
            process.terminate()
            process.wait(timeout=30)


@pytest.fixture(scope="module")
def server(bundled_index, tmp_path_factory):
    """The server over its own copy of the bundled index (a test adds a document to it)."""
    work = tmp_path_factory.mktemp("workers")
    index = work / "index"
    shutil.copytree(bundled_index, index)
    with _serving(work, "--queue-per-worker", "8", "--index", str(index), "--admin-token", TOKEN) as (url, log):
        yield url, index, log


def test_two_warm_workers_share_the_model_memory(server):
    url, _, _ = server
    ready = httpx.get(url + "api/ready", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30).json()
    assert ready["workers"] == 2 and ready["workers_wanted"] == 2 and ready["restarts"] == 0
    web, *workers = ready["processes"]
    assert web["role"] == "web" and [w["role"] for w in workers] == ["worker", "worker"]
    for worker in workers:
        # forked after the model loaded: most of each worker's memory is the web process's pages
        assert worker["shared_mb"] > 2 * worker["private_mb"]
        assert worker["pss_mb"] < 0.6 * worker["rss_mb"]


def test_load_smoke_ten_clients_for_five_seconds(server):
    url, _, _ = server
    result = _loadgen().run(url, clients=10, seconds=5)
    assert result.errors == 0, result.error_samples
    assert result.busy == 0  # 10 clients fit in the queue of 2 x 8
    assert result.ok >= 10


def _http_get(sock, host: str, path: str) -> bytes:
    """One HTTP/1.1 GET on an open socket, keeping it alive; the whole response."""
    import re

    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, body = data.split(b"\r\n\r\n", 1)
    length = int(re.search(rb"content-length: *(\d+)", head, re.IGNORECASE).group(1))
    while len(body) < length:
        body += sock.recv(65536)
    return head


def test_an_idle_keep_alive_connection_outlasts_a_retry_after_wait(server):
    """A client told to retry after some seconds comes back on the same connection: the
    server must not have closed it meanwhile (uvicorn's default closes it after 5 s, and a
    request sent as it closes gets no answer at all)."""
    import socket
    from urllib.parse import urlparse

    from ui.server import KEEP_ALIVE_SECONDS

    url, _, _ = server
    address = urlparse(url)
    with socket.create_connection((address.hostname, address.port), timeout=30) as sock:
        assert _http_get(sock, address.netloc, "/api/health").startswith(b"HTTP/1.1 200")
        time.sleep(6)  # longer than uvicorn's default keep-alive, shorter than ours
        sock.setblocking(False)
        with pytest.raises(BlockingIOError):  # b"" here would mean the server closed it
            sock.recv(1, socket.MSG_PEEK)
        sock.setblocking(True)
        assert _http_get(sock, address.netloc, "/api/health").startswith(b"HTTP/1.1 200")
    assert KEEP_ALIVE_SECONDS > 30  # longer than the longest Retry-After the admission sends


def test_chat_endpoint_under_load(server):
    url, _, _ = server
    result = _loadgen().run(url, clients=4, seconds=3, kind="chat")
    assert result.errors == 0, result.error_samples
    assert result.ok >= 4


def test_workers_pick_up_a_new_index_version(server, embedder, tmp_path):
    from index.update import add_paths

    url, index, _ = server
    question = "职工书屋哪天开放？"
    document = tmp_path / "职工书屋开放须知.txt"
    document.write_text("职工书屋每周三和周六开放，借阅证由工会办公室统一办理。\n", encoding="utf-8")
    add_paths(index, [document], SETTINGS, embedder)
    deadline = time.monotonic() + 60
    seen_by = 0
    while seen_by < 6:  # several answers in a row, so both workers have answered from it
        answer = httpx.post(url + "api/ask", json={"question": question}, timeout=60).json()
        cited = any(c["doc_id"] == "added/职工书屋开放须知" for c in answer["citations"])
        seen_by = seen_by + 1 if cited else 0
        assert time.monotonic() < deadline, answer
    docs = httpx.get(url + "api/documents", timeout=30).json()
    assert "added/职工书屋开放须知" in [d["id"] for d in docs]


@pytest.mark.browser
@pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="needs Debian's chromium")
def test_chat_in_a_browser_with_two_workers(server):
    """The chat's queue and session stay in the web process, so a conversation works
    across several questions, whichever process answers each."""
    from playwright.sync_api import sync_playwright

    from tests.test_browser import CHROMIUM_ARGS, ask

    url, _, _ = server
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(locale="zh-CN")
            page.goto(url, wait_until="load")
            page.get_by_text("工会知识问答").first.wait_for()
            first = ask(page, "试用期最长多久？")
            assert "试用期" in first.inner_text()
            second = ask(page, "劳模精神的内涵是什么？")
            assert "爱岗敬业" in second.inner_text()
            third = ask(page, "今天天气怎么样？")
            assert "没有找到" in third.inner_text()
            assert page.locator(".uq-answer").count() == 3  # the whole conversation is still shown
        finally:
            browser.close()


def test_logs_are_json_lines_without_questions(server):
    url, _, stderr = server
    question = "用人单位拖欠工资怎么办？"
    assert httpx.post(url + "api/ask", json={"question": question}, timeout=60).status_code == 200
    deadline = time.monotonic() + 10
    while '"event": "question"' not in stderr.read_text(encoding="utf-8"):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    lines = [line for line in stderr.read_text(encoding="utf-8").splitlines() if line.strip()]
    parsed = [json.loads(line) for line in lines]  # every line of the log is one JSON object
    events = {line["event"] for line in parsed}
    assert {"started", "request", "question"} <= events
    assert question not in "\n".join(lines)  # UNIONQA_LOG_QUESTIONS is off


# ---------------------------------------------------------------- with an LLM: the web process writes


@pytest.fixture(scope="module")
def llm_workers(bundled_index, tmp_path_factory, llm_server):
    """`serve --workers 2` with an LLM (the scripted server of tests/fake_llm.py) and one
    question in flight per answering process: 2 places in all."""
    work = tmp_path_factory.mktemp("llm_workers")
    with _serving(work, "--queue-per-worker", "1", "--index", str(bundled_index), "--llm-base-url", llm_server.url,
                  "--llm-model", "qwen-test", "--llm-timeout", "30") as served:
        yield served


def test_with_workers_the_llm_answer_streams_oversse_events(llm_workers, llm_server):
    from tests.fake_llm import UNCITED

    url, _ = llm_workers
    llm_server.script = "uncited"
    warmed = len(llm_server.chat_requests())
    with httpx.stream("POST", url + "api/ask", json={"question": "试用期最长多久？", "stream": True},
                      timeout=60) as response:
        assert response.status_code == 200
        events = sse_events(response)
    names = [name for name, _ in events]
    assert names[-1] == "answer" and set(names[:-1]) == {"partial"} and len(names) > 3
    answer = events[-1][1]
    assert answer["generated"] is True and UNCITED not in answer["text"] and answer["citations"]
    assert answer["sentences_dropped"] == 1
    # the prompt held the passages the answering process retrieved; warming up never asked the LLM
    assert warmed == 0 and "第十九条" in llm_server.chat_requests()[-1]["messages"][-1]["content"]


def test_with_workers_v1_streams_through_the_openai_client(llm_workers, llm_server):
    import openai

    url, _ = llm_workers
    llm_server.script = "good"
    client = openai.OpenAI(base_url=url + "v1", api_key="none", max_retries=0, timeout=60)
    chunks = list(client.chat.completions.create(
        model="unionqa", messages=[{"role": "user", "content": "试用期最长多久？"}], stream=True))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "[1]" in text and "来源：" in text
    assert chunks[-1].model_extra["unionqa"]["generated"] is True


def test_with_workers_v1_streams_hold_their_places_in_the_queue(llm_workers, llm_server):
    """Two slow /v1 streams fill both places (2 processes x 1): another question gets a
    503 with Retry-After until they end. Their logs hold no question text."""
    from concurrent.futures import ThreadPoolExecutor

    from tests.fake_llm import Reply, good_answer

    url, stderr = llm_workers
    release = threading.Event()

    def slow(request: dict) -> Reply:
        release.wait(60)  # the LLM is still writing
        return Reply(good_answer(request))

    llm_server.script = slow
    before = len(llm_server.chat_requests())
    completion = {"model": "unionqa", "messages": [{"role": "user", "content": "女职工产假有多少天？"}], "stream": True}
    try:
        with ThreadPoolExecutor(2) as pool:
            streams = [pool.submit(lambda: httpx.post(url + "v1/chat/completions", json=completion, timeout=90))
                       for _ in range(2)]
            deadline = time.monotonic() + 60
            while len(llm_server.chat_requests()) < before + 2:  # both are with the LLM now
                assert time.monotonic() < deadline
                time.sleep(0.05)
            busy = httpx.post(url + "api/ask", json={"question": "试用期最长多久？"}, timeout=30)
            release.set()
            finished = [s.result() for s in streams]
    finally:
        release.set()
        llm_server.script = "good"
    assert busy.status_code == 503 and int(busy.headers["retry-after"]) >= 1
    assert [r.status_code for r in finished] == [200, 200] and all("[DONE]" in r.text for r in finished)
    assert httpx.post(url + "api/ask", json={"question": "试用期最长多久？"}, timeout=60).status_code == 200
    log = stderr.read_text(encoding="utf-8")
    questions = [json.loads(line) for line in log.splitlines() if '"event": "question"' in line]
    assert any(q.get("generated") is True for q in questions)
    assert "女职工产假有多少天" not in log
