"""Approved answers (工会审核的回答) in a real headless Chromium against a real server:
staff sign in, upload a notice, approve an answer citing a passage of it, a member asks a
paraphrase in the chat and gets 「工会审核的回答」; the notice is uploaded again, changed,
and the answer is listed as 需复核 with the old and new text and is no longer served.

UNIONQA_SCREENSHOT=1 also rewrites docs/curated.png and docs/curated-chat.png.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from bot.bot import Bot
from bot.curated_match import CuratedMatcher
from bot.curated_store import CuratedStore, curated_path
from index.store.folder import IndexStore
from ui.config import Config
from ui.server import bind_socket, create_app, running

from .conftest import SETTINGS
from .test_browser import ask, browser  # noqa: F401  (fixture)
from .test_console import log_history

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="needs Debian's chromium: scripts/install-browser.sh"),
]

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "审核-口令-19"
# The fake embedder's cosines (tests/fake_embedder.py) are not e5's: a threshold of its own,
# which these character-sharing questions pass and unrelated ones do not.
FAKE_THRESHOLD = 0.95
NOTICE = "# 关于职工疗休养的通知\n\n今年职工疗休养为期五天，名额向一线职工倾斜。\n\n报名请于五月底前交到工会办公室。\n"
CHANGED = NOTICE.replace("为期五天", "为期七天")
QUESTION = "职工疗休养一共有几天？"
PARAPHRASE = "职工疗休养总共有几天？"


@pytest.fixture(scope="module")
def site(tmp_path_factory, bundled_index, embedder):
    index_dir = tmp_path_factory.mktemp("curated") / "index"
    shutil.copytree(bundled_index, index_dir)
    matcher = CuratedMatcher(CuratedStore(curated_path(index_dir)), FAKE_THRESHOLD)
    bot = Bot(IndexStore.load(index_dir, expected=SETTINGS), embedder, curated=matcher)
    # questions are logged, and members have asked QUESTION before the notice was uploaded:
    # the console lists it among the unanswered, with its 写审核回答 link
    config = Config(index_dir=index_dir, admin_token=TOKEN, feedback_log=index_dir.parent / "f.jsonl",
                    log_questions=True)
    app = create_app(config, bot)
    log_history(app.state.asker.question_log, [(QUESTION, "refused", 3, 0)])
    with running(app, bind_socket()) as url:
        yield url, index_dir


def upload(page, url: str, path: Path) -> None:
    page.goto(url + "admin", wait_until="load")
    page.locator("html[data-uq-ready='1']").wait_for(state="attached")
    page.locator("input[type=file]").set_input_files(str(path))
    page.evaluate("() => document.querySelector('.uq-busy-form').requestSubmit()")
    page.get_by_text("知识库中的文档").wait_for(timeout=60_000)
    page.locator("td", has_text="关于职工疗休养的通知").first.wait_for(timeout=60_000)


def test_approve_serve_and_suspend_when_the_source_changes(browser, site, tmp_path):  # noqa: F811
    url, index_dir = site
    context = browser.new_context(locale="zh-CN", viewport={"width": 1000, "height": 900})
    page = context.new_page()
    page.goto(url + "admin/curated", wait_until="load")
    page.locator("input[type=password]").fill(TOKEN)  # the admin sign-in guards these pages too
    page.locator("input[type=password]").press("Enter")
    page.get_by_text("知识库中的文档").wait_for()
    notice = tmp_path / "疗休养通知.md"
    notice.write_text(NOTICE, encoding="utf-8")
    upload(page, url, notice)

    # from the admin page to the list; then from the console's group of unanswered questions to a new
    # answer with the group's question prefilled
    page.get_by_role("link", name="工会审核的回答").click()
    page.get_by_role("heading", name="工会审核的回答").wait_for()
    page.goto(url + "admin/console", wait_until="load")
    group = page.locator("#missing .group", has_text=QUESTION)
    group.locator("a.curate").click()
    page.locator("#cu-question").wait_for()
    assert page.locator("#cu-question").input_value() == QUESTION
    # saving without a cited span is refused
    page.locator("#cu-answer").fill("今年职工疗休养为期五天。[1]")
    page.get_by_role("button", name="保存").click()
    page.get_by_text("请至少引用一处原文").wait_for()
    # the source: the notice's passages, one ticked
    page.locator("#cu-doc").select_option(label="关于职工疗休养的通知")
    page.get_by_role("button", name="显示段落").click()
    passage = page.locator(".cu-passages li", has_text="为期五天")
    passage.wait_for()
    assert page.locator("#cu-answer").input_value() == "今年职工疗休养为期五天。[1]"  # kept between the steps
    passage.locator("input[type=checkbox]").check()
    page.locator("#cu-by").fill("工会办公室")
    page.get_by_role("button", name="保存").click()
    page.get_by_text("已保存审核回答").wait_for()
    active = page.locator("#cu-active .cu-answer", has_text=QUESTION)
    assert active.count() == 1 and "为期五天" in active.inner_text()

    # a member asks a paraphrase in the chat
    chat = context.new_page()
    chat.goto(url, wait_until="load")
    answer = ask(chat, PARAPHRASE)
    text = answer.inner_text()
    assert "工会审核的回答" in text and "审核日期" in text
    assert "今年职工疗休养为期五天" in text and "关于职工疗休养的通知" in text
    if os.environ.get("UNIONQA_SCREENSHOT"):
        chat.screenshot(path=str(ROOT / "docs" / "curated-chat.png"))

    # the notice is uploaded again, changed: the answer is suspended, with the old and the new text
    notice.write_text(CHANGED, encoding="utf-8")
    upload(page, url, notice)
    page.goto(url + "admin/curated", wait_until="load")
    review = page.locator("#cu-suspended .cu-answer", has_text=QUESTION)
    review.wait_for()
    assert "需复核" in review.inner_text()
    assert review.locator("del").inner_text().find("为期五天") >= 0
    assert "为期七天" in review.locator("ins").inner_text()
    assert page.locator("#cu-active .cu-answer").count() == 0
    if os.environ.get("UNIONQA_SCREENSHOT"):
        page.set_viewport_size({"width": 820, "height": 900})
        page.screenshot(path=str(ROOT / "docs" / "curated.png"), full_page=False)

    # and no longer served
    chat.goto(url, wait_until="load")
    answer = ask(chat, PARAPHRASE)
    assert "工会审核的回答" not in answer.inner_text()

    # confirming cannot re-attach a span whose text is gone; removing it can be done
    review.get_by_role("button", name="核对无误，恢复").click()
    page.get_by_text("已没有原来引用的文字").wait_for()
    page.locator("#cu-suspended .cu-answer", has_text=QUESTION).get_by_role("button", name="移除").click()
    page.get_by_text("已移除审核回答").wait_for()
    assert page.locator("#cu-removed .cu-answer", has_text=QUESTION).count() == 1
    context.close()


def test_the_pages_need_sign_in_and_refuse_other_sites(site):
    import httpx

    url, _ = site
    with httpx.Client(base_url=url, timeout=30) as client:
        assert client.get("/admin/curated").status_code == 401
        assert client.get("/admin/curated/new?question=x").status_code == 401
        forged = client.post("/admin/curated/new", data={"action": "save", "question": "问"},
                             headers={"Authorization": f"Bearer {TOKEN}".encode(),
                                      "Origin": "http://evil.example"})
        assert forged.status_code == 403
        signed = {"Authorization": f"Bearer {TOKEN}".encode()}
        page = client.get("/admin/curated/new?question=<b>试用期</b>", headers=signed)
        assert page.status_code == 200 and "&lt;b&gt;试用期&lt;/b&gt;" in page.text
        assert "script-src" not in page.headers["content-security-policy"]
        bad = client.post("/admin/curated/new", headers=signed,
                          data={"action": "save", "question": "问", "answer": "答", "cite": "0,5,no/such-doc"})
        assert bad.status_code == 422 and "不在当前索引中" in bad.text
        # 「采用机器人的回答」: the bot's text and its cited spans, ticked, fill the form
        taken = client.post("/admin/curated/new", headers=signed,
                            data={"action": "ask_bot", "question": "试用期最长多久？"})
        assert taken.status_code == 200 and "已填入机器人的回答" in taken.text
        assert "试用期" in taken.text.split("已引用的原文")[1] and 'name="cite"' in taken.text and "checked" in taken.text
