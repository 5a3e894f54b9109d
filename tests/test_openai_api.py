"""Our own OpenAI-compatible /v1 endpoint and the streaming /api/ask, over HTTP on
a real server, driven by the official openai client; the LLM behind the bot is the
scripted server of tests/fake_llm.py. Also the LLM settings and `unionqa llm check`."""

from __future__ import annotations

import json
import re

import httpx
import openai
import pytest

from bot.bot import Bot
from bot.llm.client import LLMClient
from bot.llm.generate import Generator
from tests.fake_llm import UNCITED, WRONG_NUMBER
from ui import cli
from ui.config import Config, ConfigError, from_env
from ui.server import bind_socket, create_app, running

KEY = "uq-test-key/"


def _app(bot, tmp_path_factory, generator: Generator | None, **config):
    served = Bot(bot.store, bot.embedder, calibration=bot.calibration, lexicon=bot.lexicon, generator=generator)
    feedback = tmp_path_factory.mktemp("v1") / "feedback.jsonl"
    return create_app(Config(feedback_log=feedback, **config), served)


@pytest.fixture(scope="module")
def base_url(bot, llm_server, tmp_path_factory):
    """A bot with an LLM, and /v1 keys."""
    settings = Config(llm_base_url=llm_server.url, llm_model="qwen-test", llm_timeout=5).llm_settings()
    app = _app(bot, tmp_path_factory, Generator(LLMClient(settings)), api_keys=(KEY,), api_rate_per_minute=1000)
    with running(app, bind_socket()) as url:
        yield url


@pytest.fixture
def client(base_url, llm_server):
    llm_server.script = "good"
    return openai.OpenAI(base_url=base_url + "v1", api_key=KEY, max_retries=0, timeout=30)


def test_models_lists_unionqa(client):
    assert [m.id for m in client.models.list()] == ["unionqa"]


def test_chat_completion_has_citations_in_the_text_and_a_field(client):
    response = client.chat.completions.create(model="unionqa", messages=[{"role": "user", "content": "劳动合同期限一年的，试用期最长多久？"}])
    content = response.choices[0].message.content
    assert response.model == "unionqa" and response.choices[0].finish_reason == "stop"
    # which passage is [1] is retrieval's business; the sentence and its source must agree
    n = re.search(r"试用期不得超过一个月\[(\d)\]", content).group(1)
    assert "\n\n来源：\n[1] 《" in content and f"\n[{n}] 《中华人民共和国劳动合同法》" in content
    extra = response.model_extra
    assert extra["unionqa"]["generated"] is True and extra["unionqa"]["status"] == "answered"
    assert [c["n"] for c in extra["citations"]] == [1, 2]
    assert "第十九条" in extra["citations"][int(n) - 1]["text"]


def test_streamed_completion_sends_only_checked_sentences(client, llm_server):
    llm_server.script = "wrong_number"
    stream = client.chat.completions.create(
        model="unionqa", messages=[{"role": "user", "content": "劳动合同期限一年的，试用期最长多久？"}], stream=True)
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert len(chunks) >= 4  # role, sentences as they pass, sources, the end
    assert re.search(r"试用期不得超过一个月\[\d\]", text) and "来源：" in text
    assert WRONG_NUMBER.rstrip("。") not in text
    last = chunks[-1]
    assert last.choices[0].finish_reason == "stop"
    assert last.model_extra["citations"] and last.model_extra["unionqa"]["generated"] is True


def test_history_comes_from_earlier_messages(client, llm_server):
    client.chat.completions.create(model="unionqa", messages=[
        {"role": "system", "content": "你是助手"},
        {"role": "user", "content": "劳动合同应当具备哪些条款？"},
        {"role": "assistant", "content": "劳动合同应当以书面形式订立[1]。\n\n来源：\n[1] 《劳动法》"},
        {"role": "user", "content": [{"type": "text", "text": "试用期呢？"}]},
    ])
    sent = llm_server.chat_requests()[-1]["messages"]
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "user"]
    assert sent[2]["content"] == "劳动合同应当以书面形式订立。"  # without its sources list
    assert sent[3]["content"].endswith("问题：试用期呢？")


def test_a_refused_question_is_answered_plainly(client):
    response = client.chat.completions.create(model="unionqa", messages=[{"role": "user", "content": "今天天气怎么样？"}])
    assert response.choices[0].message.content == "知识库中没有找到与该问题相关的内容。"
    assert response.model_extra["unionqa"]["refused"] is True and response.model_extra["citations"] == []


def test_a_fallback_says_so_in_the_message(client, llm_server, bot):
    llm_server.script = "error_500"
    response = client.chat.completions.create(model="unionqa", messages=[{"role": "user", "content": "劳动合同期限一年的，试用期最长多久？"}])
    content = response.choices[0].message.content
    assert content.startswith("（大模型服务出错，以下为文件原文摘录。）\n" + bot.ask("劳动合同期限一年的，试用期最长多久？").text)
    assert response.model_extra["unionqa"]["fallback"] == "error"


def test_keys_are_required_when_configured(base_url):
    bad = openai.OpenAI(base_url=base_url + "v1", api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as caught:
        bad.models.list()
    assert caught.value.body["code"] == "invalid_api_key"
    r = httpx.post(base_url + "v1/chat/completions", json={"messages": [{"role": "user", "content": "试用期？"}]})
    assert r.status_code == 401 and "API 密钥" in r.json()["error"]["message"]


@pytest.mark.parametrize("body, message", [
    ({"messages": "试用期？"}, "请求格式不正确"),
    ({"model": "gpt-4", "messages": [{"role": "user", "content": "试用期？"}]}, "没有模型"),
    ({"messages": [{"role": "user", "content": " "}]}, "问题不能为空"),
])
def test_bad_requests_get_openai_shaped_errors(base_url, body, message):
    r = httpx.post(base_url + "v1/chat/completions", json=body, headers={"Authorization": f"Bearer {KEY}"})
    assert r.status_code in (400, 404)
    assert message in r.json()["error"]["message"]


def test_rate_limit_per_key_with_retry_after(bot, tmp_path_factory):
    app = _app(bot, tmp_path_factory, None, api_keys=("a", "b"), api_rate_per_minute=2)
    with running(app, bind_socket()) as url:
        def models(key: str) -> httpx.Response:
            return httpx.get(url + "v1/models", headers={"Authorization": f"Bearer {key}"})

        assert [models("a").status_code for _ in range(2)] == [200, 200]
        limited = models("a")
        assert limited.status_code == 429
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        assert limited.json()["error"]["type"] == "rate_limit_exceeded"
        assert models("b").status_code == 200  # another key has its own allowance
        client = openai.OpenAI(base_url=url + "v1", api_key="a", max_retries=0)
        with pytest.raises(openai.RateLimitError):
            client.models.list()


def test_without_an_llm_v1_gives_the_extractive_answer(bot, tmp_path_factory):
    with running(_app(bot, tmp_path_factory, None), bind_socket()) as url:
        client = openai.OpenAI(base_url=url + "v1", api_key="anything", max_retries=0)
        response = client.chat.completions.create(model="unionqa", messages=[{"role": "user", "content": "劳动合同期限一年的，试用期最长多久？"}])
        assert response.choices[0].message.content.startswith(bot.ask("劳动合同期限一年的，试用期最长多久？").text)
        assert response.model_extra["unionqa"]["generated"] is False
        chunks = list(client.chat.completions.create(
            model="unionqa", messages=[{"role": "user", "content": "劳动合同期限一年的，试用期最长多久？"}], stream=True))
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert text == response.choices[0].message.content


def sse_events(response: httpx.Response) -> list[tuple[str, dict]]:
    events, name = [], "message"
    for line in response.iter_lines():
        if line.startswith("event:"):
            name = line.split(":", 1)[1].strip()
        elif line.startswith("data:"):
            events.append((name, json.loads(line.split(":", 1)[1])))
            name = "message"
    return events


def test_api_ask_streams_server_sent_events(base_url, llm_server):
    llm_server.script = "uncited"
    with httpx.stream("POST", base_url + "api/ask", json={"question": "劳动合同期限一年的，试用期最长多久？", "stream": True},
                      timeout=30) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = sse_events(response)
    names = [name for name, _ in events]
    assert names[-1] == "answer" and set(names[:-1]) == {"partial"} and len(names) > 3
    partials = [data for name, data in events if name == "partial"]
    assert any(p["pending"] for p in partials)  # tokens came before their sentence was checked
    assert all(UNCITED not in p["checked"] for p in partials)
    answer = events[-1][1]
    assert answer["generated"] is True and UNCITED not in answer["text"] and answer["citations"]
    assert answer["sentences_checked"] == 3 and answer["sentences_dropped"] == 1


def test_api_ask_stream_rejects_a_bad_question_before_streaming(base_url):
    r = httpx.post(base_url + "api/ask", json={"question": " ", "stream": True})
    assert r.status_code == 422 and "问题不能为空" in r.json()["detail"]


def test_questions_on_v1_and_streams_are_logged_without_their_text(base_url, llm_server, caplog):
    """One `question` log line per question on every path (plain, streamed, /v1), with
    whether the LLM's answer was shown; the question's text stays out (the default)."""
    import logging

    from ui.logs import JsonLineFormatter

    llm_server.script = "good"
    question = "试用期最长多久？"
    completion = {"model": "unionqa", "messages": [{"role": "user", "content": question}]}
    headers = {"Authorization": f"Bearer {KEY}"}
    with caplog.at_level(logging.INFO, logger="unionqa"):
        assert httpx.post(base_url + "v1/chat/completions", json=completion, headers=headers,
                          timeout=30).status_code == 200
        with httpx.stream("POST", base_url + "v1/chat/completions", json={**completion, "stream": True},
                          headers=headers, timeout=30) as response:
            assert response.status_code == 200 and "[DONE]" in response.read().decode()
        with httpx.stream("POST", base_url + "api/ask", json={"question": question, "stream": True},
                          timeout=30) as response:
            assert sse_events(response)[-1][0] == "answer"
    lines = [json.loads(JsonLineFormatter().format(r)) for r in caplog.records]
    asked = [line for line in lines if line["event"] == "question"]
    assert len(asked) == 3
    assert all(line["status"] == "answered" and line["generated"] is True and line["ms"] > 0 for line in asked)
    assert all("question" not in line and line["chars"] == len(question) for line in asked)
    assert question not in "\n".join(json.dumps(line, ensure_ascii=False) for line in lines)


# ---------------------------------------------------------------- settings and the CLI


def test_llm_settings_from_the_environment_and_a_key_file(tmp_path):
    assert from_env({}).llm_settings() is None  # off unless a URL is set
    key_file = tmp_path / "key"
    key_file.write_text("sk-from-file\n", encoding="utf-8")
    config = from_env({"UNIONQA_LLM_BASE_URL": "http://10.0.0.5:8000/v1/", "UNIONQA_LLM_MODEL": "deepseek-r1",
                       "UNIONQA_LLM_API_KEY_FILE": str(key_file), "UNIONQA_LLM_TIMEOUT": "7.5",
                       "UNIONQA_LLM_TEMPERATURE": "0.3", "UNIONQA_API_KEYS": "k1, k2/"})
    settings = config.llm_settings()
    assert (settings.base_url, settings.model, settings.api_key, settings.timeout, settings.temperature) == (
        "http://10.0.0.5:8000/v1", "deepseek-r1", "sk-from-file", 7.5, 0.3)
    assert config.api_keys == ("k1", "k2/")
    assert "sk-from-file" not in repr(settings) and "k2/" not in repr(config)
    secret = from_env({"UNIONQA_LLM_BASE_URL": "http://x/v1", "UNIONQA_LLM_API_KEY": "sk-env"})
    assert "sk-env" not in repr(secret) and secret.llm_settings().api_key == "sk-env"
    with pytest.raises(ConfigError, match="http://"):
        from_env({"UNIONQA_LLM_BASE_URL": "10.0.0.5:8000"}).llm_settings()
    with pytest.raises(ConfigError, match="UNIONQA_LLM_TIMEOUT"):
        from_env({"UNIONQA_LLM_TIMEOUT": "soon"})


def test_llm_check_reports_models_and_timing(llm_server, capsys):
    llm_server.script = "good"
    assert cli.main(["llm", "check", "--llm-base-url", llm_server.url, "--llm-api-key", "sk-hidden"]) == 0
    out = capsys.readouterr()
    assert "可用模型" in out.out and "qwen-test" in out.out and "毫秒" in out.out
    assert "sk-hidden" not in out.out + out.err


def test_llm_check_says_when_the_server_is_down(capsys):
    assert cli.main(["llm", "check", "--llm-base-url", "http://127.0.0.1:9/v1", "--llm-timeout", "2"]) == 1
    assert "无法连接大模型服务" in capsys.readouterr().err
    assert cli.main(["llm", "check"]) == 2
    assert "UNIONQA_LLM_BASE_URL" in capsys.readouterr().err


def test_a_cancelled_stream_still_logs_its_question(base_url, llm_server, caplog):
    """A client that goes away mid-stream: before issue 22 its question got no log line."""
    import logging
    import time

    from ui.logs import JsonLineFormatter

    llm_server.script = "slow"
    question = "劳动合同期限一年的，试用期最长多久？"
    headers = {"Authorization": f"Bearer {KEY}"}
    completion = {"model": "unionqa", "messages": [{"role": "user", "content": question}], "stream": True}

    def questions() -> list[dict]:
        lines = [json.loads(JsonLineFormatter().format(r)) for r in caplog.records]
        return [line for line in lines if line["event"] == "question"]

    with caplog.at_level(logging.INFO, logger="unionqa"):
        for path, body in (("api/ask", {"question": question, "stream": True}), ("v1/chat/completions", completion)):
            with httpx.stream("POST", base_url + path, json=body, headers=headers, timeout=30) as response:
                assert response.status_code == 200
                next(response.iter_lines())  # the first event, then the client hangs up
        deadline = time.monotonic() + 15
        while len(questions()) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
    asked = questions()
    assert [line["status"] for line in asked] == ["cancelled", "cancelled"]
    assert all(line["chars"] == len(question) and "question" not in line for line in asked)
