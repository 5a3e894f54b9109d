"""Generated answers with the real bot, the official openai client, and a scripted
OpenAI-protocol server on 127.0.0.1 (tests/fake_llm.py)."""

from __future__ import annotations

import re
import socket
import time

import pytest

from bot.bot import Bot
from bot.llm.client import CircuitBreaker, LLMClient, LLMSettings
from bot.llm.generate import (
    FALLBACK_CHECK_FAILED,
    FALLBACK_CIRCUIT_OPEN,
    FALLBACK_ERROR,
    FALLBACK_TIMEOUT,
    NOTICES,
    Partial,
    build_messages,
)
from bot.llm.grounding import normalize
from bot.records import ANSWERED
from tests.fake_llm import OUT_OF_RANGE, UNCITED, WRONG_NUMBER, fake_llm

QUESTION = "劳动合同期限一年的，试用期最长多久？"


@pytest.fixture(scope="module")
def server():
    with fake_llm() as s:
        yield s


@pytest.fixture
def llm_bot(bot, server):
    """The session's bot (same index, same model) with a generator of its own."""
    from bot.llm.generate import Generator

    def make(timeout: float = 5.0, url: str | None = None, breaker: CircuitBreaker | None = None) -> Bot:
        client = LLMClient(LLMSettings(url or server.url, model="qwen-test", api_key="sk-secret", timeout=timeout))
        return Bot(bot.store, bot.embedder, calibration=bot.calibration, lexicon=bot.lexicon,
                   generator=Generator(client, breaker or CircuitBreaker()))

    server.script = "good"
    server.requests.clear()
    return make


def test_a_good_answer_is_generated_with_its_citations(llm_bot, server, bot):
    answer = llm_bot().ask(QUESTION)
    assert answer.generated and answer.status == ANSWERED and not answer.fallback
    # which passage is [1] is retrieval's business (laws are chunked by article since issue 8)
    assert answer.text.startswith("根据文件，") and re.search(r"试用期不得超过一个月\[\d\]", answer.text)
    assert answer.sentences_checked == 2 and answer.sentences_dropped == 0
    # the passages the sentences cite, and only those, with their documents' offsets
    assert [c.n for c in answer.citations] == [1, 2]
    for c in answer.citations:
        assert bot.documents[c.doc_id].text[c.start : c.end] == c.text
    (request,) = server.chat_requests()
    assert request["stream"] is True and request["model"] == "qwen-test"
    assert request["authorization"] == "Bearer sk-secret"
    prompt = request["messages"][-1]["content"]
    assert prompt.endswith("问题：" + QUESTION)
    assert re.search(r"\[\d\] 《中华人民共和国劳动合同法》", prompt) and "第十九条" in prompt
    assert "[n]" not in request["messages"][0]["content"] and "[1]" in request["messages"][0]["content"]


@pytest.mark.parametrize("script, bad", [
    ("uncited", UNCITED), ("wrong_number", WRONG_NUMBER), ("out_of_range", OUT_OF_RANGE)])
def test_a_bad_sentence_is_never_shown(llm_bot, server, script, bad):
    server.script = script
    stream = list(llm_bot().generate(*llm_bot().extract(QUESTION)))
    answer = stream[-1]
    assert answer.generated and answer.sentences_dropped == 1
    assert bad.rstrip("。") not in answer.text
    assert "根据文件" in answer.text
    for partial in stream[:-1]:
        assert isinstance(partial, Partial)
        assert bad.rstrip("。") not in partial.checked  # not even while streaming


def test_the_wrong_number_is_wrong_in_every_writing(llm_bot, server):
    server.script = "wrong_number"
    answer = llm_bot().ask(QUESTION)
    assert "777" not in normalize(answer.text) and "七百七十七" not in answer.text


def test_a_truncated_answer_loses_its_unfinished_sentence(llm_bot, server):
    server.script = "truncated"
    answer = llm_bot().ask(QUESTION)
    assert answer.generated and answer.sentences_checked == 2 and answer.sentences_dropped == 1
    assert answer.text.endswith("[1]。")
    assert [c.n for c in answer.citations] == [1]


def test_too_little_left_falls_back_to_the_extractive_answer(llm_bot, server, bot):
    server.script = "only_uncited"
    answer = llm_bot().ask(QUESTION)
    assert not answer.generated and answer.fallback == FALLBACK_CHECK_FAILED
    assert answer.notice == NOTICES[FALLBACK_CHECK_FAILED]
    assert answer.text == bot.ask(QUESTION).text  # the extractive answer, exactly
    assert UNCITED not in answer.text


def test_refused_and_related_questions_never_reach_the_llm(llm_bot, server):
    generated = llm_bot()
    for question in ("今天天气怎么样？", "明天股市会涨吗？"):
        answer = generated.ask(question)
        assert answer.status != ANSWERED and not answer.generated and not answer.fallback
    assert server.chat_requests() == []


def test_follow_ups_send_the_conversation(llm_bot, server):
    history = [("劳动合同应当具备哪些条款？", "劳动合同应当以书面形式订立[1]。")]
    llm_bot().ask("试用期呢？", history)
    (request,) = server.chat_requests()
    roles = [m["role"] for m in request["messages"]]
    assert roles == ["system", "user", "assistant", "user"]
    assert request["messages"][2]["content"] == "劳动合同应当以书面形式订立。"  # markers of another answer dropped


def test_the_prompt_holds_the_rules_and_numbered_passages(bot):
    extractive, hits = bot.extract(QUESTION)
    from bot.llm.generate import passages_for

    passages = passages_for(extractive, hits, bot.documents)
    assert [c.n for c in passages] == list(range(1, len(passages) + 1)) and len(passages) >= 2
    system, user = build_messages(QUESTION, None, passages)
    for rule in ("只依据这些段落回答", "每一句话的末尾都要标注", "照抄段落原文的写法", "文件中没有找到对这个问题的规定"):
        assert rule in system["content"]
    assert user["content"].count("\n[") + user["content"].startswith("[") >= len(passages) - 1


@pytest.mark.parametrize("script, reason", [
    ("error_500", FALLBACK_ERROR), ("rate_limited", FALLBACK_ERROR), ("cut_off", FALLBACK_ERROR)])
def test_a_failing_server_gives_the_extractive_answer_with_a_notice(llm_bot, server, bot, script, reason):
    server.script = script
    answer = llm_bot().ask(QUESTION)
    assert not answer.generated and answer.fallback == reason and answer.notice == NOTICES[reason]
    assert answer.text == bot.ask(QUESTION).text


@pytest.mark.parametrize("script", ["hang", "slow"])
def test_a_hanging_or_slow_server_still_answers_within_the_timeout_plus_one_second(llm_bot, server, script):
    server.script = script  # "slow": 0.12 s a chunk, the whole answer takes about 4 s
    generated = llm_bot(timeout=1.5)
    started = time.perf_counter()
    answer = generated.ask(QUESTION)
    elapsed = time.perf_counter() - started
    assert answer.fallback == FALLBACK_TIMEOUT and answer.notice == NOTICES[FALLBACK_TIMEOUT]
    assert elapsed < 1.5 + 1.0, f"{elapsed:.2f} s"


def test_a_server_that_is_down_gives_the_extractive_answer_at_once(llm_bot):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started = time.perf_counter()
    answer = llm_bot(timeout=3, url=f"http://127.0.0.1:{port}/v1").ask(QUESTION)
    assert answer.fallback == FALLBACK_ERROR
    assert time.perf_counter() - started < 3 + 1.0


def test_the_circuit_breaker_skips_a_dead_server_then_tries_again(llm_bot, server):
    server.script = "error_500"
    breaker = CircuitBreaker(failures=3, cooldown=0.5)
    generated = llm_bot(breaker=breaker)
    assert [generated.ask(QUESTION).fallback for _ in range(3)] == [FALLBACK_ERROR] * 3
    assert len(server.chat_requests()) == 3
    assert generated.ask(QUESTION).fallback == FALLBACK_CIRCUIT_OPEN
    assert len(server.chat_requests()) == 3  # skipped: no fourth request
    time.sleep(0.6)  # the cooldown passes; the next question probes the server again
    server.script = "good"
    assert generated.ask(QUESTION).generated
    assert not breaker.is_open and len(server.chat_requests()) == 4


def test_the_key_is_never_in_the_settings_repr():
    settings = LLMSettings("http://127.0.0.1:9/v1", api_key="sk-very-secret")
    assert "sk-very-secret" not in repr(settings)


def test_the_openai_client_lists_models_and_completes(server):
    client = LLMClient(LLMSettings(server.url, timeout=5))
    assert client.models() == ["qwen-test"]
    assert client.model == "qwen-test"  # the first listed, when none is set
    server.script = lambda request: __import__("tests.fake_llm", fromlist=["Reply"]).Reply("好")
    try:
        assert client.complete([{"role": "user", "content": "好？"}]) == "好"
    finally:
        server.script = "good"


def test_eval_reports_the_llm_figures(llm_bot, server, tmp_path):
    """`unionqa eval --qa FILE --llm`: the usual figures plus the check pass rate,
    the fallback rate and the latency, from the same asks."""
    import json

    from bot.eval.qa_data import load_qa
    from bot.eval.qa_eval import evaluate_qa, format_qa_report

    path = tmp_path / "mini.json"
    path.write_text(json.dumps({
        "answerable": [{"q": "劳动合同期限一年的，试用期最长多久？", "a": ["试用期不得超过一个月"]},
                       {"q": "劳动合同期限三个月以上不满一年的，试用期多长？", "a": ["试用期不得超过一个月"]}],
        "refuse": ["今天天气怎么样？"],
    }, ensure_ascii=False), encoding="utf-8")
    server.script = "wrong_number"  # 2 of 3 sentences pass in every generated answer
    report = evaluate_qa(llm_bot(), load_qa(path), progress=False)
    llm = report["llm"]
    assert llm["llm_questions"] == 2 and llm["generated_n"] == "2/2" and llm["fallback_n"] == "0/2"
    assert llm["sentences_passed_n"] == "4/6"
    assert llm["llm_latency_ms_p95"] > 0
    assert "通过引用核对 0.667 (4/6)" in format_qa_report(report)
