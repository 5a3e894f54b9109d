"""The web chat: a Gradio Blocks app, mounted on the FastAPI server at `/`.

Messages are shown as HTML built by `ui.render` (which escapes everything that
comes from users or documents), with Markdown and LaTeX rendering off so that
document text is shown exactly as written. The conversation itself (the
questions and `Answer`s) lives in a `gr.State`; the chat messages are only
its rendering.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import gradio as gr

from bot.llm.generate import Partial
from bot.records import Answer
from corpus.records import Document
from ui import render
from ui.asking import Asker, QuestionError, ServerBusy, check_question
from ui.examples import example_questions
from ui.feedback import FeedbackLog
from ui.questionlog import MAX_COMMENT_CHARS
from ui.ratelimit import RateLimiter

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"
TITLE = "工会知识问答"
ERROR_MESSAGE = "抱歉，回答这个问题时出错了，请稍后再试。"
# Titles of the toasts. Gradio 6.31's page shows the toast's type ("Warning", "Info") whatever the
# title, so chat.js renames those on the page too; these are for a Gradio that shows the title.
WARNING_TITLE = "注意"
INFO_TITLE = "提示"
# The question box's accessible name (shown to screen readers only; Gradio's default is "Textbox").
QUESTION_LABEL = "您的问题"
# Short enough not to be cut off in the portal's 420 px panel or on a phone; the example
# questions under the box show what to ask.
QUESTION_PLACEHOLDER = "请输入您的问题"
PLACEHOLDER = (
    "<div class='uq-placeholder'><b>您好！</b>请输入关于工会文件、劳动法律法规的问题。"
    "<br>回答摘自文件原文，点击 [1] 等编号可查看出处。</div>"
)
# System fonts only: the office server is offline, so nothing may be fetched from a font service.
FONTS = ["PingFang SC", "Microsoft YaHei", "WenQuanYi Micro Hei", "Noto Sans CJK SC", "Source Han Sans SC",
         "ui-sans-serif", "system-ui", "sans-serif"]
MONO_FONTS = ["ui-monospace", "Consolas", "monospace"]

Message = dict[str, str]
STREAM_INTERVAL = 0.08  # seconds between updates of a streaming answer: tokens come faster than a page redraws


def theme() -> gr.themes.Base:
    # Red-700 under white text (6.5:1; Gradio's red-500 is 3.8:1), and a placeholder and the
    # muted texts in grey-600 (7.6:1, against 2.5:1): every text at least 4.5:1 (WCAG AA).
    return gr.themes.Default(primary_hue="red", font=FONTS, font_mono=MONO_FONTS).set(
        button_primary_background_fill="*primary_700",
        button_primary_background_fill_hover="*primary_800",
        button_primary_border_color="*primary_700",
        button_primary_text_color="white",
        input_placeholder_color="*neutral_600",
        body_text_color_subdued="*neutral_600",
        block_info_text_color="*neutral_600",
    )


def page_css() -> str:
    return (STATIC_DIR / "chat.css").read_text(encoding="utf-8")


def page_js() -> str:
    return (STATIC_DIR / "chat.js").read_text(encoding="utf-8")


def to_messages(turns: list[Answer], documents: dict[str, Document]) -> list[Message]:
    messages = []
    for answer in turns:
        messages.append({"role": "user", "content": render.question_html(answer.question)})
        messages.append({"role": "assistant", "content": render.answer_html(answer, documents)})
    return messages


FEEDBACK_PER_MINUTE = 20  # 👍/👎 per client address: more than a reader gives, far fewer than a flood


def build_chat(asker: Asker, feedback: FeedbackLog) -> gr.Blocks:
    vote_limiter = RateLimiter(FEEDBACK_PER_MINUTE)

    def documents() -> dict[str, Document]:
        return asker.bot.documents  # at call time: the index may have changed since the page was built

    def respond(question: str, turns: list[Answer],
                request: gr.Request = None) -> Iterator[tuple[str, list[Message], list[Answer]]]:
        turns = turns or []
        try:
            question = check_question(question, asker.max_chars)
        except QuestionError as exc:
            gr.Warning(str(exc), title=WARNING_TITLE)
            # The textbox is left as it is, not sent back: an echoed question would be held
            # in the queue until the stream is read, and one with a lone surrogate cannot
            # even be encoded into the event stream (it cut the user's stream).
            yield gr.skip(), gr.skip(), gr.skip()
            return
        # Show the question at once; the answer replaces the "looking" line when it is ready.
        asked = [{"role": "user", "content": render.question_html(question)}]
        yield "", to_messages(turns, documents()) + asked + [{"role": "assistant", "content": render.pending_html()}], turns
        history = [(a.question, a.text) for a in turns]
        shown = 0.0
        try:
            client = request.client.host if request and request.client else ""  # hashed by the question log
            for answer in asker.ask_stream(question, history, client):
                if isinstance(answer, Partial) and time.monotonic() - shown >= STREAM_INTERVAL:
                    shown = time.monotonic()
                    streaming = render.streaming_html(answer.checked, answer.pending)
                    yield "", to_messages(turns, documents()) + asked + [{"role": "assistant", "content": streaming}], turns
        except ServerBusy as exc:
            yield "", to_messages(turns, documents()) + asked + [
                {"role": "assistant", "content": render.error_html(str(exc))}
            ], turns
            return
        except Exception:
            log.exception("the bot failed on a question")  # the question is logged only if configured (ui.logs)
            yield "", to_messages(turns, documents()) + asked + [
                {"role": "assistant", "content": render.error_html(ERROR_MESSAGE)}
            ], turns
            return
        turns = turns + [answer]
        yield "", to_messages(turns, documents()), turns

    def on_feedback(turns: list[Answer], votes: list[int], data: gr.LikeData,
                    request: gr.Request) -> tuple[list[int], object, int]:
        """One vote per answer and session (`votes`: the turns voted on, this session's own
        state), and at most FEEDBACK_PER_MINUTE votes a minute per address: a script
        clicking 👍 a hundred times wrote a hundred lines. A 👎 opens the comment box for
        that answer (the vote is kept whether or not a comment follows)."""
        index = data.index if isinstance(data.index, int) else data.index[0]
        turn = index // 2  # messages alternate: question, answer
        votes = votes or []
        if not 0 <= turn < len(turns or []) or data.liked is None:  # taking a vote back is not a vote
            return votes, gr.skip(), gr.skip()
        if turn in votes:
            gr.Info("您已对这条回答反馈过，谢谢！", title=INFO_TITLE)
            return votes, gr.skip(), gr.skip()
        address = request.client.host if request and request.client else "unknown"
        if wait := vote_limiter.retry_after(address):
            gr.Warning(f"反馈太频繁，请 {wait} 秒后再试。", title=WARNING_TITLE)
            return votes, gr.skip(), gr.skip()
        feedback.record(turns[turn], "up" if data.liked is True else "down")
        gr.Info("感谢您的反馈！", title=INFO_TITLE)
        if data.liked is True:
            return votes + [turn], gr.skip(), gr.skip()
        return votes + [turn], gr.update(visible=True), turn

    def on_comment(text: str, turns: list[Answer], turn: int, request: gr.Request) -> tuple[object, object, int]:
        """The optional comment after a 👎: kept with that 👎 (question log and feedback file)."""
        text = (text or "").strip()
        if not 0 <= (turn if isinstance(turn, int) else -1) < len(turns or []):
            return gr.skip(), gr.update(visible=False), -1
        if not text:
            gr.Warning("请先写下您的意见；不想写也可以不填。", title=WARNING_TITLE)
            return gr.skip(), gr.skip(), turn
        if len(text) > MAX_COMMENT_CHARS:
            gr.Warning(f"意见太长了（{len(text)} 字），请不超过 {MAX_COMMENT_CHARS} 字。", title=WARNING_TITLE)
            return gr.skip(), gr.skip(), turn
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            gr.Warning("意见里有无法识别的字符，请删去后再提交。", title=WARNING_TITLE)
            return gr.skip(), gr.skip(), turn
        address = request.client.host if request and request.client else "unknown"
        if wait := vote_limiter.retry_after(address):
            gr.Warning(f"反馈太频繁，请 {wait} 秒后再试。", title=WARNING_TITLE)
            return gr.skip(), gr.skip(), turn
        feedback.comment(turns[turn], text)
        gr.Info("已收到您的意见，谢谢！", title=INFO_TITLE)
        return "", gr.update(visible=False), -1

    with gr.Blocks(title=TITLE, analytics_enabled=False) as blocks:
        gr.HTML(
            f'<div id="uq-header"><h1>{TITLE}</h1>'
            "<p>根据工会文件与劳动法律法规回答问题，并给出原文出处。</p></div>",
            elem_id="uq-header-block",
        )
        turns = gr.State([])
        votes = gr.State([])  # indices of the turns this session has voted on
        chatbot = gr.Chatbot(
            show_label=False,
            elem_id="uq-chat",
            height="max(360px, calc(100vh - 300px))",  # fills the window, on a phone and in the portal panel too
            render_markdown=False,  # our HTML is final: no Markdown, no LaTeX, nothing reinterpreted
            sanitize_html=True,  # defence in depth: we escape, and the browser-side sanitizer runs too
            latex_delimiters=[],
            allow_tags=False,
            buttons=[],
            feedback_options=("Like", "Dislike"),
            placeholder=PLACEHOLDER,
            layout="bubble",
            autoscroll=True,
        )
        comment_turn = gr.State(-1)  # the answer a 👎 comment is about
        with gr.Row(visible=False, elem_id="uq-comment-row", equal_height=True) as comment_row:
            comment_box = gr.Textbox(
                label="这条回答哪里不对？可以写下您的意见（选填）",
                placeholder="例如：没有回答我问的、引用的条文不对……",
                lines=2,
                max_lines=5,
                max_length=MAX_COMMENT_CHARS,
                scale=5,
                min_width=0,
                elem_id="uq-comment",
            )
            comment_send = gr.Button("提交意见", size="sm", scale=0, min_width=88, elem_id="uq-comment-send")
        with gr.Row(elem_id="uq-ask-row", equal_height=True):
            question = gr.Textbox(
                label=QUESTION_LABEL,
                show_label=False,
                placeholder=QUESTION_PLACEHOLDER,
                lines=1,
                max_lines=4,
                max_length=asker.max_chars,
                scale=5,
                min_width=0,
                container=False,
                elem_id="uq-question",
            )
            ask = gr.Button("提问", variant="primary", scale=0, min_width=72, elem_id="uq-ask")
        examples = example_questions(documents())
        with gr.Row(elem_id="uq-tools"):
            example_buttons = [
                gr.Button(q, size="sm", scale=0, min_width=0, elem_classes=["uq-example"]) for q in examples
            ]
            clear = gr.Button("清空对话", size="sm", variant="secondary", scale=0, min_width=0, elem_id="uq-clear")
        gr.HTML(
            '<p class="uq-footnote">回答均摘自知识库中的文件原文，请以原文为准。'
            "如回答有帮助或有误，欢迎点击回答下方的赞 / 踩图标反馈。</p>",
            elem_id="uq-footnote-block",
        )

        outputs = [question, chatbot, turns]
        question.submit(respond, [question, turns], outputs, api_name="chat")
        ask.click(respond, [question, turns], outputs, api_visibility="private")
        for button in example_buttons:
            button.click(respond, [button, turns], outputs, api_visibility="private")
        hidden = gr.update(visible=False)
        clear.click(lambda: ("", [], [], [], hidden, -1), None, [*outputs, votes, comment_row, comment_turn],
                    api_visibility="private")
        # the chatbot's own trash icon
        chatbot.clear(lambda: ([], [], hidden, -1), None, [turns, votes, comment_row, comment_turn],
                      api_visibility="private")
        chatbot.like(on_feedback, [turns, votes], [votes, comment_row, comment_turn], api_visibility="private")
        comment_send.click(on_comment, [comment_box, turns, comment_turn], [comment_box, comment_row, comment_turn],
                           api_visibility="private")
        comment_box.submit(on_comment, [comment_box, turns, comment_turn], [comment_box, comment_row, comment_turn],
                           api_visibility="private")
    return blocks
