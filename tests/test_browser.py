"""The chat in a real headless Chromium (Debian's, never a downloaded one),
against real servers on 127.0.0.1 with the real bot.

UNIONQA_SCREENSHOT=1 also rewrites docs/screenshot.png.
"""

from __future__ import annotations

import json
import os
import re
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from ui.config import Config
from ui.demo_portal import portal_server
from ui.server import bind_socket, create_app, running

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="needs Debian's chromium: scripts/install-browser.sh"),
]

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
QUESTION = "劳模精神的内涵是什么？"
XSS_DOCUMENT = (
    '职工之家须知<b onmouseover="window.__pwned=1">加粗</b>\n'
    "职工之家的开放时间是每天上午九点到晚上八点<script>window.__pwned=1</script>，节假日照常开放。\n"
    '会员卡丢失后应当到工会办公室补办<img src=x onerror="window.__pwned=1">，补办会员卡不收取任何费用。\n'
)


@pytest.fixture(scope="module")
def portals():
    """Two stand-in portals on their own ports: one the chat allows to embed it, one it does not."""
    chat_sock = bind_socket()
    chat_url = f"http://127.0.0.1:{chat_sock.getsockname()[1]}/"
    servers = [portal_server(chat_url), portal_server(chat_url)]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    allowed, foreign = (f"http://127.0.0.1:{s.server_address[1]}" for s in servers)
    yield chat_sock, allowed, foreign
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def feedback_log(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("browser") / "logs" / "feedback.jsonl"


@pytest.fixture(scope="module")
def chat_url(bot, portals, feedback_log):
    chat_sock, allowed, _ = portals
    config = Config(allowed_origins=(allowed,), feedback_log=feedback_log)
    with running(create_app(config, bot), chat_sock) as url:
        yield url


@pytest.fixture(scope="module")
def xss_url(tmp_path_factory, embedder, model_cache):
    """A chat over one document full of HTML, indexed with the real pipeline."""
    from bot.bot import Bot
    from index.build import build_index
    from tests.conftest import SETTINGS

    corpus_dir = tmp_path_factory.mktemp("xss-corpus")
    (corpus_dir / "职工之家须知.txt").write_text(XSS_DOCUMENT, encoding="utf-8")
    index_dir = tmp_path_factory.mktemp("xss-index")
    build_index(corpus_dir, index_dir, SETTINGS, embedder, progress=False)
    xss_bot = Bot.load(index_dir, model_cache=model_cache, expected=SETTINGS)
    # What is tested is how a document's markup is shown, not whether the fake vectors make the
    # bundled decision answer: every question with a passage is answered.
    xss_bot.calibration = replace(xss_bot.calibration, answer_threshold=0.0, related_threshold=0.0)
    config = Config(feedback_log=tmp_path_factory.mktemp("xss") / "feedback.jsonl")
    with running(create_app(config, xss_bot), bind_socket()) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def context(browser):
    """A fresh browser context that records every request leaving 127.0.0.1."""
    ctx = browser.new_context(locale="zh-CN", viewport={"width": 1000, "height": 900})
    ctx.external_requests = []
    ctx.on(
        "request",
        lambda r: ctx.external_requests.append(r.url)
        if not r.url.startswith(("http://127.0.0.1:", "data:", "blob:", "about:", "chrome-error:"))
        else None,
    )
    yield ctx
    assert ctx.external_requests == [], "the offline page tried to reach the internet"
    ctx.close()


def ask(page_or_frame, question: str):
    """Ask in the chat and wait for the new answer (earlier ones stay on the page)."""
    answers = page_or_frame.locator(".uq-answer")
    before = answers.count()
    box = page_or_frame.locator("#uq-question textarea")
    box.fill(question)
    box.press("Enter")
    answer = answers.nth(before)
    answer.wait_for(timeout=60_000)
    return answer


def test_chat_answers_with_clickable_citations(context, chat_url, bot, monkeypatch):
    page = context.new_page()
    page.goto(chat_url, wait_until="load")
    page.get_by_text("工会知识问答").first.wait_for()
    assert page.title() == "工会知识问答"

    # The question shows at once, before the (here slowed down) answer arrives.
    # The answer is held back until the page has shown the question and the pending line:
    # a state to wait for, not a delay to race against.
    real_ask = bot.ask
    shown = threading.Event()

    def held_ask(question, history=None):
        shown.wait(60)
        return real_ask(question, history)

    monkeypatch.setattr(bot, "ask", held_ask)
    page.locator("#uq-question textarea").fill(QUESTION)
    page.locator("#uq-question textarea").press("Enter")
    try:
        page.locator(".uq-question", has_text=QUESTION).wait_for(timeout=30_000)
        page.locator(".uq-pending").wait_for(timeout=30_000)
        assert page.locator(".uq-answer").count() == 0
    finally:
        shown.set()
    answer = page.locator(".uq-answer").last
    answer.wait_for(timeout=60_000)
    monkeypatch.undo()

    assert "爱岗敬业" in answer.locator(".uq-text").inner_text()
    first = answer.locator("li.uq-citation").first
    assert "《" in first.inner_text()
    assert first.locator("mark.uq-quote").count() >= 1

    answer.locator(".uq-text a.uq-cite").first.click()
    panel = answer.locator(".uq-source:not([hidden])")
    panel.wait_for()
    assert panel.count() == 1
    assert panel.locator("mark.uq-quote").first.is_visible()
    assert "《" in panel.locator(".uq-source-head").inner_text()

    with context.expect_page() as opened:
        panel.locator("a.uq-open").click()
    doc_page = opened.value
    doc_page.wait_for_load_state("load")
    assert re.search(r"/doc/.+\?start=\d+&end=\d+.*#p-\d+$", doc_page.url)
    mark = doc_page.locator("mark").first
    mark.wait_for()
    assert mark.is_visible()
    assert any(mark.inner_text() in doc.text for doc in bot.documents.values())

    # The conversation continues, then clears.
    ask(page, "工匠精神是什么？")
    assert page.locator(".uq-answer").count() == 2
    page.locator("#uq-clear").click()
    page.locator(".uq-answer").first.wait_for(state="detached")
    page.locator(".uq-placeholder").wait_for()


def test_feedback_is_logged(context, chat_url, feedback_log):
    page = context.new_page()
    page.goto(chat_url, wait_until="load")
    ask(page, "工会的经费来源有哪些？")
    page.locator('#uq-chat button[aria-label="赞"]').last.click()
    page.get_by_text("感谢您的反馈").first.wait_for()
    entries = [json.loads(line) for line in feedback_log.read_text(encoding="utf-8").splitlines()]
    entry = entries[-1]
    assert entry["rating"] == "up"
    assert entry["question"] == "工会的经费来源有哪些？"
    assert entry["answer"] and entry["citations"] and entry["time"]


def test_refusal_is_clear(context, chat_url):
    page = context.new_page()
    page.goto(chat_url, wait_until="load")
    answer = ask(page, "今天天气怎么样？")
    assert "知识库中没有找到与该问题相关的内容" in answer.inner_text()
    assert answer.locator("a.uq-cite").count() == 0


def test_documents_and_questions_are_shown_as_text(context, xss_url):
    page = context.new_page()
    page.goto(xss_url, wait_until="load")
    # a question with markup in it is shown as text, whatever the answer
    ask(page, '职工之家<img src=x onerror="window.__pwned=1">')
    assert page.locator(".uq-question").last.inner_text().endswith('<img src=x onerror="window.__pwned=1">')
    answer = ask(page, "职工之家的开放时间是什么？")
    assert "<script>window.__pwned=1</script>" in answer.inner_text()
    answer.locator(".uq-text a.uq-cite").first.click()
    panel = answer.locator(".uq-source:not([hidden])")
    panel.wait_for()
    assert "<b onmouseover" in panel.inner_text()  # the title
    page.locator(".uq-doc-title").first.hover()  # would fire the title's onmouseover, were it markup

    with context.expect_page() as opened:
        panel.locator("a.uq-open").click()
    doc_page = opened.value
    doc_page.wait_for_load_state("load")
    body = doc_page.locator("body").inner_text()
    assert "<script>window.__pwned=1</script>" in body
    assert '<img src=x onerror="window.__pwned=1">' in body
    doc_page.locator("h1").hover()

    ask(page, "会员卡丢失后怎么办？")
    page.wait_for_function("document.readyState === 'complete'")
    for p in (page, doc_page):
        assert p.evaluate("typeof window.__pwned") == "undefined"
        assert p.locator("img[src=x], #uq-chat script, article script").count() == 0


def test_embedded_chat_on_an_allowed_portal(context, chat_url, portals):
    _, allowed, _ = portals
    page = context.new_page()
    page.goto(allowed + "/", wait_until="load")
    button = page.locator(".unionqa-button")
    button.click()
    assert button.get_attribute("aria-expanded") == "true"
    frame = page.frame_locator(".unionqa-frame")
    answer = ask(frame, QUESTION)
    assert "爱岗敬业" in answer.inner_text()
    # The page header is dropped inside the portal, which has its own.
    assert not frame.locator("#uq-header").is_visible()


def test_a_portal_that_is_not_allowed_cannot_frame_the_chat(context, chat_url, portals):
    _, _, foreign = portals
    page = context.new_page()
    blocked = []
    page.on("console", lambda m: blocked.append(m.text) if "frame-ancestors" in m.text else None)
    page.goto(foreign + "/", wait_until="load")
    with page.expect_event("console", predicate=lambda m: "frame-ancestors" in m.text, timeout=15_000):
        page.locator(".unionqa-button").click()
    assert any(chat_url.rstrip("/") in text for text in blocked)
    frame = next(f for f in page.frames if f != page.main_frame)
    assert not frame.url.startswith(chat_url)
    assert page.frame_locator(".unionqa-frame").locator("#uq-question").count() == 0


def test_phone_width_has_no_horizontal_scroll(browser, chat_url):
    ctx = browser.new_context(locale="zh-CN", viewport={"width": 375, "height": 812}, is_mobile=True, has_touch=True)
    page = ctx.new_page()
    page.goto(chat_url, wait_until="load")
    answer = ask(page, QUESTION)
    answer.locator(".uq-text a.uq-cite").first.tap()
    answer.locator(".uq-source:not([hidden])").wait_for()
    width = page.evaluate("Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)")
    assert width <= 375
    size = page.evaluate("getComputedStyle(document.querySelector('.uq-text')).fontSize")
    assert float(size.removesuffix("px")) >= 14
    ctx.close()


def test_api_docs_work_offline(context, chat_url):
    page = context.new_page()
    page.goto(chat_url + "docs", wait_until="load")
    page.get_by_text("/api/ask").first.wait_for(timeout=15_000)
    page.get_by_text("工会知识问答 API").first.wait_for()


@pytest.mark.skipif(os.environ.get("UNIONQA_SCREENSHOT") != "1", reason="set UNIONQA_SCREENSHOT=1 to rewrite docs/screenshot.png")
def test_screenshot_for_the_readme(context, chat_url):
    """docs/screenshot.png: the chat answering with citations and a source panel open."""
    target = ROOT / "docs" / "screenshot.png"
    page = context.new_page()
    page.set_viewport_size({"width": 900, "height": 1200})
    page.goto(chat_url, wait_until="load")
    answer = ask(page, "女职工在孕期享有哪些保护？")
    answer.locator(".uq-text a.uq-cite").first.click()
    answer.locator(".uq-source:not([hidden])").wait_for()
    # the panel scrolls into view smoothly: wait until it is inside the window
    answer.locator(".uq-source:not([hidden])").evaluate(
        "el => new Promise(done => { const check = () => { const r = el.getBoundingClientRect();"
        " if (r.top >= 0 && r.top < innerHeight) done(); else requestAnimationFrame(check); }; check(); })"
    )
    target.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(target))
    assert target.stat().st_size < 300_000


@pytest.fixture(scope="module")
def admin_url(tmp_path_factory, bundled_index, bot):
    """A chat with the admin page on, over a copy of the bundled index."""
    import shutil

    from bot.bot import Bot
    from index.store.folder import IndexStore

    index_dir = tmp_path_factory.mktemp("admin") / "index"
    shutil.copytree(bundled_index, index_dir)
    own_bot = Bot(IndexStore.load(index_dir), bot.embedder)
    config = Config(index_dir=index_dir, admin_token="口令-secret-1", feedback_log=index_dir.parent / "f.jsonl")
    with running(create_app(config, own_bot), bind_socket()) as url:
        yield url


def test_admin_uploads_a_document_that_the_chat_then_answers_from(context, admin_url, tmp_path):
    notice = tmp_path / "疗休养通知.md"
    notice.write_text("# 关于职工疗休养的通知\n\n今年职工疗休养为期五天，名额向一线职工倾斜。", encoding="utf-8")
    page = context.new_page()
    page.goto(admin_url + "admin", wait_until="load")
    page.locator("input[type=password]").fill("wrong")
    page.locator("input[type=password]").press("Enter")
    page.get_by_text("口令不正确").wait_for()
    page.locator("input[type=password]").fill("口令-secret-1")
    page.locator("input[type=password]").press("Enter")
    page.get_by_text("知识库中的文档").wait_for()
    # A state, not a race: the page's deferred script has attached its submit handler.
    page.locator("html[data-uq-ready='1']").wait_for(state="attached")

    page.locator("input[type=file]").set_input_files(str(notice))
    # requestSubmit runs the page's submit handler at once, then the browser posts the form.
    busy_shown = page.evaluate(
        "() => { document.querySelector('.uq-busy-form').requestSubmit();"
        " return !document.querySelector('.uq-busy-form .busy').hidden; }"
    )
    assert busy_shown, "the page shows no progress while the upload is indexed"
    page.get_by_text("已加入").wait_for(timeout=60_000)
    assert page.locator("td", has_text="关于职工疗休养的通知").count() == 1

    page.goto(admin_url, wait_until="load")
    answer = ask(page, "职工疗休养为期几天？")
    assert "为期五天" in answer.inner_text()
    assert "关于职工疗休养的通知" in answer.inner_text()


def test_admin_page_says_when_its_script_is_ready(context, admin_url):
    """The upload test waits for this state (issue 11): with admin.js held back, the page's
    text is there but the submit handler is not, which is the race that made it flaky."""
    page = context.new_page()
    held = []
    page.route("**/admin/admin.js", lambda route: held.append(route))
    page.goto(admin_url + "admin", wait_until="commit")  # a held deferred script holds DOMContentLoaded
    page.get_by_text("登录").first.wait_for()
    assert page.locator("html[data-uq-ready]").count() == 0  # text shown, script not yet run
    for route in held:
        route.continue_()
    page.locator("html[data-uq-ready='1']").wait_for(state="attached")
