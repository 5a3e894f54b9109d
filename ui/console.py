"""The union staff's console at /admin/console (signed in as for /admin): what members
ask, how the bot answered, and what it could not answer.

- Overview: questions per day over the last WINDOW_DAYS, by outcome (server-side SVG,
  ui/daychart.py), from SQL aggregates on the indexed time column.
- Question groups and the unanswered ones (refused or related), grouped by meaning
  (ui/questiongroups.py) with the bot's own model; each unanswered group lists the
  documents that came closest, the place to look for what the union is missing.
- CSV of the groups and of the raw log (ui/csvexport.py).

Grouping takes seconds to minutes on a large log, so the page never waits for it: the
groups are computed in a background thread, at most every REGROUP_SECONDS (or when staff
ask for it), and the page shows the last ones computed. Only a small log (SYNC_ROWS
questions or fewer) is grouped while the page waits, so a fresh console shows groups.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from urllib.parse import quote

import numpy as np
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse

from ui.asking import Asker
from ui.csvexport import csv_lines
from ui.daychart import OUTCOME_LABELS, days_chart
from ui.questiongroups import MAX_DISTINCT, QuestionGroup, fitted_distance, group_questions
from ui.questionlog import OUTCOMES, QuestionLog
from ui.templating import render_page

log = logging.getLogger(__name__)

WINDOW_DAYS = 30  # the overview and the groups cover this many days
REGROUP_SECONDS = 600  # groups are recomputed at most this often, unless staff ask
SYNC_ROWS = 1000  # a log this small (questions in the window) is grouped while the page waits
SHOWN_GROUPS = 50  # groups listed on the page (the CSV has them all)
SUGGESTED_GROUPS = 20  # unanswered groups for which the closest documents are looked up
CURATED_NEW = "/admin/curated/new?question="  # the approved-answer form (issue 19 part 3)
# site.css inline (templates/base.html), the chart inline SVG; no script at all, forms post only here.
CONSOLE_CSP = ("default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
               "base-uri 'none'; frame-ancestors 'none'")
MISSING = ("refused", "related")


@dataclass
class Grouping:
    """One computation of the groups, shown until the next."""

    computed_at: float
    last_id: int  # the log's last row when computed: unchanged log, nothing to recompute
    seconds: float
    questions: int  # asked in the window
    covered: int  # of which in the groups (the most asked texts: ui/questiongroups.MAX_DISTINCT)
    groups: list[QuestionGroup] = field(default_factory=list)
    missing: list[QuestionGroup] = field(default_factory=list)


class Grouper:
    """Computes the groups in the background and keeps the last result."""

    def __init__(self, question_log: QuestionLog, asker: Asker, distance: float | None,
                 window_days: int = WINDOW_DAYS):
        self.log = question_log
        self.asker = asker
        self.chosen_distance = distance  # None: the distance fitted for the bot's model
        self.distance = distance if distance is not None else fitted_distance(asker.bot.embedder.name)
        self.window_days = window_days
        self.latest: Grouping | None = None
        self.error = ""
        self._cache: dict[str, np.ndarray] = {}  # text -> unit vector, across computations
        self._cache_model = ""
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def since(self) -> float:
        return time.time() - self.window_days * 86400

    def encoder(self) -> Callable[[list[str]], np.ndarray]:
        embedder = self.asker.indexing_embedder()  # the bot's model, taking turns with the questions
        if embedder.name != self._cache_model:  # another model: the cached vectors mean nothing
            self._cache, self._cache_model = {}, embedder.name
            if self.chosen_distance is None:
                self.distance = fitted_distance(embedder.name)
        return embedder.encode_queries

    def compute(self) -> Grouping:
        """Group now, in this thread."""
        with self._lock:
            started = time.perf_counter()
            last_id = self.log.last_id()
            since = self.since()
            encode = self.encoder()
            everything = self.log.distinct_questions(since, limit=MAX_DISTINCT)
            groups = group_questions(everything, encode, self.distance, self._cache)
            missing = group_questions(self.log.distinct_questions(since, MISSING, limit=MAX_DISTINCT), encode,
                                      self.distance, self._cache)
            for group in missing[:SUGGESTED_GROUPS]:
                try:
                    group.closest = self.asker.closest_documents(group.example)
                except Exception:
                    log.exception("could not look up the documents closest to a group")
            result = Grouping(time.time(), last_id, time.perf_counter() - started, self.log.count(since),
                              sum(g.count for g in groups), groups, missing)
            self.latest, self.error = result, ""
            return result

    def _background(self) -> None:
        try:
            self.compute()
        except Exception as exc:
            log.exception("grouping the logged questions failed")
            self.error = f"{type(exc).__name__}"

    def start(self) -> bool:
        """Group in a background thread, unless one is at it; whether one was started."""
        if self.running:
            return False
        self._thread = threading.Thread(target=self._background, name="console-grouping", daemon=True)
        self._thread.start()
        return True

    def stale(self) -> bool:
        latest = self.latest
        return latest is None or (time.time() - latest.computed_at >= REGROUP_SECONDS
                                  and self.log.last_id() != latest.last_id)

    def current(self) -> Grouping | None:
        """The groups to show: the last computed (a new computation started if they are
        old), or, for a small log never grouped yet, computed now."""
        if self.latest is None and not self.running:
            if self.log.count(self.since()) <= SYNC_ROWS:  # counted on the time index, not grouped
                return self.compute()
        if self.stale():
            self.start()
        return self.latest


def curated_link(question: str) -> str:
    return CURATED_NEW + quote(question, safe="")


def _group_rows(groups: list[QuestionGroup], documents: dict) -> list[dict]:
    rows = []
    for i, g in enumerate(groups, 1):
        top_docs = sorted(g.docs.items(), key=lambda kv: -kv[1])[:3]
        rows.append({
            "n": i, "example": g.example, "count": g.count, "variants": len(g.questions),
            "others": [q for q, _ in g.questions[1:4]],
            "outcomes": [(OUTCOME_LABELS[o], g.outcomes.get(o, 0), o) for o in OUTCOMES if g.outcomes.get(o)],
            "main": OUTCOME_LABELS.get(g.main_outcome, ""), "main_key": g.main_outcome,
            "up": g.up, "down": g.down, "comments": g.comments,
            "docs": [getattr(documents.get(d), "title", d) for d, _ in top_docs],
            "closest": [title for _, title in g.closest],
            "curate": curated_link(g.example),
        })
    return rows


def overview(question_log: QuestionLog, days: int = WINDOW_DAYS) -> dict:
    """The chart and the shares of the last `days` days (today included)."""
    today = date.today()
    first = today - timedelta(days=days - 1)
    since = datetime.combine(first, datetime.min.time()).timestamp()
    daily = question_log.daily(since)
    totals = {o: sum(counts.get(o, 0) for _, counts in daily) for o in OUTCOMES}
    total = sum(totals.values())
    shares = [{"key": o, "label": OUTCOME_LABELS[o], "n": totals[o],
               "percent": f"{100 * totals[o] / total:.0f}%" if total else "—"} for o in OUTCOMES]
    return {"chart": days_chart(daily, first, today), "total": total, "shares": shares, "days": days}


def add_console_routes(router: APIRouter, denied: Callable[[Request], Response | None], asker: Asker,
                       question_log: QuestionLog | None, distance: float | None) -> None:
    """The console's routes on the admin router (`denied`: its sign-in check)."""
    grouper = Grouper(question_log, asker, distance) if question_log is not None else None

    def page(html: str, status: int = 200) -> HTMLResponse:
        return HTMLResponse(html, status_code=status,
                            headers={"Content-Security-Policy": CONSOLE_CSP, "Cache-Control": "no-store"})

    @router.get("/console", response_class=HTMLResponse)
    def console(request: Request) -> Response:
        if refusal := denied(request):
            return refusal
        if grouper is None:
            return page(render_page("console.html", enabled=False))
        grouping = grouper.current()
        documents = asker.bot.documents
        return page(render_page(
            "console.html", enabled=True, overview=overview(question_log),
            grouping=grouping, running=grouper.running, error=grouper.error,
            computed=datetime.fromtimestamp(grouping.computed_at).strftime("%Y-%m-%d %H:%M") if grouping else "",
            groups=_group_rows(grouping.groups[:SHOWN_GROUPS], documents) if grouping else [],
            missing=_group_rows(grouping.missing[:SHOWN_GROUPS], documents) if grouping else [],
            total_groups=len(grouping.groups) if grouping else 0,
            total_missing=len(grouping.missing) if grouping else 0,
            days=WINDOW_DAYS, log_days=question_log.days, max_distinct=MAX_DISTINCT,
        ))

    @router.post("/console/regroup")
    def regroup(request: Request) -> Response:
        if refusal := denied(request):
            return refusal
        if grouper is not None:
            grouper.start()
        return RedirectResponse("/admin/console", status_code=303)

    @router.get("/console/groups.csv")
    def groups_csv(request: Request) -> Response:
        if refusal := denied(request):
            return refusal
        if grouper is None:
            raise HTTPException(status_code=404, detail="未开启提问记录")
        grouping = grouper.current()
        if grouping is None:  # a large log never grouped yet: not computed while the download waits
            return Response("正在按含义给问题分组，请一两分钟后再导出。", status_code=503, media_type="text/plain; charset=utf-8",
                            headers={"Retry-After": "30", "Cache-Control": "no-store"})
        documents = asker.bot.documents
        header = ["组", "类别", "提问次数", "示例问题", "组内问题", *[OUTCOME_LABELS[o] for o in OUTCOMES],
                  "赞", "踩", "引用最多的文档", "最接近的文档"]

        def rows():
            for kind, groups in (("全部提问", grouping.groups), ("未回答", grouping.missing)):
                for i, g in enumerate(groups, 1):
                    docs = sorted(g.docs.items(), key=lambda kv: -kv[1])[:3]
                    yield [i, kind, g.count, g.example, " | ".join(f"{q}（{n}）" for q, n in g.questions),
                           *[g.outcomes.get(o, 0) for o in OUTCOMES], g.up, g.down,
                           " | ".join(getattr(documents.get(d), "title", d) for d, _ in docs),
                           " | ".join(t for _, t in g.closest)]

        return _csv_response(csv_lines(header, rows()), "question-groups.csv")

    @router.get("/console/log.csv")
    def log_csv(request: Request) -> Response:
        if refusal := denied(request):
            return refusal
        if question_log is None:
            raise HTTPException(status_code=404, detail="未开启提问记录")
        header = ["编号", "时间", "问题", "结果", "引用文档", "用时（毫秒）", "提问者（加盐哈希）", "反馈", "评论"]
        rating = {"up": "赞", "down": "踩"}

        def rows():
            for r in question_log.rows():
                yield [r.id, datetime.fromtimestamp(r.asked_at).isoformat(timespec="seconds"), r.question,
                       OUTCOME_LABELS.get(r.outcome, r.outcome), " | ".join(r.docs), r.latency_ms, r.client,
                       rating.get(r.rating or "", ""), r.comment or ""]

        return _csv_response(csv_lines(header, rows()), "question-log.csv")


def _csv_response(lines, name: str) -> StreamingResponse:
    return StreamingResponse(lines, media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"})
