"""Measuring retrieval and answer quality on SQuAD-format Chinese QA data
(e.g. CMRC 2018), through the same Bot pipeline that the chat uses.

`evaluate(...)` returns one dictionary of named metrics per mode, which the
`unionqa eval` command prints and writes as JSON.
"""

from __future__ import annotations

import hashlib
import json
import os
import statistics
import time
from dataclasses import dataclass, replace
from pathlib import Path

from tqdm import tqdm

from bot.bot import Bot
from bot.records import MARKER, Answer
from bot.retrieve import MODES, Hit
from corpus.records import Document, Paragraph
from index.build import add_documents
from index.embedding.embedder import Embedder
from index.store.folder import IndexStore
from index.store.manifest import IndexSettings

HOLDOUT_SHARE = 3  # of every 10 articles, by a hash of the title: kept out of tuning
RANK_DEPTH = 10  # hit@10 and MRR@10 look this deep


@dataclass(frozen=True)
class QAItem:
    question: str
    answers: tuple[str, ...]
    doc_id: str
    holdout: bool


def is_holdout(title: str) -> bool:
    return int(hashlib.sha1(title.encode("utf-8")).hexdigest(), 16) % 10 < HOLDOUT_SHARE


def load_squad(path: Path, limit: int | None = None) -> tuple[list[Document], list[QAItem]]:
    """Every paragraph becomes a document titled by its article; every question an item."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    documents, items = [], []
    for a, article in enumerate(data["data"]):
        title = article.get("title", "").strip() or f"article {a}"
        for p, para in enumerate(article["paragraphs"]):
            context = para["context"].strip()
            doc_id = f"{a:04d}-{p:02d}"
            documents.append(
                Document(doc_id, title, f"{Path(path).name}#{doc_id}", context, (Paragraph(0, len(context)),))
            )
            for qa in para.get("qas", []):
                answers = tuple(dict.fromkeys(x["text"].strip() for x in qa.get("answers", []) if x["text"].strip()))
                if qa["question"].strip() and answers:
                    items.append(QAItem(qa["question"].strip(), answers, doc_id, is_holdout(title)))
    if limit is not None:
        keep = {d.doc_id for d in documents[:limit]}
        documents = [d for d in documents if d.doc_id in keep]
        items = [i for i in items if i.doc_id in keep]
    return documents, items


def load_questions(path: Path) -> list[str]:
    _, items = load_squad(path)
    return [i.question for i in items]


def build_store(documents: list[Document], settings: IndexSettings, embedder: Embedder) -> tuple[IndexStore, dict]:
    """A fresh in-memory index of the documents, and how fast it was built."""
    embedder.encode_passages(["热身"])  # the model's first call is slow; warm it before timing
    started = time.perf_counter()
    store = IndexStore(settings, embedder.dim)
    _, chunks = add_documents(store, documents, embedder, progress=True)
    seconds = time.perf_counter() - started
    return store, {"documents": len(documents), "chunks": chunks, "seconds": round(seconds, 2),
                   "chunks_per_second": round(chunks / seconds, 2) if seconds else None}


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def ask_ranked(bot: Bot, question: str) -> tuple[Answer, list[Hit]]:
    """The chat's answer (`bot.ask`), plus the ranking RANK_DEPTH deep that the
    retrieval metrics need: one search serves both."""
    query, ranked, evidence = bot.retrieve(question, top_k=max(RANK_DEPTH, bot.top_k))
    hits = ranked[: bot.top_k]
    # what the chat's own search would have kept after its top k
    evidence = replace(evidence, more=tuple(ranked[bot.top_k :]) + evidence.more)
    return bot.answer_from(question, query, hits, evidence), ranked[:RANK_DEPTH]


def score_items(bot: Bot, items: list[QAItem], desc: str) -> list[dict]:
    """Ask every item; one record per question with its rank, answer and timing."""
    rows = []
    for item in tqdm(items, desc=desc, unit="问"):
        started = time.perf_counter()
        answer, hits = ask_ranked(bot, item.question)
        elapsed = time.perf_counter() - started
        rank = next(
            (r for r, h in enumerate(hits, start=1) if any(a in h.chunk.text for a in item.answers)), None
        )
        plain = MARKER.sub("", answer.text)
        rows.append({
            "rank": rank,
            "refused": answer.refused,
            "answer_hit": (not answer.refused) and any(a in plain for a in item.answers),
            "answer_chars": 0 if answer.refused else len(plain),
            "seconds": elapsed,
            "holdout": item.holdout,
        })
    return rows


def summarize(rows: list[dict]) -> dict:
    n = len(rows) or 1
    answered = [r for r in rows if not r["refused"]]

    def hit(k: int) -> float:
        return round(sum(1 for r in rows if r["rank"] and r["rank"] <= k) / n, 4)

    latencies = [r["seconds"] * 1000 for r in rows]
    return {
        "questions": len(rows),
        "hit@1": hit(1),
        "hit@5": hit(5),
        "hit@10": hit(10),
        "mrr@10": round(sum(1 / r["rank"] for r in rows if r["rank"] and r["rank"] <= 10) / n, 4),
        "answer_hit": round(sum(r["answer_hit"] for r in rows) / n, 4),
        "mean_answer_chars": round(statistics.mean(r["answer_chars"] for r in answered), 1) if answered else 0.0,
        "false_refusal_rate": round(sum(r["refused"] for r in rows) / n, 4),
        "latency_ms_p50": round(_percentile(latencies, 0.5), 1),
        "latency_ms_p95": round(_percentile(latencies, 0.95), 1),
    }


def refusal_rate(bot: Bot, questions: list[str], desc: str) -> float:
    refused = sum(bot.ask(q).refused for q in tqdm(questions, desc=desc, unit="问"))
    return round(refused / (len(questions) or 1), 4)


def evaluate(
    embedder: Embedder,
    settings: IndexSettings,
    modes: list[str],
    dataset: Path | None = None,
    negatives: Path | None = None,
    negatives_store: IndexStore | None = None,
    limit: int | None = None,
    top_k: int = 5,
) -> dict:
    """Measure every mode on the same chunks, in one run.

    The dataset's paragraphs are indexed once and every mode searches that one
    store. The negatives' questions are asked against `negatives_store` when one
    is given (e.g. the bundled corpus), else against the dataset's store.
    `top_k` is the number of passages the chat answers from (Config.top_k).
    """
    for mode in modes:
        if mode not in MODES:
            raise ValueError(f"未知的检索模式 {mode!r}；可选：{', '.join(MODES)}")
    report: dict = {"settings": {**settings.__dict__, "top_k": top_k}, "modes": {},
                    "load_average_at_start": load_average()}
    store = None
    items: list[QAItem] = []
    if dataset is not None:
        documents, items = load_squad(dataset, limit=limit)
        store, report["index"] = build_store(documents, settings, embedder)
        report["dataset"] = str(dataset)
    negative_questions = load_questions(negatives) if negatives is not None else []
    if negatives is not None:
        report["negatives"] = str(negatives)
    target = negatives_store if negatives_store is not None else store
    if negative_questions and target is None:
        raise ValueError("负例评测需要一个索引（--dataset 或内置语料）")
    for mode in modes:
        result: dict = {}
        if store is not None:
            bot = Bot(store, embedder, top_k=top_k, mode=mode)
            bot.ask(items[0].question if items else "热身")  # warm the model and caches before timing
            rows = score_items(bot, items, desc=f"{mode}")
            result.update(summarize(rows))
            result["index_chunks_per_second"] = report["index"]["chunks_per_second"]
            result["tune"] = summarize([r for r in rows if not r["holdout"]])
            result["holdout"] = summarize([r for r in rows if r["holdout"]])
        if negative_questions:
            negatives_bot = Bot(target, embedder, top_k=top_k, mode=mode)
            result["refusal_rate"] = refusal_rate(negatives_bot, negative_questions, f"{mode} 负例")
        report["modes"][mode] = result
    report["load_average_at_end"] = load_average()
    return report


def load_average() -> list[float] | None:
    """The machine's 1/5/15-minute load: latency means little without it."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):  # not on Unix
        return None


COLUMNS = ["hit@1", "hit@5", "hit@10", "mrr@10", "answer_hit", "mean_answer_chars",
           "false_refusal_rate", "refusal_rate", "latency_ms_p50", "latency_ms_p95", "index_chunks_per_second"]


def format_table(report: dict, part: str | None = None) -> str:
    """The report as a Markdown table: modes × metrics, for all questions or
    for one `part` ("tune" or "holdout")."""
    rows = {mode: (metrics.get(part, {}) if part else metrics) for mode, metrics in report["modes"].items()}
    present = [c for c in COLUMNS if any(c in m for m in rows.values())]
    lines = ["| mode | " + " | ".join(present) + " |", "|---" * (len(present) + 1) + "|"]
    for mode, metrics in rows.items():
        lines.append(f"| {mode} | " + " | ".join(str(metrics.get(c, "")) for c in present) + " |")
    return "\n".join(lines)


def format_report(report: dict) -> str:
    """All questions, then the tune and holdout parts, then where it ran."""
    parts = [format_table(report)]
    for part in ("tune", "holdout"):
        if any(part in m for m in report["modes"].values()):
            count = next(m[part]["questions"] for m in report["modes"].values() if part in m)
            parts.append(f"{part}（{count} 问）：\n" + format_table(report, part))
    if report.get("index"):
        index = report["index"]
        parts.append(f"索引：{index['documents']} 篇，{index['chunks']} 段，{index['seconds']} 秒")
    if report.get("machine"):
        parts.append(f"机器：{report['machine']}；负载 {report.get('load_average_at_start')} → "
                     f"{report.get('load_average_at_end')}")
    return "\n\n".join(parts)
