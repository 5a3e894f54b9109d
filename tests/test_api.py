"""The REST API, over HTTP, on a real server with the real bot."""

from __future__ import annotations

from urllib.parse import quote

import httpx
import pytest

from ui.config import Config
from ui.server import bind_socket, create_app, running

PORTAL = "http://portal.example.org"


@pytest.fixture(scope="module")
def base_url(bot, tmp_path_factory):
    config = Config(
        allowed_origins=(PORTAL,), feedback_log=tmp_path_factory.mktemp("api") / "feedback.jsonl", max_question_chars=50
    )
    with running(create_app(config, bot), bind_socket()) as url:
        yield url


@pytest.fixture(scope="module")
def client(base_url):
    with httpx.Client(base_url=base_url, timeout=60) as c:
        yield c


def test_ask_answers_with_citations(client, bot):
    r = client.post("/api/ask", json={"question": "劳模精神的内涵是什么？"})
    assert r.status_code == 200
    answer = r.json()
    assert not answer["refused"] and answer["status"] == "answered"
    assert "爱岗敬业" in answer["text"]
    assert answer["citations"]
    first = answer["citations"][0]
    assert first["n"] == 1 and "[1]" in answer["text"]
    doc = bot.documents[first["doc_id"]]
    assert doc.text[first["start"] : first["end"]] == first["text"]
    assert first["title"] == doc.title
    assert all(first["start"] <= s < e <= first["end"] for s, e in first["quotes"])


def test_ask_follow_up_accepts_history(client):
    history = [["劳模精神的内涵是什么？", "爱岗敬业、争创一流……"]]
    r = client.post("/api/ask", json={"question": "工匠精神是什么？", "history": history})
    assert r.status_code == 200
    assert not r.json()["refused"]


def test_ask_refuses_unrelated_question(client):
    r = client.post("/api/ask", json={"question": "今天天气怎么样？"})
    assert r.status_code == 200
    answer = r.json()
    assert answer["refused"] is True and answer["status"] == "refused"
    assert answer["text"] == "知识库中没有找到与该问题相关的内容。"
    assert answer["citations"] == []


@pytest.mark.parametrize(
    "body, message",
    [
        ({"question": ""}, "问题不能为空"),
        ({"question": "   "}, "问题不能为空"),
        ({"question": "劳" * 51}, "50 字以内"),
        ({}, "请求格式不正确"),
        ({"question": "劳模精神", "history": "not a list"}, "请求格式不正确"),
    ],
)
def test_bad_questions_get_a_chinese_422(client, body, message):
    r = client.post("/api/ask", json=body)
    assert r.status_code == 422
    assert message in r.json()["detail"]


def test_documents_list(client, bot):
    r = client.get("/api/documents")
    assert r.status_code == 200
    docs = r.json()
    assert {d["id"] for d in docs} == set(bot.documents)
    for d in docs:
        assert d["title"] and d["paragraphs"] > 0 and d["characters"] > 0
        assert d["chunks"] >= 1
        assert isinstance(d["metadata"], dict)


def test_document_detail_with_slash_and_chinese_id(client, bot):
    doc_id = next((i for i in bot.documents if "/" in i), next(iter(bot.documents)))
    doc = bot.documents[doc_id]
    r = client.get("/api/documents/" + quote(doc_id, safe="/"))
    assert r.status_code == 200
    data = r.json()
    assert data["id"] == doc_id and data["text"] == doc.text
    assert len(data["paragraphs"]) == len(doc.paragraphs)
    p = data["paragraphs"][0]
    assert set(p) == {"start", "end", "section", "is_heading", "page"}
    assert doc.text[p["start"] : p["end"]] == doc.paragraph_text(doc.paragraphs[0])


def test_unknown_document_is_404(client):
    r = client.get("/api/documents/no-such-document")
    assert r.status_code == 404
    assert r.json()["detail"] == "找不到该文档。"


def test_health(client, bot):
    r = client.get("/api/health")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "documents": len(bot.documents), "chunks": len(bot.store.chunks)}


def test_openapi_and_offline_docs(client):
    spec = client.get("/openapi.json").json()
    assert {"/api/ask", "/api/documents", "/api/documents/{doc_id}", "/api/health"} <= set(spec["paths"])
    docs = client.get("/docs")
    assert docs.status_code == 200
    assert "swagger-ui-bundle.js" in docs.text
    # Every asset the docs page loads comes from this server, none from a CDN.
    assert "cdn." not in docs.text and "https://" not in docs.text
    for asset in ("api-docs-static/swagger-ui-bundle.js", "api-docs-static/swagger-ui.css"):
        assert client.get("/" + asset).status_code == 200


def test_cors_allows_configured_portal_only(client):
    allowed = client.post("/api/ask", json={"question": "今天天气怎么样？"}, headers={"Origin": PORTAL})
    assert allowed.headers.get("access-control-allow-origin") == PORTAL
    denied = client.post("/api/ask", json={"question": "今天天气怎么样？"}, headers={"Origin": "http://evil.example"})
    assert "access-control-allow-origin" not in denied.headers
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}
    ok = client.options("/api/ask", headers={"Origin": PORTAL, **preflight})
    assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == PORTAL
    bad = client.options("/api/ask", headers={"Origin": "http://evil.example", **preflight})
    assert bad.status_code == 400 and "access-control-allow-origin" not in bad.headers


def test_chat_pages_may_be_framed_only_by_configured_portals(client):
    for path in ("/", "/?embed=1"):
        r = client.get(path)
        assert r.status_code == 200
        assert r.headers["content-security-policy"] == f"frame-ancestors 'self' {PORTAL}"


def test_document_view_escapes_and_allows_no_script(client, bot):
    doc_id = next(iter(bot.documents))
    r = client.get("/doc/" + quote(doc_id, safe="/"), params={"start": 0, "end": 10})
    assert r.status_code == 200
    csp = r.headers["content-security-policy"]
    assert "default-src 'none'" in csp and f"frame-ancestors 'self' {PORTAL}" in csp
    assert "<mark" in r.text and 'id="p-0"' in r.text
    assert client.get("/doc/no-such-document").status_code == 404


def test_embed_script_is_served(client):
    r = client.get("/embed.js")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/javascript")
    assert "?embed=1" in r.text and "https://" not in r.text


def test_bot_failure_is_a_500_without_traceback(client, bot, monkeypatch):
    def broken(question, history=None):
        raise RuntimeError("index file is corrupt at /secret/path")

    monkeypatch.setattr(bot, "ask", broken)
    r = client.post("/api/ask", json={"question": "劳模精神的内涵是什么？"})
    assert r.status_code == 500
    assert r.json() == {"detail": "回答问题时出错，请稍后再试。"}
    assert "secret" not in r.text and "Traceback" not in r.text


# ----- issue 11: invalid Unicode, size limits, Chinese 4xx declared in the schema ------------------


@pytest.mark.parametrize(
    "body",
    [
        b'{"question": "\\ud800\\u5de5\\u4f1a"}',
        b'{"question": "\\u5de5\\u4f1a", "history": [["\\udfff", "\\u56de\\u7b54"]]}',
    ],
)
def test_lone_surrogate_is_a_chinese_422(client, body):
    r = client.post("/api/ask", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 422
    assert "无效的字符" in r.json()["detail"]


def test_asker_refuses_a_lone_surrogate_before_the_tokenizer(bot):
    from ui.asking import Asker, QuestionError

    asker = Asker(bot, 50)
    with pytest.raises(QuestionError, match="无效的字符"):
        asker.ask("\ud800工会")
    with pytest.raises(QuestionError, match="无效的字符"):
        asker.ask("工会", [("\udfff", "回答")])


def test_a_large_body_is_a_chinese_413(client):
    big = b'{"question": "' + b"a" * (10 * 1024 * 1024) + b'"}'
    r = client.post("/api/ask", content=big, headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    assert "请求内容太大" in r.json()["detail"]

    def chunks():  # no Content-Length: counted as it streams
        yield b'{"question": "'
        for _ in range(200):
            yield b"a" * 1024
        yield b'"}'

    r = client.post("/api/ask", content=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    assert "请求内容太大" in r.json()["detail"]


@pytest.mark.parametrize("body", [b"{not json", b'{"question": "\xff\xfe"}'])
def test_unparseable_bodies_get_a_chinese_400(client, body):
    r = client.post("/api/ask", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    assert "请求体不是有效的 JSON" in r.json()["detail"]


def test_document_view_with_a_bad_parameter_says_which(client, bot):
    doc_id = next(iter(bot.documents))
    r = client.get(f"/doc/{quote(doc_id)}", params={"start": "abc"})
    assert r.status_code == 422
    assert r.json()["detail"] == "参数 start 的值无效：应为整数。"


def test_trace_is_a_405(client):
    for path in ("/", "/api/ask", "/doc/x"):
        r = client.request("TRACE", path)
        assert r.status_code == 405
        assert r.json()["detail"] == "不支持该请求方法。"


def test_openapi_declares_the_4xx_and_the_question_limits(client):
    spec = client.get("/openapi.json").json()
    ask = spec["paths"]["/api/ask"]["post"]
    assert {"400", "413", "422"} <= set(ask["responses"])
    for code in ("400", "413", "422"):
        assert "detail" in ask["responses"][code]["content"]["application/json"]["schema"]["properties"]
    question = spec["components"]["schemas"]["AskRequest"]["properties"]["question"]
    assert (question["minLength"], question["maxLength"]) == (1, 50)
    assert "404" in spec["paths"]["/api/documents/{doc_id}"]["get"]["responses"]
