"""The chat's own Gradio endpoint, called the way gradio_client users call it."""

from __future__ import annotations

import pytest
from gradio_client import Client

from ui.config import Config
from ui.server import bind_socket, create_app, running


@pytest.fixture(scope="module")
def chat_client(bot, tmp_path_factory):
    config = Config(feedback_log=tmp_path_factory.mktemp("gradio-client") / "feedback.jsonl")
    with running(create_app(config, bot), bind_socket()) as url:
        yield Client(url, verbose=False)


def test_chat_endpoint_answers_with_citations(chat_client):
    assert "/chat" in chat_client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    textbox, messages = chat_client.predict("劳模精神的内涵是什么？", api_name="/chat")
    assert textbox == ""
    assert [m["role"] for m in messages] == ["user", "assistant"]
    shown = str(messages[1]["content"])
    assert "爱岗敬业" in shown
    assert 'class="uq-cite"' in shown and "uq-source" in shown


def test_chat_endpoint_escapes_the_question(chat_client):
    _, messages = chat_client.predict("<img src=x onerror=alert(1)>工匠精神是什么？", api_name="/chat")
    question = str(messages[-2]["content"])  # the client keeps the session, so earlier turns come first
    assert "<img" not in question and "&lt;img src=x onerror=alert(1)&gt;" in question


def test_chat_refuses_a_lone_surrogate_before_the_tokenizer(chat_client, monkeypatch):
    import httpx

    import index.tokens

    seen = []
    original = index.tokens.normalize
    monkeypatch.setattr(index.tokens, "normalize", lambda text, *a, **k: seen.append(text) or original(text, *a, **k))
    # Raw JSON with the escape: a client library would refuse to encode the lone surrogate itself.
    base = chat_client.src.rstrip("/")
    with httpx.Client(base_url=base, timeout=60) as http:
        r = http.post("/gradio_api/call/chat", content=b'{"data": ["\\ud800\\u5de5\\u4f1a"]}',
                      headers={"Content-Type": "application/json"})
        events = ""
        if r.status_code == 200:
            events = http.get(f"/gradio_api/call/chat/{r.json()['event_id']}").text
    assert r.status_code in (200, 422)
    assert "uq-answer" not in events and "uq-error" not in events  # neither an answer nor the generic error
    assert not any("\ud800" in t for t in seen)
