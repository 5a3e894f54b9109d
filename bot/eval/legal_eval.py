"""The legal_train evaluation: real consultation questions on laws no fitting or training saw.

The held-out fold of bot/eval/legal_data.py (27 laws by a hash of the name, 193 questions whose labelled
articles all lie in them) is written as law Markdown files into a temporary corpus, indexed in
memory the way `unionqa eval --qa` indexes the bundled corpus, and every question is asked through
`Bot`. Reported (`evaluate_legal`, one dictionary of named figures):

- `top5`: a labelled article among the passages retrieved (top_k, 5 by default);
- `cited`: a labelled article among the citations of an *answered* answer (a related or refused
  answer cites nothing it claims);
- `answered` / `related` / `refused`: the share of each outcome;
- `latency_ms_p50` / `latency_ms_p95`: per question, the model warm.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from bot.answerability import Calibration
from bot.bot import Bot
from bot.eval.evaluate import _percentile, build_store, load_average
from bot.eval.legal_data import LegalQuestion, is_heldout_law, load_legal, split, write_laws
from bot.records import ANSWERED, RELATED
from corpus.loader import load_corpus
from index.embedding.embedder import Embedder
from index.lexicon import Lexicon
from index.store.manifest import IndexSettings


def _article_key(title: str, article: str) -> tuple[str, str]:
    return (title, article)


def evaluate_legal(
    embedder: Embedder,
    settings: IndexSettings,
    folder: Path | str,
    top_k: int = 5,
    modes: tuple[str, ...] | list[str] = ("hybrid",),
    lexicon: Lexicon | None = None,
    limit: int | None = None,
    calibration: Calibration | None = None,
) -> dict:
    """Ask the held-out fold of the legal_train set at `folder` and measure it.

    Args:
        embedder: the model under test (its calibration file is the one the bot loads).
        settings: chunking and model settings of the in-memory index.
        folder: the legal_train folder (questions.json, articles.jsonl).
        top_k: passages retrieved per question.
        modes: retrieval modes (hybrid, bm25, dense), each asked on the same index.
        lexicon: the domain dictionary, as the chat uses it.
        limit: ask only the first `limit` held-out questions (a quick look).
        calibration: the answer decision to use instead of the model's own file.

    Returns:
        {"modes": {mode: the figures named in the module docstring, with counts}, and the fold's
        and the index's size}.
    """
    data = load_legal(folder)
    _, heldout = split(data)
    if limit is not None:
        heldout = heldout[:limit]
    laws = [law for law in data.laws if is_heldout_law(law)]
    with tempfile.TemporaryDirectory(prefix="unionqa-legal-") as tmp:
        write_laws(data, laws, Path(tmp))
        loaded = load_corpus(Path(tmp))
    if loaded.errors:
        raise ValueError(f"法律文件未能读取：{loaded.errors[0].path}：{loaded.errors[0].reason}")
    store, index = build_store(loaded.documents, settings, embedder)
    load_at_start = load_average()
    results = {mode: summarize_legal(_ask(Bot(store, embedder, top_k=top_k, mode=mode, lexicon=lexicon, calibration=calibration), heldout,
                                          top_k)) | {"mode": mode}
               for mode in modes}
    return {"modes": results, "laws": len(laws), "documents": index["documents"], "chunks": index["chunks"],
            "index_seconds": index["seconds"], "top_k": top_k,
            "load_average_at_start": load_at_start, "load_average_at_end": load_average()}


def _ask(bot: Bot, questions: list[LegalQuestion], top_k: int) -> list[dict]:
    rows = []
    for q in questions:
        labelled = {_article_key(law, art) for law, art in q.articles}
        started = time.perf_counter()
        query, hits, evidence = bot.retrieve(q.question, top_k=top_k)
        answer = bot.answer_from(q.question, query, hits, evidence)
        seconds = time.perf_counter() - started
        retrieved = [_article_key(h.chunk.title, h.chunk.article) for h in hits[:top_k]]
        rank = next((r for r, key in enumerate(retrieved, start=1) if key in labelled), None)
        cited = answer.status == ANSWERED and any(
            _article_key(c.title, c.article) in labelled for c in answer.citations
        )
        rows.append({"question": q.question, "rank": rank, "status": answer.status, "cited": cited,
                     "seconds": seconds})
    return rows


def summarize_legal(rows: list[dict]) -> dict:
    """The named figures of a list of asked questions (see the module docstring)."""
    n = len(rows)

    def share(count: int) -> float:
        return round(count / n, 4) if n else 0.0

    counts = {
        "top1": sum(1 for r in rows if r["rank"] == 1),
        "top5": sum(1 for r in rows if r["rank"] is not None),
        "cited": sum(1 for r in rows if r["cited"]),
        "answered": sum(1 for r in rows if r["status"] == ANSWERED),
        "related": sum(1 for r in rows if r["status"] == RELATED),
    }
    counts["refused"] = n - counts["answered"] - counts["related"]
    latencies = [r["seconds"] * 1000 for r in rows]
    return {
        "questions": n,
        **{name: share(count) for name, count in counts.items()},
        "counts": counts,
        "latency_ms_p50": round(_percentile(latencies, 0.5), 1),
        "latency_ms_p95": round(_percentile(latencies, 0.95), 1),
    }


def format_legal_report(report: dict, title: str = "legal_train 留出法律") -> str:
    """A Markdown table of `evaluate_legal`'s figures, one row per mode."""
    lines = [
        f"## {title}（{report['laws']} 部法律，{report['chunks']} 段）",
        "",
        "| mode | questions | labelled article in top 1 / top 5 | cited (answered) | answered | related | refused "
        "| p50 / p95 ms |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for mode, r in report["modes"].items():
        c, n = r["counts"], r["questions"]
        lines.append(
            f"| {mode} | {n} | {r['top1']} / {r['top5']} ({c['top5']}/{n}) | {r['cited']} ({c['cited']}/{n}) "
            f"| {r['answered']} | {r['related']} | {r['refused']} | {r['latency_ms_p50']} / {r['latency_ms_p95']} |"
        )
    return "\n".join(lines)
