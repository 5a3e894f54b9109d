"""Hardening, second round (issue 22), each finding probed as an attacker would on a
real server on 127.0.0.1: sign-in guesses sent in parallel, a body limit on every
route, Gradio's upload route, file names too long for the disk, a lone surrogate
in an earlier /v1 message, forwarded addresses, wrong /v1 keys, the Bearer scheme,
/v1's error shape, cross-origin logout, the Origin check, invisible characters in
file names, and the security headers on every response."""

from __future__ import annotations

import logging
import os
import socket
import time
from pathlib import Path

import httpx
import pytest

from bot.bot import Bot
from index.store.folder import IndexStore
from index.update import add_paths
from ui import cli
from ui.admin import safe_filename, upload_body_limit
from ui.config import Config, ConfigError, from_env, resolve
from ui.server import bind_socket, create_app, running
from ui.sessions import FREE_FAILURES, MAX_IN_FLIGHT, LoginThrottle

from .conftest import SETTINGS

TOKEN = "another-s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
KEY = "uq-key-22"
GOOD = "会员活动\n工会每季度组织一次会员健步走活动，报名截止到活动前三天。"
UPLOAD_MB = 1


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory, embedder) -> Path:
    work = tmp_path_factory.mktemp("round2")
    (work / "seed").mkdir()
    (work / "seed" / "dues.txt").write_text("工会会费\n会员按月缴纳会费，标准为本人工资收入的千分之五。", encoding="utf-8")
    add_paths(work / "index", [work / "seed"], SETTINGS, embedder, progress=False)
    return work / "index"


def serve(index_dir: Path, embedder, **settings):
    """A fresh server (its own sign-in throttle and sessions) with the admin page and /v1 keys."""
    bot = Bot(IndexStore.load(index_dir, expected=SETTINGS), embedder)
    config = Config(index_dir=index_dir, admin_token=TOKEN, max_upload_mb=UPLOAD_MB, api_keys=(KEY,),
                    feedback_log=index_dir.parent / "feedback.jsonl", **settings)
    return running(create_app(config, bot), bind_socket())


@pytest.fixture(scope="module")
def url(index_dir, embedder):
    with serve(index_dir, embedder) as base:
        yield base


def _status(sock: socket.socket) -> int:
    data = b""
    while b"\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return int(data.split(b" ", 2)[1])


# ----- 1. sign-in guesses in parallel --------------------------------------------------------


def test_parallel_sign_in_guesses_are_counted_when_they_start(index_dir, embedder):
    """51 connections send only their headers; 50 send a wrong token, then the 51st the
    right one. Before issue 22 all 51 passed the check before any body came: 3 × 403,
    47 × 429, and the parked right token got a session although the address was blocked."""
    with serve(index_dir, embedder) as base:
        port = int(base.rsplit(":", 1)[1].strip("/"))
        bodies = [f"token=guess{i:04d}".encode() for i in range(50)] + [f"token={TOKEN}".encode()]
        socks = []
        for body in bodies:
            s = socket.create_connection(("127.0.0.1", port), timeout=30)
            s.sendall(b"POST /admin/login HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                      b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n"
                      % (port, len(body)))
            socks.append(s)
        time.sleep(0.5)  # every request parked at its body
        for s, body in zip(socks[:50], bodies[:50], strict=True):
            s.sendall(body)
        statuses = [_status(s) for s in socks[:50]]
        socks[50].sendall(bodies[50])
        parked = _status(socks[50])
        for s in socks:
            s.close()
    assert statuses.count(403) <= FREE_FAILURES + MAX_IN_FLIGHT
    assert set(statuses) <= {403, 429} and statuses.count(429) >= 50 - FREE_FAILURES - MAX_IN_FLIGHT
    assert parked == 429  # blocked by then: the right token gets no session either


def test_attempts_count_from_their_start_capped_in_flight_and_rechecked():
    now = [0.0]
    throttle = LoginThrottle(clock=lambda: now[0])
    first, second = throttle.begin("a"), throttle.begin("a")
    assert first[0] == 0 and second[0] == 0
    assert throttle.begin("a")[0] >= 1  # a third at once: refused before its token is even read
    throttle.end("a", right=False)
    throttle.end("a", right=False)
    wait, parked = throttle.begin("a")  # the third attempt, its body slow to come
    assert wait == 0
    assert throttle.begin("a")[0] == 0  # the fourth starts meanwhile: counted now, the address blocked
    assert throttle.recheck("a", parked) >= 1  # so the parked token is refused once it arrives
    assert throttle.retry_after("a") >= 1 and throttle.begin("a")[0] >= 1
    throttle.end("a", right=False)
    throttle.end("a", right=False)
    now[0] += 60
    wait, ticket = throttle.begin("a")
    assert wait == 0 and throttle.recheck("a", ticket) == 0  # its own count does not block it
    throttle.end("a", right=True)
    assert throttle.retry_after("a") == 0 and throttle.begin("a") == (0, 1)  # a right token clears it


# ----- 2. one body limit for every route ----------------------------------------------------


def _chunks(total: int, size: int = 1 << 20):
    """A body streamed in chunks, without a Content-Length."""
    sent = 0
    while sent < total:
        yield b"x" * size
        sent += size


@pytest.mark.parametrize("method, path", [
    ("POST", "/api/ask"), ("POST", "/v1/chat/completions"), ("POST", "/admin/login"), ("POST", "/admin/remove"),
    ("POST", "/gradio_api/queue/join"), ("POST", "/"), ("GET", "/api/health"), ("POST", "/docs"),
    ("PUT", "/doc/x"),
])
def test_every_route_refuses_a_large_body_before_reading_it(url, method, path):
    with httpx.Client(base_url=url, timeout=60) as c:
        declared = c.request(method, path, content=b"x" * (10 << 20), headers={"Content-Type": "application/json"})
        streamed = c.request(method, path, content=_chunks(10 << 20), headers={"Content-Type": "application/json"})
    for r in (declared, streamed):
        assert r.status_code == 413, (path, r.status_code, r.text[:200])
        if path.startswith("/admin/"):  # forms from a browser: a page, not JSON
            assert r.headers["content-type"].startswith("text/html") and "请求内容太大" in r.text
            continue
        body = r.json()
        detail = body["error"]["message"] if path.startswith("/v1/") else body["detail"]
        assert "请求内容太大" in detail


def test_the_admin_upload_has_its_own_larger_limit_checked_while_streaming(url):
    limit = upload_body_limit(UPLOAD_MB)
    assert limit > 1 << 20  # larger than the 64 KB of every other route
    boundary = b"----uqboundary"
    head = (b"--" + boundary + b'\r\nContent-Disposition: form-data; name="files"; filename="big.txt"\r\n'
            b"Content-Type: text/plain\r\n\r\n")

    def multipart(total: int):
        yield head
        yield from _chunks(total)
        yield b"\r\n--" + boundary + b"--\r\n"

    headers = {**AUTH, "Content-Type": f"multipart/form-data; boundary={boundary.decode()}"}
    port = int(url.rsplit(":", 1)[1].strip("/"))
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:  # refused on the header alone
        s.sendall(b"POST /admin/upload HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n"
                  b"Content-Length: %d\r\n\r\n" % (TOKEN.encode(), limit + 1))
        declared = _status(s)
    with httpx.Client(base_url=url, timeout=120) as c:
        streamed = c.post("/admin/upload", headers=headers, content=multipart(limit + (4 << 20)))
        small = c.post("/admin/upload", headers=AUTH, files=[("files", ("ok.txt", GOOD.encode(), "text/plain"))])
    assert declared == 413
    assert streamed.status_code == 413 and "请求内容太大" in streamed.text and "返回管理页" in streamed.text
    assert small.status_code == 200 and "已加入" in small.text  # a normal upload still goes through


# ----- 3. Gradio's upload route ----------------------------------------------------------------


def test_gradio_upload_routes_take_no_files(url):
    marker = f"uq-probe-{os.getpid()}-{time.time_ns()}.html"
    folder = Path(os.environ.get("GRADIO_TEMP_DIR") or Path(__import__("tempfile").gettempdir()) / "gradio")
    with httpx.Client(base_url=url, timeout=30) as c:
        for path in ("gradio_api/upload", "gradio_api/upload/", "gradio_api/process_recording"):
            r = c.post(path, files=[("files", (marker, b"<p>x</p>", "text/html"))])
            assert r.status_code == 403 and r.json()["detail"] == "聊天不接受上传文件。"
    assert not [p for p in folder.rglob("*") if marker in p.name] if folder.is_dir() else True


# ----- 4. file names measured in bytes; format characters ------------------------------------------


def test_a_file_name_too_long_for_the_disk_is_refused_alone(url):
    long_name = "工会" * 60 + ".txt"  # 124 characters, 364 bytes: ext4 allows 255
    with httpx.Client(base_url=url, timeout=120) as c:
        r = c.post("/admin/upload", headers=AUTH, files=[
            ("files", (long_name, GOOD.encode(), "text/plain")),
            ("files", ("short.txt", GOOD.replace("健步走", "登山").encode(), "text/plain")),
        ])
    assert r.status_code == 200
    assert "文件名太长" in r.text and "255 字节" in r.text
    assert "short.txt" in r.text and "已加入" in r.text  # the rest of the batch went on
    assert "无法读写文件" not in r.text


def test_format_characters_are_stripped_from_file_names_and_ids(url, index_dir):
    assert safe_filename("报告\u202etxt.md") == "报告txt.md"
    assert safe_filename("\u200b会\u200d费\ufeff.txt") == "会费.txt"
    with httpx.Client(base_url=url, timeout=120) as c:
        r = c.post("/admin/upload", headers=AUTH,
                   files=[("files", ("活动\u202e\u200b通知.txt", GOOD.encode(), "text/plain"))])
    assert r.status_code == 200 and "added/活动通知" in r.text
    assert "\u202e" not in r.text and "\u200b" not in r.text
    assert (index_dir / "uploads" / "活动通知.txt").is_file()


# ----- 5. a lone surrogate in an earlier /v1 message --------------------------------------------


def test_a_lone_surrogate_in_an_earlier_v1_message_is_a_400(url, caplog):
    body = ('{"model": "unionqa", "messages": [{"role": "user", "content": "\\ud800会费"}, '
            '{"role": "assistant", "content": "会费按月缴纳。"}, {"role": "user", "content": "标准是多少？"}]}')
    with caplog.at_level(logging.ERROR), httpx.Client(base_url=url, timeout=60) as c:
        r = c.post("/v1/chat/completions", content=body.encode(),
                   headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"})
        model = c.post("/v1/chat/completions", content=b'{"model": "\\udfff", "messages": []}',
                       headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"})
    assert r.status_code == 400
    assert r.json()["error"]["type"] == "invalid_request_error" and "不成对的代理码位" in r.json()["error"]["message"]
    assert model.status_code in (400, 404) and "error" in model.json()
    assert "Traceback" not in caplog.text and "failed on a chat completion" not in caplog.text


# ----- forwarded addresses --------------------------------------------------------------------------


def test_x_forwarded_for_is_believed_only_from_configured_proxies(index_dir, embedder):
    def guesses(base: str) -> list[int]:
        with httpx.Client(base_url=base) as c:
            return [c.post("/admin/login", data={"token": f"g{i}"}, headers={"X-Forwarded-For": f"10.0.0.{i}"}
                           ).status_code for i in range(6)]

    with serve(index_dir, embedder) as base:  # default: no proxy trusted
        assert guesses(base)[FREE_FAILURES:] == [429] * (6 - FREE_FAILURES)  # a forged address buys nothing
    with serve(index_dir, embedder, forwarded_allow_ips=("127.0.0.1",)) as base:  # behind nginx on this host
        assert guesses(base) == [403] * 6  # each client address counted on its own


def test_forwarded_allow_ips_setting_from_env_and_flag():
    assert Config().forwarded_allow_ips == ()
    assert from_env({"UNIONQA_FORWARDED_ALLOW_IPS": "127.0.0.1, 10.1.0.0/16"}).forwarded_allow_ips == (
        "127.0.0.1", "10.1.0.0/16")
    with pytest.raises(ConfigError):
        from_env({"UNIONQA_FORWARDED_ALLOW_IPS": "*"})
    args = cli.parser().parse_args(["serve", "--forwarded-allow-ips", "::1"])
    assert resolve(args, {"UNIONQA_FORWARDED_ALLOW_IPS": "10.0.0.1"}).forwarded_allow_ips == ("::1",)


# ----- /v1 keys, the Bearer scheme and /v1's error shape ---------------------------------------------


def test_wrong_v1_keys_are_throttled(index_dir, embedder):
    with serve(index_dir, embedder) as base, httpx.Client(base_url=base) as c:
        statuses = [c.get("/v1/models", headers={"Authorization": f"Bearer wrong{i}"}) for i in range(8)]
        codes = [r.status_code for r in statuses]
        assert codes[:FREE_FAILURES] == [401] * FREE_FAILURES and set(codes[FREE_FAILURES:]) == {429}
        assert int(statuses[-1].headers["retry-after"]) >= 1
        assert statuses[-1].json()["error"]["type"] == "rate_limit_exceeded"


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "bEaReR"])
def test_the_bearer_scheme_is_case_insensitive(url, scheme):
    r = httpx.get(url + "v1/models", headers={"Authorization": f"{scheme} {KEY}"})
    assert r.status_code == 200 and r.json()["data"][0]["id"] == "unionqa"


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b'{"messages": "x"}', b'"text"'])
def test_malformed_v1_bodies_get_openai_errors(url, body):
    r = httpx.post(url + "v1/chat/completions", content=body,
                   headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"})
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["type"] == "invalid_request_error" and "请求格式不正确" in error["message"]
    assert "detail" not in r.json()


def test_other_v1_errors_have_openai_shape_too(url):
    with httpx.Client(base_url=url) as c:
        wrong_method = c.get("/v1/chat/completions", headers={"Authorization": f"Bearer {KEY}"})
        trace = c.request("TRACE", "/v1/models")
        unknown = c.post("/v1/embeddings", json={"input": "x"})
    for r in (wrong_method, trace):
        assert r.status_code == 405 and "不支持该请求方法" in r.json()["error"]["message"]
    assert unknown.status_code == 404 and "/v1/embeddings" in unknown.json()["error"]["message"]


# ----- logout and the Origin check ------------------------------------------------------------------


def test_a_cross_origin_logout_does_not_revoke_the_session(url):
    with httpx.Client(base_url=url) as c:
        assert c.post("/admin/login", data={"token": TOKEN}).status_code == 303
        forged = c.post("/admin/logout", headers={"Origin": "http://evil.example"})
        assert forged.status_code == 403
        assert c.get("/admin").status_code == 200  # still signed in
        assert c.post("/admin/logout").status_code == 303
        assert c.get("/admin").status_code != 200


@pytest.mark.parametrize("headers, allowed", [
    ({}, True),  # curl and scripts send neither
    ({"Origin": "{own}"}, True),
    ({"Origin": "{own_https}"}, False),  # scheme differs
    ({"Origin": "http://127.0.0.1:1"}, False),  # port differs
    ({"Origin": "null"}, False),
    ({"Referer": "{own}/admin"}, True),
    ({"Referer": "http://evil.example/page"}, False),  # no Origin, a foreign Referer
])
def test_the_origin_check_compares_scheme_host_and_port(url, headers, allowed):
    own = url.rstrip("/")
    sent = {k: v.format(own=own, own_https=own.replace("http://", "https://")) for k, v in headers.items()}
    r = httpx.post(url + "admin/login", data={"token": TOKEN}, headers=sent)
    assert (r.status_code == 303) is allowed, (headers, r.status_code)
    if not allowed:
        assert r.status_code == 403 and "请求来自其他网站" in r.text


# ----- security headers -----------------------------------------------------------------------------


def test_security_headers_are_on_every_response(url):
    with httpx.Client(base_url=url, timeout=60) as c:
        responses = [
            c.get("/"), c.get("/api/health"), c.get("/api/documents"), c.get("/docs"), c.get("/openapi.json"),
            c.get("/admin"), c.get("/admin", headers=AUTH), c.get("/nothing-here"), c.get("/v1/models"),
            c.post("/api/ask", content=b"x" * (1 << 20)), c.request("TRACE", "/"), c.get("/config"),
            c.post("/api/ask", json={"question": ""}), c.post("/gradio_api/upload", files={"files": ("a", b"a")}),
        ]
    for r in responses:
        assert r.headers.get("x-content-type-options") == "nosniff", r.url
        assert r.headers.get("referrer-policy") == "same-origin", r.url


def test_configuring_a_wildcard_proxy_is_refused():
    with pytest.raises(ConfigError):
        from_env({"UNIONQA_FORWARDED_ALLOW_IPS": "localhost"})
