"""Measuring the bot on worker-question dev sets: questions a union member would
ask, each with the verbatim strings a right answer must quote.

A dev file is JSON with four parts:

- `answerable`: `{q, a, kind, style, doc?, article?, also?}`. `a` holds one to
  three gold strings, all of which a right answer must contain; `also` lists
  other provisions (`{doc, article, a}`) whose own strings answer equally well.
- `refuse`: questions the documents cannot answer.
- `dialogues`: `{turns: [turn1, turn2]}`, where the second turn only makes sense
  after the first (each turn is an answerable item without kind and style).
- `about`: what the file is.

`load_qa` reads such a file, `evaluate_qa` asks every question through the
public Bot API (`ask` and `retrieve`) and returns the figures per group (all,
tune, holdout, per kind, per style), and `format_qa_report` prints them as
Markdown tables. This module only needs the answer records, so that other
commands can import `load_qa` and `is_holdout` (bot/eval/qa_data.py, the file format) without
loading the model.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from tqdm import tqdm

from bot.eval.qa_data import QAItem, QASet, plain
from bot.records import ANSWERED, MARKER, REFUSED, RELATED, Answer

RANK_DEPTH = 10  # hit@10 looks this deep



class QABot(Protocol):
    """What the evaluation uses of `bot.bot.Bot`; tests pass a small fake."""

    def ask(self, question: str, history: list[tuple[str, str]] | None = None) -> Answer: ...

    def retrieve(
        self, question: str, history: list[tuple[str, str]] | None = None, top_k: int | None = None
    ) -> tuple[str, list[Any], Any]: ...


def gold_set_matches(golds: Sequence[str], answer_text: str, cited_texts: Sequence[str]) -> bool:
    """Every string of the set is in the answer and in one of its cited passages:
    an answer that happens to say it without the passage behind it is not right."""
    answer = plain(answer_text)
    cited = [plain(t) for t in cited_texts]
    return all(plain(g) in answer and any(plain(g) in c for c in cited) for g in golds)


def answer_matches(item: QAItem, answer: Answer) -> bool:
    """The answer's own text and citations hold a gold set; the provisions shown after
    it (「另见」, 「其他相关规定」: citations with a role) do not count, the lead alone does."""
    cited = [c.text for c in answer.citations if not c.role]
    return any(gold_set_matches(golds, answer.text, cited) for golds in item.golds)


def answered_right(item: QAItem, answer: Answer) -> bool:
    """A claim was made (not just related passages shown) and it holds a gold set."""
    return answer.status == ANSWERED and answer_matches(item, answer)


def right_among_shown(item: QAItem, answer: Answer) -> bool:
    """Answered, and the lead or one of the provisions shown after it holds a gold set:
    a reader who opens 「其他相关规定」 finds the answer."""
    if answer.status != ANSWERED:
        return False
    if answer_matches(item, answer):
        return True
    shown = [plain(c.text) for c in answer.citations if c.role]
    return any(all(plain(g) in text for g in golds) for golds in item.golds for text in shown)


def gold_rank(item: QAItem, passages: Sequence[str]) -> int | None:
    """The smallest k such that each string of some gold set is in one of the
    first k passages (the strings may sit in different passages), or None."""
    texts = [plain(p) for p in passages]
    best = None
    for golds in item.golds:
        firsts = [next((k for k, t in enumerate(texts, start=1) if plain(g) in t), None) for g in golds]
        if None not in firsts:
            rank = max(firsts)
            best = rank if best is None else min(best, rank)
    return best


# ---------------------------------------------------------------- asking


def _ask(bot: QABot, question: str, history: list[tuple[str, str]] | None) -> tuple[Answer, float]:
    """The chat's answer and how long it took, in milliseconds: only `ask` is
    timed, the ranking done for hit@k is extra work the chat does not do."""
    started = time.perf_counter()
    answer = bot.ask(question, history)
    return answer, (time.perf_counter() - started) * 1000


def _ranked_passages(bot: QABot, question: str, history: list[tuple[str, str]] | None) -> list[str]:
    _, hits, _ = bot.retrieve(question, history, top_k=RANK_DEPTH)
    return [hit.chunk.text for hit in hits[:RANK_DEPTH]]


def _row(part: str, question: str, answer: Answer, ms: float, holdout: bool, item: QAItem | None = None,
         rank: int | None = None) -> dict:
    """One asked question, with what the figures and the failure lists need."""
    return {
        "part": part,  # "answerable", "refuse", "turn1" or "turn2"
        "q": question,
        "kind": item.kind if item else "",
        "style": item.style if item else "",
        "holdout": holdout,
        "status": answer.status,
        "right": answered_right(item, answer) if item else None,
        "right_shown": right_among_shown(item, answer) if item else None,
        "rank": rank,
        "chars": len(MARKER.sub("", answer.text)),
        "ms": ms,
        "answer": answer.text,
        "query": answer.query,
        "expected": [list(g) for g in item.golds] if item else [],
        "cited": [(c.label or f"《{c.title}》{c.article}".strip()) + (f" ({c.role})" if c.role else "")
                  for c in answer.citations],
        # with an LLM (unionqa eval --llm): how the answer was made
        "generated": answer.generated,
        "fallback": answer.fallback,
        "sentences_checked": answer.sentences_checked,
        "sentences_dropped": answer.sentences_dropped,
    }


def ask_all(bot: QABot, qa_set: QASet, progress: bool = True) -> list[dict]:
    """Ask every question of the set once; one row per `ask`."""
    rows = []
    total = len(qa_set.answerable) + len(qa_set.refuse) + 2 * len(qa_set.dialogues)
    bar = tqdm(total=total, desc=qa_set.path.stem, unit="问", disable=not progress)
    for item in qa_set.answerable:
        # asked before the ranking search, so that no cache it fills makes `ask` look faster
        answer, ms = _ask(bot, item.question, None)
        rank = gold_rank(item, _ranked_passages(bot, item.question, None))
        rows.append(_row("answerable", item.question, answer, ms, item.holdout, item, rank))
        bar.update()
    for refuse in qa_set.refuse:
        answer, ms = _ask(bot, refuse.question, None)
        rows.append(_row("refuse", refuse.question, answer, ms, refuse.holdout))
        bar.update()
    for dialogue in qa_set.dialogues:
        history: list[tuple[str, str]] = []
        for part, turn in zip(("turn1", "turn2"), dialogue.turns, strict=True):
            asked_with = list(history) or None  # a copy: the list grows after this turn
            answer, ms = _ask(bot, turn.question, asked_with)
            rank = gold_rank(turn, _ranked_passages(bot, turn.question, asked_with))
            rows.append(_row(part, turn.question, answer, ms, dialogue.holdout, turn, rank))
            # the chat sends the answer text as shown, markers included
            history.append((turn.question, answer.text))
            bar.update()
    bar.close()
    return rows


# ---------------------------------------------------------------- figures


def _percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile, the rule bot.evaluate uses, so latencies compare
    with the CMRC tables."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _rate(figures: dict, key: str, count: int, total: int) -> None:
    """A rate and its count, e.g. 0.318 and "28/88"; no rate when nothing was asked."""
    figures[key] = round(count / total, 3) if total else None
    figures[f"{key}_n"] = f"{count}/{total}"


def summarize(rows: list[dict]) -> dict:
    """The figures of one group of rows. Every group has every key, so that the
    tables line up; a figure about a part the group does not hold is None."""
    answerable = [r for r in rows if r["part"] == "answerable"]
    refuse = [r for r in rows if r["part"] == "refuse"]
    first_turns = [r for r in rows if r["part"] == "turn1"]
    followups = [r for r in rows if r["part"] == "turn2"]
    n = len(answerable)

    def ranked_within(k: int) -> int:
        return sum(1 for r in answerable if r["rank"] is not None and r["rank"] <= k)

    def with_status(group: list[dict], *statuses: str) -> int:
        return sum(1 for r in group if r["status"] in statuses)

    figures: dict = {"questions": n}
    _rate(figures, "answered_right", sum(r["right"] for r in answerable), n)
    _rate(figures, "right_shown", sum(bool(r.get("right_shown")) for r in answerable), n)
    for k in (1, 5, 10):
        _rate(figures, f"hit@{k}", ranked_within(k), n)
    _rate(figures, "answerable_refused", with_status(answerable, REFUSED), n)
    _rate(figures, "answerable_related", with_status(answerable, RELATED), n)
    figures["oos_questions"] = len(refuse)
    _rate(figures, "oos_refused", with_status(refuse, REFUSED), len(refuse))
    _rate(figures, "oos_related", with_status(refuse, RELATED), len(refuse))
    _rate(figures, "oos_answered", with_status(refuse, ANSWERED), len(refuse))
    _rate(figures, "oos_refused_or_related", with_status(refuse, REFUSED, RELATED), len(refuse))
    figures["followup_turns"] = len(followups)
    _rate(figures, "followup_first_right", sum(r["right"] for r in first_turns), len(first_turns))
    _rate(figures, "followup_right", sum(r["right"] for r in followups), len(followups))
    answered = [r["chars"] for r in rows if r["status"] == ANSWERED]
    figures["mean_answer_chars"] = round(statistics.mean(answered), 1) if answered else None
    latencies = [r["ms"] for r in rows]
    figures["asks"] = len(rows)
    figures["latency_ms_p50"] = round(_percentile(latencies, 0.5), 1)
    figures["latency_ms_p95"] = round(_percentile(latencies, 0.95), 1)
    return figures


def llm_figures(rows: list[dict]) -> dict | None:
    """With an LLM: of the questions it was asked (those the decision answered), the
    share shown as a generated answer, the fallbacks by reason, the share of generated
    sentences that passed the citation check, and the latency of those questions.
    None when no question went to an LLM."""
    asked = [r for r in rows if r.get("generated") or r.get("fallback")]
    if not asked:
        return None
    figures: dict = {"llm_questions": len(asked)}
    _rate(figures, "generated", sum(bool(r["generated"]) for r in asked), len(asked))
    _rate(figures, "fallback", sum(bool(r["fallback"]) for r in asked), len(asked))
    reasons = sorted({r["fallback"] for r in asked if r["fallback"]})
    figures["fallback_reasons"] = {reason: sum(r["fallback"] == reason for r in asked) for reason in reasons}
    checked = sum(r["sentences_checked"] for r in asked)
    _rate(figures, "sentences_passed", checked - sum(r["sentences_dropped"] for r in asked), checked)
    latencies = [r["ms"] for r in asked]
    figures["llm_latency_ms_p50"] = round(_percentile(latencies, 0.5), 1)
    figures["llm_latency_ms_p95"] = round(_percentile(latencies, 0.95), 1)
    return figures


def _by(rows: list[dict], key: str) -> dict[str, dict]:
    answerable = [r for r in rows if r["part"] == "answerable"]
    values = sorted({r[key] for r in answerable})
    return {value or "（未标注）": summarize([r for r in answerable if r[key] == value]) for value in values}


def _failure(row: dict) -> dict:
    return {key: row[key] for key in ("q", "status", "answer", "expected", "rank", "cited", "kind", "style",
                                      "holdout")}


def evaluate_qa(bot: QABot, qa_set: QASet, progress: bool = True) -> dict:
    """Ask the whole set and return its figures, per group, with the misses.

    `groups` holds all / tune / holdout; `by_kind` and `by_style` the answerable
    questions only. `failures` lists the answerable questions not answered right,
    `followup_failures` the second turns not answered right (with the first turn),
    `oos_answered` the questions to refuse that got an answer.
    """
    first = next(iter([*qa_set.answerable, *qa_set.refuse]), None)
    if first is not None:
        bot.ask(first.question)  # the model's first call is slow: warm it before timing
    rows = ask_all(bot, qa_set, progress=progress)
    dialogues = []
    followup_failures = []
    first_turns = [r for r in rows if r["part"] == "turn1"]
    second_turns = [r for r in rows if r["part"] == "turn2"]
    for first_turn, second_turn in zip(first_turns, second_turns, strict=True):
        dialogues.append({
            "turns": [first_turn["q"], second_turn["q"]],
            "holdout": first_turn["holdout"],
            "first_right": first_turn["right"],
            "followup_right": second_turn["right"],
            "followup_query": second_turn["query"],
        })
        if not second_turn["right"]:
            followup_failures.append({
                **_failure(second_turn),
                "query": second_turn["query"],
                "first": {"q": first_turn["q"], "status": first_turn["status"], "answer": first_turn["answer"]},
            })
    report = {
        "file": str(qa_set.path),
        "about": qa_set.about,
        "groups": {
            "all": summarize(rows),
            "tune": summarize([r for r in rows if not r["holdout"]]),
            "holdout": summarize([r for r in rows if r["holdout"]]),
        },
        "by_kind": _by(rows, "kind"),
        "by_style": _by(rows, "style"),
        "dialogues": dialogues,
        "failures": [_failure(r) for r in rows if r["part"] == "answerable" and not r["right"]],
        "followup_failures": followup_failures,
        "oos_answered": [
            {"q": r["q"], "answer": r["answer"], "cited": r["cited"], "holdout": r["holdout"]}
            for r in rows if r["part"] == "refuse" and r["status"] == ANSWERED
        ],
    }
    llm = llm_figures(rows)
    if llm is not None:
        report["llm"] = llm
    return report


# ---------------------------------------------------------------- printing

SUMMARY_COLUMNS = ["answered_right", "right_shown", "hit@1", "hit@5", "hit@10", "answerable_refused", "answerable_related",
                   "oos_refused", "oos_related", "oos_answered", "followup_first_right", "followup_right",
                   "mean_answer_chars", "latency_ms_p50", "latency_ms_p95"]
PART_COLUMNS = ["questions", "answered_right", "right_shown", "hit@1", "hit@5", "hit@10", "answerable_refused",
                "answerable_related", "mean_answer_chars"]


def _cell(figures: dict, column: str) -> str:
    value = figures.get(column)
    count = figures.get(f"{column}_n")
    if value is None:
        return "–"
    return f"{value} ({count})" if count else str(value)


def _table(first: str, groups: dict[str, dict], columns: list[str]) -> str:
    lines = [f"| {first} | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for name, figures in groups.items():
        lines.append(f"| {name} | " + " | ".join(_cell(figures, c) for c in columns) + " |")
    return "\n".join(lines)


def format_qa_report(report: dict, title: str | None = None) -> str:
    """The figures of `evaluate_qa` as Markdown: all / tune / holdout, then per
    kind and per style. Rates are followed by their counts."""
    groups = report["groups"]
    heading = title or Path(report["file"]).stem
    sizes = "，".join(f"{name} {g['questions']} 问 + {g['oos_questions']} 拒答 + {g['followup_turns']} 追问"
                     for name, g in groups.items())
    parts = [f"### {heading}", f"（{sizes}）", _table("part", groups, SUMMARY_COLUMNS)]
    if report.get("llm"):
        llm = report["llm"]
        reasons = "，".join(f"{k} {v}" for k, v in llm["fallback_reasons"].items()) or "无"
        parts.append(
            f"大模型：{llm['llm_questions']} 问交给大模型；生成回答 {_cell(llm, 'generated')}，"
            f"回退为原文摘录 {_cell(llm, 'fallback')}（{reasons}）；"
            f"生成的句子通过引用核对 {_cell(llm, 'sentences_passed')}；"
            f"用时 p50 / p95 {llm['llm_latency_ms_p50']} / {llm['llm_latency_ms_p95']} 毫秒")
    if report["by_kind"]:
        parts.append("按 kind：\n" + _table("kind", report["by_kind"], PART_COLUMNS))
    if report["by_style"]:
        parts.append("按 style：\n" + _table("style", report["by_style"], PART_COLUMNS))
    return "\n\n".join(parts)
