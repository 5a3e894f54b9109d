"""`unionqa calibrate --from-log`: members' 👍/👎 in the question log (ui/questionlog.py)
as calibration data for the answer decision, on the tune side only.

A rated question says something about what the bot should have done with it:

- 👍 on an answer: the documents answer it, and the answer given was right;
- 👍 on related passages: the documents hold the answer (the reader found it), but the
  composed answer is not known to be right, so related passages stay the cheaper outcome;
- 👍 on a refusal: the documents do not cover it (an out-of-scope question);
- 👎 on an answer: answering was wrong (a wrong answer, or a question to refuse): it counts
  as answerable with a wrong answer, whose costs (bot/eval/calibrate.outcome_costs) make the
  bot less sure of such questions;
- 👎 on related passages or on a refusal says too little (was the answer missing from the
  documents, or not found?) and is left out; so are approved answers (curated), which
  the decision does not make.

A question rated several times counts once, by its majority (a tie is left out). These
questions only ever join the fit: the held-out parts of the dev sets, which no log
question enters, measure the fit without them and with them, and the calibration is
written only when asked to (`--write`), after that report.
"""

from __future__ import annotations

import sqlite3
import unicodedata
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from bot.answerability import Calibration
from bot.bot import Bot
from bot.eval.calibrate import Example, examples, fit, fit_sentences, with_near_margin
from bot.eval.qa_data import load_qa
from bot.eval.qa_eval import ask_all, summarize
from bot.eval.tune_questions import Asked, bootstrap_calibration
from index.embedding.embedder import Embedder
from index.lexicon import Lexicon
from index.store.folder import IndexStore
from ui.questionlog import connect

LOG_SOURCE = "log"  # weighs as the worker questions do (bot/eval/calibrate._weights)
# The held-out figures shown side by side: what a member gets.
FIGURES = [
    ("answered_right", "可回答问题答对"),
    ("answerable_refused", "可回答问题被拒答"),
    ("oos_refused_or_related", "范围外问题拒答或只给相关内容"),
    ("oos_answered", "范围外问题被回答"),
]


@dataclass(frozen=True)
class RatedQuestion:
    question: str
    answerable: bool
    right: bool
    votes: int


def label(outcome: str, rating: str) -> tuple[bool, bool] | None:
    """(answerable, right) that one vote on one outcome says, or None when it says too little."""
    return {
        ("answered", "up"): (True, True),
        ("related", "up"): (True, False),
        ("refused", "up"): (False, False),
        ("answered", "down"): (True, False),
    }.get((outcome, rating))


def rated_questions(db: Path) -> list[RatedQuestion]:
    """The log's rated questions, one per text, labelled by the majority of its votes."""
    if not db.exists():
        return []
    conn = connect(db)
    try:
        votes = conn.execute("SELECT question, outcome, rating FROM questions WHERE rating IS NOT NULL").fetchall()
    except sqlite3.Error:
        votes = []
    finally:
        conn.close()
    by_text: dict[str, Counter] = {}
    for question, outcome, rating in votes:
        said = label(outcome, rating)
        if said is not None:
            by_text.setdefault(question, Counter())[said] += 1
    rated = []
    for question, counts in sorted(by_text.items()):
        (best, n), *rest = counts.most_common()
        if rest and rest[0][1] == n:
            continue  # as many votes one way as another
        rated.append(RatedQuestion(question, best[0], best[1], sum(counts.values())))
    return rated


def holdout_questions(qa_paths: list[Path]) -> set[str]:
    """The held-out questions of the dev sets: a logged question that is one of them is not
    fitted on, or the held-out figures would no longer be a fair test."""
    held = set()
    for path in qa_paths:
        qa = load_qa(path)
        held |= {i.question for i in qa.answerable if i.holdout} | {r.question for r in qa.refuse if r.holdout}
        held |= {t.question for d in qa.dialogues if d.holdout for t in d.turns}
    return held


def log_examples(store: IndexStore, embedder: Embedder, rated: list[RatedQuestion], ranking: Calibration,
                 top_k: int, lexicon: Lexicon | None) -> list[Example]:
    """The rated questions' evidence features, as fitting examples (no sentence labels:
    a vote says whether the answer was right, not which sentence held it)."""
    bot = Bot(store, embedder, top_k=top_k, calibration=ranking, lexicon=lexicon)
    found = []
    for item in rated:
        _, hits, evidence = bot.retrieve(item.question)
        _, _, features = bot.assess(hits, evidence, ranking)
        found.append(Example(LOG_SOURCE, features, item.answerable, [], item.right))
    return found


def fit_both(asked: list[Asked], extra: list[Example], ranking: Calibration,
             notes: dict) -> tuple[Calibration, Calibration]:
    """The calibration fitted on the dev sets' tune parts alone, and with the log's examples
    too (the same sentence model and same-matter margin: only the answer decision differs)."""
    model_name, sentences = ranking.embedding_model, ranking.sentences
    dev = examples(asked, ranking)
    without = with_near_margin(fit(dev, model_name, sentences, notes), asked)
    with_log = with_near_margin(fit(dev + extra, model_name, sentences, {**notes, "from_log": len(extra)}), asked)
    return without, with_log


def ranking_calibration(asked: list[Asked]) -> Calibration:
    """The calibration whose sentence model ranks candidates when the log's features are read."""
    model_name = asked[0].bot.store.manifest.settings.embedding_model
    start = bootstrap_calibration(model_name)
    return Calibration(model_name, start.answerability, 0.0, 0.0, fit_sentences(examples(asked, start)))


def holdout_figures(store: IndexStore, embedder: Embedder, calibration: Calibration, qa_paths: list[Path],
                    top_k: int, lexicon: Lexicon | None) -> dict[str, dict]:
    """Per dev set, the figures of its held-out part under `calibration`."""
    bot = Bot(store, embedder, top_k=top_k, calibration=calibration, lexicon=lexicon)
    figures = {}
    for path in qa_paths:
        rows = [r for r in ask_all(bot, load_qa(path), progress=False) if r["holdout"]]
        figures[Path(path).stem] = summarize(rows)
    return figures


def effect_table(before: dict[str, dict], after: dict[str, dict]) -> str:
    """The held-out figures without and with the log, one line per set and figure."""
    rows = [("评测集（留出部分）", "指标", "不用记录", "加入记录")]
    for name in before:
        for key, text in FIGURES:
            old, new = before[name].get(key), after[name].get(key)
            if old is not None or new is not None:
                rows.append((name, text, _percent(old), _percent(new)))
    widths = [max(_width(row[i]) for row in rows) for i in range(4)]
    return "\n".join("  ".join(cell + " " * (w - _width(cell)) for cell, w in zip(row, widths, strict=True)).rstrip()
                     for row in rows)


def _width(text: str) -> int:
    """Columns a terminal gives the text: Chinese characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _percent(value) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"
