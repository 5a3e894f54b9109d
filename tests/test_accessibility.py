"""The chat, the embed, the document view, the admin page and the staff pages (the console,
the approved answers): Chinese and accessible
(issue 21 part 6), in Debian's headless Chromium against real servers on 127.0.0.1.

axe-core (npm, pinned; `make browser` runs scripts/install-axe.sh into the git-ignored .axe/)
is injected into each page and must find no serious or critical violation; each run's
violations, by impact, are written to reports/axe-<page>.json. Each UI defect issue 21 lists
has a test here.

UNIONQA_SCREENSHOT=1 also rewrites docs/admin.png.
"""

# ruff: noqa: F811  (pytest fixtures imported from tests/test_browser.py are used as arguments)
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from bot.bot import Bot
from bot.llm.client import LLMClient, LLMSettings
from bot.llm.generate import Generator
from tests.fake_llm import Reply, good_answer
from tests.test_browser import (  # noqa: F401  (fixtures, shared with the chat's own browser tests)
    QUESTION,
    admin_url,
    ask,
    browser,
    chat_url,
    context,
    feedback_log,
    portals,
)
from tests.test_console import log_history
from ui.config import Config
from ui.server import bind_socket, create_app, running

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="needs Debian's chromium: scripts/install-browser.sh"),
]

ROOT = Path(__file__).resolve().parents[1]
AXE = ROOT / ".axe" / "node_modules" / "axe-core" / "axe.min.js"
TOKEN = "口令-secret-1"  # admin_url's
BLOCKING = ("serious", "critical")
TEXT_CONTRAST = 4.5  # WCAG 2 AA (1.4.3), for text of any size


# ----- helpers --------------------------------------------------------------------------


def axe_source() -> str:
    if not AXE.exists():
        pytest.fail(f"axe-core is not installed ({AXE.relative_to(ROOT)} missing): run `make browser` "
                    "(scripts/install-axe.sh installs it from npm)")
    return AXE.read_text(encoding="utf-8")


def run_axe(page_or_frame, name: str, rules: list[str] | None = None) -> dict[str, list[str]]:
    """axe-core's violations on this page or frame, by impact: {"serious": ["color-contrast (2)"], …};
    also written to reports/axe-<name>.json. Frames are checked on their own (`iframes: false`)."""
    if not page_or_frame.evaluate("typeof window.axe !== 'undefined'"):
        page_or_frame.add_script_tag(content=axe_source())
    options = {"resultTypes": ["violations"], "iframes": False}
    if rules:
        options["runOnly"] = {"type": "rule", "values": rules}
    violations = page_or_frame.evaluate("options => axe.run(document, options).then(r => r.violations)", options)
    by_impact: dict[str, list[str]] = {}
    for v in violations:
        by_impact.setdefault(v["impact"] or "unknown", []).append(f"{v['id']} ({len(v['nodes'])})")
    detail = [{"id": v["id"], "impact": v["impact"], "help": v["help"],
               "nodes": [{"target": n["target"], "summary": n.get("failureSummary", "")} for n in v["nodes"][:5]]}
              for v in violations]
    out = ROOT / "reports" / f"axe-{name}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"by_impact": by_impact, "violations": detail}, ensure_ascii=False, indent=1),
                   encoding="utf-8")
    print(f"\naxe {name}: {by_impact or 'no violations'}")
    return by_impact


def blocking(by_impact: dict[str, list[str]]) -> dict[str, list[str]]:
    return {impact: ids for impact, ids in by_impact.items() if impact in BLOCKING}


@pytest.fixture
def axe_context(browser):
    """A context whose pages accept the injected axe script despite their CSP (the admin page and
    the document view allow no inline script; the CSP itself is tested in test_admin/test_api)."""
    ctx = browser.new_context(locale="zh-CN", viewport={"width": 1000, "height": 900}, bypass_csp=True)
    yield ctx
    ctx.close()


def sign_in(page, admin_url: str) -> None:
    page.goto(admin_url + "admin", wait_until="load")
    page.get_by_label("管理口令").fill(TOKEN)
    page.get_by_label("管理口令").press("Enter")
    page.get_by_text("知识库中的文档").wait_for()
    page.locator("html[data-uq-ready='1']").wait_for(state="attached")


def open_embed(page, portal: str):
    page.goto(portal + "/", wait_until="load")
    page.locator(".unionqa-button").click()
    frame = page.frame_locator(".unionqa-frame")
    frame.locator("#uq-question textarea").wait_for(timeout=30_000)
    return frame


def chat_frame(page):
    return next(f for f in page.frames if f != page.main_frame and "embed=1" in f.url)


def a_document(bot, wanted) -> str:
    return next(doc_id for doc_id, doc in sorted(bot.documents.items()) if wanted(doc.metadata))


# ----- the chat -------------------------------------------------------------------------


def test_toasts_are_titled_in_chinese(context, chat_url):
    page = context.new_page()
    page.goto(chat_url, wait_until="load")
    ask(page, QUESTION)
    page.locator('#uq-chat button[aria-label="赞"]').last.click()
    # each toast read as soon as it shows: Gradio closes them after a few seconds
    info = page.locator("[data-testid=toast-body]", has_text="感谢您的反馈")
    info.wait_for()
    check_toast(info, "提示")
    # an empty question: a warning
    box = page.locator("#uq-question textarea")
    box.fill(" ")
    box.press("Enter")
    warning = page.locator("[data-testid=toast-body].warning")
    warning.wait_for()
    check_toast(warning, "注意")


def check_toast(toast, title: str) -> None:
    assert toast.locator(".toast-title").inner_text().strip() == title
    assert not re.search(r"[A-Za-z]{3,}", toast.inner_text()), toast.inner_text()
    assert toast.locator("[data-testid=toast-close]").get_attribute("aria-label") == "关闭"


def test_question_box_shows_a_focus_ring(context, chat_url):
    page = context.new_page()
    page.goto(chat_url, wait_until="load")
    box = page.locator("#uq-question textarea")
    box.wait_for()
    unfocused = box.evaluate("e => getComputedStyle(e).outlineStyle")
    page.locator("body").click(position={"x": 5, "y": 5})
    # reached with the keyboard, as a keyboard user does: Tab until the box has the focus
    for _ in range(30):
        page.keyboard.press("Tab")
        if box.evaluate("e => e === document.activeElement"):
            break
    else:
        pytest.fail("the question box cannot be reached with Tab")
    ring = box.evaluate("e => { const s = getComputedStyle(e); return [s.outlineStyle, s.outlineWidth, s.outlineColor]; }")
    assert unfocused == "none" and ring[0] == "solid" and float(ring[1].removesuffix("px")) >= 2, ring
    # drawn inside the box: its Gradio block clips anything outside (overflow: hidden)
    assert box.evaluate("e => parseFloat(getComputedStyle(e).outlineOffset)") <= -float(ring[1].removesuffix("px"))


def test_messages_and_the_question_box_have_chinese_names(context, chat_url):
    page = context.new_page()
    page.goto(chat_url, wait_until="load")
    page.get_by_role("textbox", name="您的问题").wait_for()
    assert page.get_by_role("log", name="对话记录").get_attribute("aria-live") == "polite"
    ask(page, QUESTION)
    question = page.locator("[data-testid=user]").last
    answer = page.locator("[data-testid=bot]").last
    page.wait_for_function("() => document.querySelector('[data-testid=bot]').getAttribute('aria-label').startsWith('回答：')")
    assert question.get_attribute("aria-label") == f"您的问题：{QUESTION}"
    name = answer.get_attribute("aria-label")
    assert name.startswith("回答：") and "爱岗敬业" in name
    assert "<" not in name and "message" not in name and len(name) <= 4 + 200
    # the names follow the conversation: a second question and answer are named too
    ask(page, "工匠精神是什么？")
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=user], [data-testid=bot]')]"
        ".every(e => /^(您的问题|回答)：/.test(e.getAttribute('aria-label')))")


def test_chat_text_has_a_contrast_of_at_least_4_5(axe_context, chat_url):
    page = axe_context.new_page()
    page.goto(chat_url, wait_until="load")
    answer = ask(page, QUESTION)
    answer.locator(".uq-text a.uq-cite").first.click()
    answer.locator(".uq-source:not([hidden])").wait_for()
    ask(page, "今天天气怎么样？")  # a refusal, with its hint
    page.locator(".uq-footnote").wait_for()
    assert run_axe(page, "chat-contrast", ["color-contrast"]) == {}
    # the primary button, measured apart: axe leaves out text it cannot place on one background
    ratio = page.locator("#uq-ask").evaluate(CONTRAST_JS)
    assert ratio >= TEXT_CONTRAST, f"「提问」 has a contrast of {ratio:.2f}:1"


# The contrast ratio of an element's text colour on its own background colour (WCAG 2 formula).
CONTRAST_JS = """e => {
  const rgb = c => c.match(/[\\d.]+/g).slice(0, 3).map(Number);
  const lum = ([r, g, b]) => [r, g, b].map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; })
    .reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0);
  const s = getComputedStyle(e);
  const [a, b] = [lum(rgb(s.color)), lum(rgb(s.backgroundColor))].sort((x, y) => y - x);
  return (a + 0.05) / (b + 0.05);
}"""


@pytest.fixture(scope="module")
def llm_chat_url(bot, llm_server, tmp_path_factory):
    """A chat whose answers stream from the scripted LLM server (tests/fake_llm.py)."""
    client = LLMClient(LLMSettings(llm_server.url, model="qwen-test", timeout=30))
    served = Bot(bot.store, bot.embedder, calibration=bot.calibration, lexicon=bot.lexicon, generator=Generator(client))
    config = Config(feedback_log=tmp_path_factory.mktemp("a11y-llm") / "feedback.jsonl")
    with running(create_app(config, served), bind_socket()) as url:
        yield url


def test_votes_show_only_under_a_finished_answer(axe_context, llm_chat_url, llm_server):
    page = axe_context.new_page()
    page.goto(llm_chat_url, wait_until="load")
    # Gradio puts an answer's buttons beside its message row, not in it
    under_last = "xpath=(//div[contains(@class,'bot-row')])[last()]/following-sibling::div[contains(@class,'message-buttons')][1]"
    votes = page.locator("#uq-chat").locator(under_last).locator('button[aria-label="赞"]')
    # the model takes 3 s to start, then writes slowly: the "looking" line, then the stream
    llm_server.script = lambda request: Reply(good_answer(request), delay=3, chunk_delay=0.3)
    box = page.locator("#uq-question textarea")
    box.fill("劳动合同期限一年的，试用期最长多久？")
    box.press("Enter")
    page.locator(".uq-pending").wait_for(timeout=30_000)
    assert not votes.is_visible()
    # half-written: the stream is on the page, the votes are not
    page.locator(".uq-streaming .uq-unchecked").first.wait_for(timeout=30_000)
    assert not votes.is_visible()
    # the sentence being written is muted, and still readable
    assert run_axe(page, "chat-streaming", ["color-contrast"]) == {}
    page.locator(".uq-answer.uq-generated").wait_for(timeout=60_000)
    votes.wait_for(state="visible")
    assert page.locator("#uq-chat").locator(under_last).locator('button[aria-label="踩"]').is_visible()


# ----- the embed ------------------------------------------------------------------------


def test_embed_moves_focus_in_and_back_and_closes_on_esc_while_typing(context, chat_url, portals):
    _, allowed, _ = portals
    page = context.new_page()
    page.goto(allowed + "/", wait_until="load")
    launcher = page.locator(".unionqa-button")
    launcher.focus()
    page.keyboard.press("Enter")
    panel = page.locator("#unionqa-panel")
    panel.wait_for()
    page.frame_locator(".unionqa-frame").locator("#uq-question textarea").wait_for(timeout=30_000)
    frame = chat_frame(page)
    # the focus is in the question box, without a click: typing goes there
    frame.wait_for_function("() => document.activeElement && document.activeElement.matches('#uq-question textarea')")
    page.keyboard.type("劳模")
    assert frame.locator("#uq-question textarea").input_value() == "劳模"
    # Esc while typing in the frame closes the panel, and the focus is back on the launcher
    page.keyboard.press("Escape")
    panel.wait_for(state="hidden")
    assert launcher.get_attribute("aria-expanded") == "false"
    page.wait_for_function("() => document.activeElement === document.querySelector('.unionqa-button')")
    # opened again: straight into the box; closed with ×: back on the launcher
    page.keyboard.press("Enter")
    panel.wait_for()
    frame.wait_for_function("() => document.activeElement && document.activeElement.matches('#uq-question textarea')")
    page.locator(".unionqa-close").click()
    panel.wait_for(state="hidden")
    page.wait_for_function("() => document.activeElement === document.querySelector('.unionqa-button')")


# Every visible element that hides what overflows it, and whose content is wider or taller than it
# is (helpers of 1-3 px, the visually hidden labels for screen readers, are left out); and whether
# the question box's placeholder fits in one line.
CLIPPED_JS = """() => {
  const clipped = [];
  for (const el of document.querySelectorAll('body *')) {
    const s = getComputedStyle(el);
    if (s.display === 'none' || s.visibility === 'hidden' || !el.textContent.trim()) continue;
    const r = el.getBoundingClientRect();
    if (r.width < 4 || r.height < 4) continue;
    const x = ['hidden', 'clip'].includes(s.overflowX) || s.textOverflow === 'ellipsis';
    const y = ['hidden', 'clip'].includes(s.overflowY);
    if ((x && el.scrollWidth > el.clientWidth + 1) || (y && el.scrollHeight > el.clientHeight + 1))
      clipped.push((el.id ? '#' + el.id : el.tagName + '.' + el.className) + ': ' + el.textContent.trim().slice(0, 30));
  }
  const box = document.querySelector('#uq-question textarea');
  const cs = getComputedStyle(box);
  const ctx = document.createElement('canvas').getContext('2d');
  ctx.font = `${cs.fontStyle} ${cs.fontWeight} ${cs.fontSize} ${cs.fontFamily}`;
  const room = box.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight);
  return {clipped, placeholder: ctx.measureText(box.placeholder).width, room,
          scroll: document.documentElement.scrollWidth - document.documentElement.clientWidth};
}"""


def test_nothing_is_clipped_in_a_420_by_600_frame(browser, chat_url, portals):
    _, allowed, _ = portals
    # the panel is min(420 px, width - 24) by min(640 px, height - 110), less its 35 px title bar
    ctx = browser.new_context(locale="zh-CN", viewport={"width": 1000, "height": 745})
    try:
        page = ctx.new_page()
        open_embed(page, allowed)
        size = page.locator(".unionqa-frame").evaluate("e => [e.clientWidth, e.clientHeight]")
        assert abs(size[0] - 420) <= 2 and abs(size[1] - 600) <= 12, size
        frame = chat_frame(page)
        seen = frame.evaluate(CLIPPED_JS)
        assert seen["clipped"] == [], seen
        assert seen["placeholder"] <= seen["room"], f"the placeholder is cut off: {seen}"
        assert seen["scroll"] <= 0
        # the question box and its button are whole inside the frame
        for selector in ("#uq-question textarea", "#uq-ask"):
            box = frame.locator(selector).bounding_box()  # in the page's coordinates
            frame_box = page.locator(".unionqa-frame").bounding_box()
            assert box["x"] >= frame_box["x"] and box["x"] + box["width"] <= frame_box["x"] + frame_box["width"] + 1
            assert box["y"] + box["height"] <= frame_box["y"] + frame_box["height"] + 1
        # and so is an answer with its source panel open
        answer = ask(page.frame_locator(".unionqa-frame"), QUESTION)
        answer.locator(".uq-text a.uq-cite").first.click()
        answer.locator(".uq-source:not([hidden])").wait_for()
        seen = frame.evaluate(CLIPPED_JS)
        assert seen["clipped"] == [] and seen["scroll"] <= 0, seen
    finally:
        ctx.close()


# ----- the document view ----------------------------------------------------------------


def test_document_page_names_its_metadata_in_chinese(context, chat_url, bot):
    page = context.new_page()
    law = a_document(bot, lambda m: m.get("kind") == "law" and m.get("short_title"))
    other = a_document(bot, lambda m: m.get("format") == "text")
    for doc_id, expected in ((law, ["类别：法律法规", "简称：", "格式：Markdown 文本"]), (other, ["格式：纯文本"])):
        page.goto(f"{chat_url}doc/{doc_id}", wait_until="load")
        meta = page.locator(".meta").inner_text()
        for line in expected:
            assert line in meta, meta
        # no English key names ("format：", "short_title：", "preamble："), nor English values but a format's name
        assert not re.search(r"(^|\n)[A-Za-z_]+：", meta), meta
        assert not re.search(r"：(markdown|law|text|html|docx|pdf)\b", meta), meta
        assert page.locator("html").get_attribute("lang") == "zh-CN"


# ----- the admin page -------------------------------------------------------------------


@pytest.mark.parametrize("width", [1280, 375])
def test_admin_page_is_styled_chinese_and_fits_a_phone(browser, admin_url, width):
    ctx = browser.new_context(locale="zh-CN", viewport={"width": width, "height": 900}, is_mobile=width < 600)
    try:
        page = ctx.new_page()
        page.goto(admin_url + "admin", wait_until="load")
        styled = "e => getComputedStyle(e).backgroundColor"
        assert page.get_by_role("button", name="登录").evaluate(styled) == "rgb(183, 28, 28)"  # site.css, not a default
        assert page.locator("style").count() == 1 and page.locator("link[rel=stylesheet]").count() == 0
        sign_in(page, admin_url)
        assert page.locator("html").get_attribute("lang") == "zh-CN"
        assert page.locator(".card").count() >= 2
        assert page.get_by_role("button", name="上传并建立索引").evaluate(styled) == "rgb(183, 28, 28)"
        # the page's own words are Chinese (document ids and file names are the documents')
        own = page.locator("h1, h2, th, button, label, .muted, .file-names, nav").all_inner_texts()
        # (file extensions such as .docx and the unit MB are the only Latin letters allowed)
        assert not [t for t in own if re.search(r"[A-Za-z]{2,}", re.sub(r"\.[a-z]{2,4}\b|MB", "", t))], own
        # readable at this width: nothing scrolls sideways, the text is not shrunk
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        cell = page.locator("#documents td").nth(1)
        assert float(cell.evaluate("e => getComputedStyle(e).fontSize").removesuffix("px")) >= 14
        box = cell.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= width
        before = cell.evaluate("e => getComputedStyle(e, '::before').content")
        if width < 600:  # one block per document, each value named
            assert before == '"标题" "："' or "标题" in before, before
            assert page.locator("#documents tr").first.evaluate("e => getComputedStyle(e).display") == "block"
        else:
            assert page.locator("thead").is_visible()
        if os.environ.get("UNIONQA_SCREENSHOT") == "1" and width == 1280:
            target = ROOT / "docs" / "admin.png"
            page.set_viewport_size({"width": 1000, "height": 900})
            page.screenshot(path=str(target))
            assert target.stat().st_size < 300_000
    finally:
        ctx.close()


def test_admin_file_chooser_shows_the_chosen_names(context, admin_url, tmp_path):
    files = []
    for name in ("会费通知.md", "职工书屋.txt"):
        (tmp_path / name).write_text("# 通知\n\n内容。", encoding="utf-8")
        files.append(str(tmp_path / name))
    page = context.new_page()
    sign_in(page, admin_url)
    chooser = page.get_by_label("选择要上传的文件")
    assert page.locator("#file-names").inner_text() == "尚未选择文件"
    chooser.set_input_files(files)
    page.locator("#file-names", has_text="已选择 2 个文件").wait_for()
    assert "会费通知.md、职工书屋.txt" in page.locator("#file-names").inner_text()
    # the hidden input still takes the keyboard focus, and shows it on its button
    chooser.focus()
    assert page.locator(".file-picker .button").evaluate("e => getComputedStyle(e).outlineStyle") == "solid"


def test_admin_names_a_renamed_program_and_a_broken_pdf_in_chinese(context, admin_url, tmp_path):
    program = tmp_path / "通知.pdf"
    program.write_bytes(b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 200 + b"This program cannot be run in DOS mode.")
    broken = tmp_path / "章程.pdf"
    broken.write_bytes(b"%PDF-1.4\n1 0 obj\n<< /Length 400 /Filter /FlateDecode >>\nstream\n" + b"\x78\x9c\x00\x01" * 8)
    page = context.new_page()
    sign_in(page, admin_url)
    page.get_by_label("选择要上传的文件").set_input_files([str(program), str(broken)])
    page.get_by_role("button", name="上传并建立索引").click()
    page.locator("#results").wait_for(timeout=60_000)
    said = {li.split("：")[0]: li for li in page.locator("#results li").all_inner_texts()}
    # named for what it is, not called a damaged PDF
    assert "与扩展名 .pdf 不符" in said["通知.pdf"] and "损坏" not in said["通知.pdf"], said
    assert "PDF 文件已损坏" in said["章程.pdf"], said
    for line in said.values():
        assert not re.search(r"[A-Za-z]*(Error|Exception)", line), line


# ----- axe-core on every page -----------------------------------------------------------


def test_axe_finds_no_serious_or_critical_violation(axe_context, chat_url, portals, admin_url, bot):
    """The chat (with an answer and its source open), the embed (the portal with the panel open,
    and the chat inside it), the document view, and the admin page signed out and signed in."""
    _, allowed, _ = portals
    found = {}
    page = axe_context.new_page()

    page.goto(chat_url, wait_until="load")
    answer = ask(page, QUESTION)
    answer.locator(".uq-text a.uq-cite").first.click()
    answer.locator(".uq-source:not([hidden])").wait_for()
    found["chat"] = run_axe(page, "chat")

    found["document"] = {}
    doc_link = answer.locator("a.uq-open").first.get_attribute("href")
    page.goto(chat_url + doc_link, wait_until="load")
    page.locator("mark").first.wait_for()
    found["document"] = run_axe(page, "document")

    open_embed(page, allowed)
    found["embed-portal"] = run_axe(page, "embed-portal")
    ask(page.frame_locator(".unionqa-frame"), QUESTION)
    found["embed-chat"] = run_axe(chat_frame(page), "embed-chat")

    page.goto(admin_url + "admin", wait_until="load")
    page.get_by_label("管理口令").wait_for()
    found["admin-login"] = run_axe(page, "admin-login")
    sign_in(page, admin_url)
    found["admin"] = run_axe(page, "admin")

    assert {name: blocking(v) for name, v in found.items() if blocking(v)} == {}


# ----- the staff pages: the console and the approved answers ------------------------------

# logged questions over the last week (text, outcome, times, days ago): every outcome, so the
# chart has bars of each colour and the console has groups, unanswered ones included
LOGGED = [("工会会费怎么交纳？", "answered", 5, 1), ("工会会费怎么交纳", "answered", 3, 3),
          ("职工疗休养为期几天？", "refused", 4, 2), ("加班费怎么算？", "related", 3, 0),
          ("女职工在孕期享有哪些保护？", "curated", 2, 5)]


@pytest.fixture(scope="module")
def staff_url(tmp_path_factory, bundled_index, bot):
    """The admin with the question log on (a week of logged questions) and three approved
    answers: one in force, one to review (its document's recorded hash is stale, as after
    an upload), one removed."""
    import shutil
    from dataclasses import replace

    from bot.curated import REMOVED, CuratedAnswer, make_span
    from bot.curated_store import CuratedStore, curated_path
    from index.store.folder import IndexStore

    index_dir = tmp_path_factory.mktemp("staff") / "index"
    shutil.copytree(bundled_index, index_dir)
    own_bot = Bot(IndexStore.load(index_dir), bot.embedder)
    documents = own_bot.documents
    doc_id, doc = sorted(documents.items())[0]
    start = len(doc.text) - len(doc.text.lstrip())
    span = make_span(documents, doc_id, start, start + 30)
    store = CuratedStore(curated_path(index_dir))
    for n, question in enumerate(("会员会费标准是多少？", "困难职工怎样申请帮扶？", "工会小组长怎么选？"), 1):
        store.add(CuratedAnswer(f"a{n}", question, f"回答 {n}：见所引原文。[1]", (span,), phrasings=("另一种问法",),
                                approved_by="工会办公室", approved_at="2026-05-01"), documents)
    store.set_state("a3", documents, REMOVED)
    store.update(lambda answers: [replace(a, citations=tuple(replace(c, doc_hash="stale") for c in a.citations))
                                  if a.id == "a2" else a for a in answers])

    config = Config(index_dir=index_dir, admin_token=TOKEN, feedback_log=index_dir.parent / "f.jsonl",
                    log_questions=True)
    app = create_app(config, own_bot)
    log_history(app.state.asker.question_log, LOGGED)
    with running(app, bind_socket()) as url:
        yield url


# each staff page: its path, and what shows once it is complete
STAFF_PAGES = {
    "console": ("admin/console", "#missing .group .curate"),
    "curated": ("admin/curated", "#cu-suspended .cu-answer del"),
    "curated-new": ("admin/curated/new?question=会员会费标准是多少？", "#cu-question"),
}


def open_staff_page(page, url: str, name: str) -> None:
    path, ready = STAFF_PAGES[name]
    page.goto(url + path, wait_until="load")
    page.locator(ready).first.wait_for()
    if name == "curated-new":  # a document's passages listed, as staff pick one to cite
        page.locator("#cu-doc").select_option(index=1)
        page.get_by_role("button", name="显示段落").click()
        page.locator(".cu-passages li").first.wait_for()


# The contrast of an SVG text's fill on white (the chart's card), WCAG 2 formula.
FILL_CONTRAST_JS = """e => {
  const rgb = c => c.match(/[\\d.]+/g).slice(0, 3).map(Number);
  const lum = ([r, g, b]) => [r, g, b].map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; })
    .reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0);
  return 1.05 / (lum(rgb(getComputedStyle(e).fill)) + 0.05);
}"""


def test_axe_finds_no_serious_or_critical_violation_on_the_staff_pages(axe_context, staff_url):
    """The console (chart, groups, unanswered groups), the approved answers (in force, to
    review with the old and new text, removed) and the new-answer form (a document's passages
    shown): site.css inline, the site header, no script, every text 4.5:1."""
    page = axe_context.new_page()
    sign_in(page, staff_url)
    found = {}
    for name in STAFF_PAGES:
        open_staff_page(page, staff_url, name)
        assert page.locator("html").get_attribute("lang") == "zh-CN"
        assert page.locator("style").count() == 1 and page.locator("link[rel=stylesheet]").count() == 0
        assert page.locator("script").count() == 0
        nav = page.locator(".site-header nav")
        assert nav.get_by_role("link", name="文档管理").get_attribute("href") == "/admin"
        assert nav.get_by_role("link", name="返回问答").get_attribute("href") == "/"
        assert page.locator("main#main h1").count() == 1
        found[name] = run_axe(page, f"staff-{name}")
        # coloured labels, measured apart (axe leaves out some text on coloured boxes)
        for label in page.locator(".tag, .cu-state").all():
            ratio = label.evaluate(CONTRAST_JS)
            assert ratio >= TEXT_CONTRAST, f"{name}: 「{label.inner_text()}」 has a contrast of {ratio:.2f}:1"
        if name == "console":
            assert page.locator(".tag-related").count() >= 1 and page.locator("#overview svg text").count() >= 3
            for text in page.locator("#overview svg text").all():
                ratio = text.evaluate(FILL_CONTRAST_JS)
                assert ratio >= TEXT_CONTRAST, f"the chart's 「{text.inner_text()}」 has a contrast of {ratio:.2f}:1"
    assert {name: blocking(v) for name, v in found.items() if blocking(v)} == {}


@pytest.mark.parametrize("name", list(STAFF_PAGES))
def test_staff_pages_fit_a_phone(browser, staff_url, name):
    ctx = browser.new_context(locale="zh-CN", viewport={"width": 375, "height": 812}, is_mobile=True, has_touch=True)
    try:
        page = ctx.new_page()
        sign_in(page, staff_url)
        open_staff_page(page, staff_url, name)
        # nothing scrolls sideways, the text is not shrunk, the page's buttons are whole on the screen
        assert page.evaluate("Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)") <= 375
        text = page.locator("main p").first
        assert float(text.evaluate("e => getComputedStyle(e).fontSize").removesuffix("px")) >= 14
        for button in page.locator("main button:visible").all():
            box = button.bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= 375, button.inner_text()
    finally:
        ctx.close()
