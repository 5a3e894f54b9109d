"""The chat streaming a generated answer, in Debian's headless Chromium, against a
real server whose bot uses the scripted OpenAI-protocol server of tests/fake_llm.py.

UNIONQA_SCREENSHOT=1 also rewrites docs/streaming.png (the answer half-written).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from bot.bot import Bot
from bot.llm.client import LLMClient, LLMSettings
from bot.llm.generate import Generator
from tests.fake_llm import UNCITED, Reply, good_answer
from ui.config import Config
from ui.server import bind_socket, create_app, running

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="needs Debian's chromium: scripts/install-browser.sh"),
]

ROOT = Path(__file__).resolve().parents[1]
QUESTION = "劳动合同期限一年的，试用期最长多久？"


@pytest.fixture(scope="module")
def chat_url(bot, llm_server, tmp_path_factory):
    client = LLMClient(LLMSettings(llm_server.url, model="qwen-test", timeout=30))
    served = Bot(bot.store, bot.embedder, calibration=bot.calibration, lexicon=bot.lexicon,
                 generator=Generator(client))
    config = Config(feedback_log=tmp_path_factory.mktemp("browser-llm") / "feedback.jsonl")
    with running(create_app(config, served), bind_socket()) as url:
        yield url


@pytest.fixture(scope="module")
def page(bot, chat_url):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox", "--headless"])
        context = browser.new_context(locale="zh-CN", viewport={"width": 900, "height": 1000})
        yield context.new_page()
        browser.close()


def test_tokens_appear_as_they_arrive_and_the_checked_answer_replaces_them(page, chat_url, llm_server):
    # slow tokens, and a last sentence without a citation that the check must drop
    llm_server.script = lambda request: Reply(good_answer(request) + UNCITED, chunk_delay=0.15)
    page.goto(chat_url, wait_until="load")
    page.get_by_text("工会知识问答").first.wait_for()
    box = page.locator("#uq-question textarea")
    box.fill(QUESTION)
    box.press("Enter")

    streaming = page.locator(".uq-streaming")
    streaming.wait_for(timeout=60_000)
    # part of the answer is on the page while the model is still writing
    page.locator(".uq-streaming .uq-unchecked").filter(has_text="根").wait_for(timeout=30_000)
    seen = streaming.inner_text()
    assert "正在生成回答" in seen
    # the first sentence, once checked, stays with its marker; the rest keeps coming
    page.locator(".uq-streaming .uq-cite").first.wait_for(timeout=30_000)
    if os.environ.get("UNIONQA_SCREENSHOT") == "1":
        target = ROOT / "docs" / "streaming.png"
        page.screenshot(path=str(target))
        assert target.stat().st_size < 300_000

    answer = page.locator(".uq-answer.uq-generated")
    answer.wait_for(timeout=60_000)
    assert page.locator(".uq-streaming").count() == 0  # the checked answer replaced the stream
    text = answer.locator(".uq-text").inner_text()
    assert re.search(r"试用期不得超过一个月\[\d\]", text)
    assert UNCITED not in answer.inner_text()  # the uncited sentence was dropped
    assert "每句都已核对出处" in answer.inner_text()
    answer.locator(".uq-text a.uq-cite").first.click()
    answer.locator(".uq-source:not([hidden])").wait_for()


def test_a_failing_llm_shows_the_extractive_answer_with_a_notice(page, chat_url, llm_server):
    llm_server.script = "error_500"
    page.goto(chat_url, wait_until="load")
    box = page.locator("#uq-question textarea")
    box.fill(QUESTION)
    box.press("Enter")
    notice = page.locator(".uq-answer .uq-notice")
    notice.wait_for(timeout=60_000)
    assert notice.inner_text() == "大模型服务出错，以下为文件原文摘录。"
    assert "试用期" in page.locator(".uq-answer .uq-text").last.inner_text()  # the extractive answer
