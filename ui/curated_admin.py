"""Approved answers on the admin pages: `/admin/curated` lists them (生效 / 需复核 / 已移除),
with the changed text of every 需复核 one and buttons to confirm or remove it;
`/admin/curated/new` writes one (its `question` parameter prefills the question, so a
question group of the console links here).

Writing one is a plain form, no script: staff write the answer or take the bot's
(「采用机器人的回答」 fills the text and its citations), and attach cited spans by ticking
passages of a document (the paragraphs of the document chosen, each linked to the source
view `/doc/{id}` at its place) or by pasting a sentence copied from the source view. Every
span is checked against the live index before it is saved (bot/curated.py).

Mounted inside the admin router: the same sign-in, the same refusal of another site's
form posts (`denied`), and a 404 for everything when the admin page is off.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from bot.curated import (
    ACTIVE,
    REMOVED,
    STATE_TEXT,
    SUSPENDED,
    CitedSpan,
    CuratedAnswer,
    CuratedError,
    answer_from_json,
    find_excerpt,
    make_span,
    new_id,
    today,
)
from bot.curated_reply import from_bot_answer
from bot.curated_store import CuratedStore, curated_path
from bot.records import REFUSED
from ui.asking import Asker, QuestionError, ServerBusy
from ui.config import Config
from ui.render import document_url
from ui.templating import render_page

# site.css inline (templates/base.html); no script at all, forms post only here.
CURATED_CSP = ("default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'; "
               "frame-ancestors 'none'")
MAX_FIELDS = 400  # the ticked passages of a long law, and the form's own fields


def curated_router(asker: Asker, config: Config, denied: Callable[[Request], Response | None]) -> APIRouter:
    router = APIRouter()
    store = CuratedStore(curated_path(config.index_dir))

    def page(name: str, status: int = 200, **context: object) -> HTMLResponse:
        return HTMLResponse(render_page(name, **context), status_code=status,
                            headers={"Content-Security-Policy": CURATED_CSP, "Cache-Control": "no-store"})

    def list_page(note: str = "", status: int = 200) -> HTMLResponse:
        documents = asker.bot.documents
        try:
            store.sync(documents)  # a document changed since the last look: 需复核 now
            answers = store.load()
        except CuratedError as exc:
            return page("curated.html", status=500, note=str(exc), groups=[], titles={}, state_text=STATE_TEXT,
                        source_url=lambda span: "")
        groups = [(SUSPENDED, "需复核", [a for a in answers if a.state == SUSPENDED]),
                  (ACTIVE, "生效中", [a for a in answers if a.state == ACTIVE]),
                  (REMOVED, "已移除", [a for a in answers if a.state == REMOVED])]
        titles = {d: doc.title for d, doc in documents.items()}
        return page("curated.html", status=status, note=note, groups=groups, titles=titles, state_text=STATE_TEXT,
                    source_url=lambda span: "/" + document_url(span.doc_id, span.start, span.end))

    @router.get("/curated", response_class=HTMLResponse)
    def listing(request: Request, saved: str = "") -> Response:
        return denied(request) or list_page(note=f"已保存审核回答 {saved}。" if saved else "")

    @router.post("/curated/{answer_id}/{action}", response_class=HTMLResponse)
    async def change(request: Request, answer_id: str, action: str) -> Response:
        if refusal := denied(request):
            return refusal
        if action not in ("confirm", "remove"):
            return list_page(note="未知的操作。", status=404)
        state = ACTIVE if action == "confirm" else REMOVED
        try:
            answer = await run_in_threadpool(store.set_state, answer_id, asker.bot.documents, state)
        except CuratedError as exc:
            return list_page(note=f"未能{'确认' if action == 'confirm' else '移除'}：{exc}", status=409)
        done = "已确认并恢复" if action == "confirm" else "已移除"
        return list_page(note=f"{done}审核回答「{answer.question}」。")

    @router.get("/curated/new", response_class=HTMLResponse)
    def new(request: Request, question: str = "") -> Response:
        return denied(request) or form_page(Draft(question=question[:500]))

    @router.post("/curated/new", response_class=HTMLResponse)
    async def submit(request: Request) -> Response:
        if refusal := denied(request):
            return refusal
        form = await request.form(max_files=0, max_fields=MAX_FIELDS)
        draft = Draft.from_form(form)
        action = str(form.get("action", ""))
        documents = asker.bot.documents
        try:
            draft.spans = _spans(documents, form.getlist("cite"))
            if action == "ask_bot":
                return await run_in_threadpool(take_bots_answer, draft)
            if action == "add_excerpt":
                span = find_excerpt(documents, draft.doc, str(form.get("excerpt", "")))
                draft.spans = _unique([*draft.spans, span])
                return form_page(draft, note="已加入引用。")
            if action == "show_doc":
                return form_page(draft)
            if action != "save":
                return form_page(draft, note="未知的操作。", status=400)
            if not draft.spans:
                return form_page(draft, note="请至少引用一处原文：选择文档并勾选段落，或粘贴原文句子。", status=422)
            answer = answer_from_json(CuratedAnswer(
                new_id(), draft.question, draft.answer, tuple(draft.spans), tuple(draft.phrasings.splitlines()),
                draft.approved_by, today()).to_json())
            saved = await run_in_threadpool(store.add, answer, documents)
        except CuratedError as exc:
            return form_page(draft, note=str(exc), status=422)
        return RedirectResponse(f"/admin/curated?saved={quote(saved.id)}", status_code=303)

    def take_bots_answer(draft: Draft) -> HTMLResponse:
        if not draft.question.strip():
            return form_page(draft, note="请先填写问题。", status=422)
        try:
            reply = asker.ask(draft.question)
        except (QuestionError, ServerBusy) as exc:
            return form_page(draft, note=str(exc), status=422)
        if reply.status == REFUSED or not reply.citations:
            return form_page(draft, note="机器人没有找到可以引用的原文，请自行撰写回答并选择引用。")
        text, spans = from_bot_answer(reply, asker.bot.documents)
        draft.answer, draft.spans = text, spans
        return form_page(draft, note="已填入机器人的回答及其引用，请核对后保存。")

    def form_page(draft: Draft, note: str = "", status: int = 200) -> HTMLResponse:
        documents = asker.bot.documents
        chosen = documents.get(draft.doc)
        taken = {(s.doc_id, s.start, s.end) for s in draft.spans}
        passages = []
        if chosen is not None:
            for p in chosen.paragraphs:
                text = chosen.text[p.start:p.end]
                if text.strip() and (chosen.doc_id, p.start, p.end) not in taken:
                    passages.append({"value": _value(chosen.doc_id, p.start, p.end), "text": text,
                                     "heading": p.is_heading,
                                     "url": "/" + document_url(chosen.doc_id, p.start, p.end)})
        cited = [{"value": _value(s.doc_id, s.start, s.end), "text": s.text,
                  "title": documents[s.doc_id].title if s.doc_id in documents else s.doc_id,
                  "url": "/" + document_url(s.doc_id, s.start, s.end)} for s in draft.spans]
        options = sorted(((d, doc.title) for d, doc in documents.items()), key=lambda o: o[1])
        return page("curated_new.html", status=status, note=note, draft=draft, cited=cited, passages=passages,
                    documents=options, chosen=chosen)

    return router


class Draft:
    """What the form holds between its steps."""

    def __init__(self, question: str = "", phrasings: str = "", answer: str = "", approved_by: str = "",
                 doc: str = ""):
        self.question, self.phrasings, self.answer = question, phrasings, answer
        self.approved_by, self.doc = approved_by, doc
        self.spans: list[CitedSpan] = []

    @classmethod
    def from_form(cls, form) -> Draft:
        def text(name: str) -> str:
            value = form.get(name, "")
            return value.strip() if isinstance(value, str) else ""

        return cls(text("question"), text("phrasings"), text("answer"), text("approved_by"), text("doc"))


def _value(doc_id: str, start: int, end: int) -> str:
    return f"{start},{end},{doc_id}"


def _spans(documents, values: list) -> list[CitedSpan]:
    """The ticked passages ("start,end,doc_id"), each checked against the live index."""
    spans = []
    for value in values:
        start, _, rest = str(value).partition(",")
        end, _, doc_id = rest.partition(",")
        if not (start.isdigit() and end.isdigit() and doc_id):
            raise CuratedError(f"无法识别的引用：{str(value)[:80]!r}")
        spans.append(make_span(documents, doc_id, int(start), int(end)))
    return _unique(spans)


def _unique(spans: list[CitedSpan]) -> list[CitedSpan]:
    seen, out = set(), []
    for span in spans:
        if (span.doc_id, span.start, span.end) not in seen:
            seen.add((span.doc_id, span.start, span.end))
            out.append(span)
    return out
