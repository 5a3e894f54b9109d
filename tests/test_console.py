"""The staff console (/admin/console) in a real headless Chromium against a real server
with the question log on: a question asked in the chat and its 👎 reach the console, the
chart and the groups are shown, the page fits a phone.

UNIONQA_SCREENSHOT=1 also rewrites docs/console.png.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from urllib.parse import unquote

import pytest

from tests.test_browser import ask, browser, context  # noqa: F401  (fixtures)
from ui.config import Config
from ui.server import bind_socket, create_app, running

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="needs Debian's chromium: scripts/install-browser.sh"),
]

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "控制台-secret-2"
DAY = 86400
# what members asked over the last week (text, outcome, times, days ago)
HISTORY = [
    ("工会会费怎么交纳？", "answered", 9, 1), ("工会会费怎么交纳", "answered", 4, 3), ("请问工会会费怎么交纳？", "related", 2, 5),
    ("职工疗休养为期几天？", "refused", 6, 2), ("职工疗休养为期几天", "refused", 3, 4),
    ("<b>加班费</b>怎么算？", "related", 2, 0), ("女职工在孕期享有哪些保护？", "answered", 5, 6),
]


def log_history(question_log, history) -> None:
    """Questions asked before the test: (text, outcome, times asked, days ago), from other addresses."""
    now = time.time()
    for text, outcome, times, days_ago in history:
        for i in range(times):
            question_log.record(text, outcome, [], 30 + i, client=f"10.0.0.{i}", asked_at=now - days_ago * DAY - i)
    question_log.flush()


@pytest.fixture(scope="module")
def console_url(bot, tmp_path_factory):
    home = tmp_path_factory.mktemp("console")
    config = Config(feedback_log=home / "feedback.jsonl", log_questions=True, admin_token=TOKEN)
    app = create_app(config, bot)
    asker = app.state.asker
    log_history(asker.question_log, HISTORY)
    with running(app, bind_socket()) as url:
        yield url, asker


def sign_in(page, url: str) -> None:
    page.goto(url + "admin", wait_until="load")
    page.locator("input[type=password]").fill(TOKEN)
    page.locator("input[type=password]").press("Enter")
    page.locator("#console-link").click()
    page.get_by_text("常见问题分组").wait_for()


def test_signed_in_staff_see_the_chart_groups_and_a_dislike_from_the_chat(context, console_url):  # noqa: F811
    url, asker = console_url
    page = context.new_page()
    page.goto(url + "admin/console", wait_until="load")
    assert page.get_by_text("请输入管理口令").count() == 1  # not without signing in

    page.goto(url, wait_until="load")
    ask(page, "工会的经费来源有哪些？")
    page.locator('#uq-chat button[aria-label="踩"]').last.click()
    page.get_by_text("感谢您的反馈").first.wait_for()
    asker.question_log.flush()
    (row,) = [r for r in asker.question_log.rows() if r.question == "工会的经费来源有哪些？"]
    assert row.rating == "down" and row.client == asker.question_log.client_hash("127.0.0.1")  # hashed, from the chat

    sign_in(page, url)
    assert page.title().startswith("管理控制台")
    total = sum(times for _, _, times, _ in HISTORY) + 1
    assert page.locator("#total").inner_text() == str(total)
    # the chart: bars for the days with questions, in the outcomes' colours, no script at all
    assert page.locator("#overview svg rect.bar-answered").count() >= 3
    assert page.locator("#overview svg rect.bar-refused").count() == 2
    assert page.locator("script").count() == 0

    groups = page.locator("#groups .group")
    examples = [groups.nth(i).locator(".example").inner_text() for i in range(groups.count())]
    assert examples[:2] == ["工会会费怎么交纳？", "职工疗休养为期几天？"]  # the rephrasings grouped, largest first
    assert "15 次" in groups.nth(0).inner_text() and "工会会费怎么交纳" in groups.nth(0).locator(".others").inner_text()
    asked = groups.filter(has_text="工会的经费来源有哪些？")
    assert "👎 1" in asked.inner_text()  # the chat's 👎, tied to its logged question
    assert "<b>加班费</b>怎么算？" in page.locator("#groups").inner_text()  # shown as text, not markup

    missing = page.locator("#missing .group")
    assert missing.first.locator(".example").inner_text() == "职工疗休养为期几天？"
    assert missing.first.locator(".closest").inner_text().startswith("最接近的文档：《")
    link = missing.first.locator("a.curate")
    assert link.inner_text() == "写审核回答"
    href = link.get_attribute("href")
    assert href.startswith("/admin/curated/new?question=") and unquote(href.split("=", 1)[1]) == "职工疗休养为期几天？"

    with page.expect_download() as download:
        page.locator("#export-groups").click()
    assert "工会会费怎么交纳？" in Path(download.value.path()).read_text(encoding="utf-8-sig")


COMMENT = "<i>引用的条文不对</i>，没说到会员大会"


def test_a_comment_after_a_dislike_reaches_the_log_the_feedback_file_and_the_console(context, console_url):  # noqa: F811
    url, asker = console_url
    page = context.new_page()
    page.goto(url, wait_until="load")
    ask(page, "工会会员有哪些权利？")
    box = page.get_by_label("这条回答哪里不对？可以写下您的意见（选填）")
    assert box.count() == 0 or not box.is_visible()  # no box before a 👎
    page.locator('#uq-chat button[aria-label="踩"]').last.click()
    box.wait_for(state="visible")
    box.fill(COMMENT)
    page.locator("#uq-comment-send").click()
    page.get_by_text("已收到您的意见").first.wait_for()
    box.wait_for(state="hidden")
    asker.question_log.flush()
    (row,) = [r for r in asker.question_log.rows() if r.question == "工会会员有哪些权利？"]
    assert (row.rating, row.comment) == ("down", COMMENT)
    lines = [json.loads(line) for line in (Path(asker.question_log.path).parent / "feedback.jsonl")
             .read_text(encoding="utf-8").splitlines()]
    assert [(e["rating"], e.get("comment")) for e in lines if e["question"] == "工会会员有哪些权利？"] == [
        ("down", None), ("comment", COMMENT)]

    sign_in(page, url)
    comment = page.locator("#groups .group", has_text="工会会员有哪些权利？").locator(".comment")
    deadline = time.monotonic() + 60
    while comment.count() == 0 and time.monotonic() < deadline:  # grouped before this 👎: group again
        page.get_by_role("button", name="重新分组").click()
        page.wait_for_load_state("load")
        time.sleep(1)
        page.reload(wait_until="load")
    assert comment.first.inner_text() == COMMENT  # as text: the <i> is not markup
    assert page.locator("#groups .comment i").count() == 0

def test_the_console_fits_a_phone(browser, console_url):  # noqa: F811
    url, _ = console_url
    ctx = browser.new_context(locale="zh-CN", viewport={"width": 375, "height": 812}, is_mobile=True, has_touch=True)
    page = ctx.new_page()
    sign_in(page, url)
    width = page.evaluate("Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)")
    assert width <= 375
    box = page.locator("#overview svg").bounding_box()
    assert box["width"] <= 375 and box["height"] > 50
    ctx.close()


@pytest.mark.skipif(os.environ.get("UNIONQA_SCREENSHOT") != "1", reason="set UNIONQA_SCREENSHOT=1 to rewrite docs/console.png")
def test_screenshot_for_the_readme(context, console_url):  # noqa: F811
    url, _ = console_url
    page = context.new_page()
    page.set_viewport_size({"width": 900, "height": 1400})
    sign_in(page, url)
    target = ROOT / "docs" / "console.png"
    page.screenshot(path=str(target))
    assert target.stat().st_size < 400_000
