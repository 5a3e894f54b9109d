"""FAISS + bm25s against Milvus (milvus-lite, in this process) on the CMRC 2018 trial set.

The dataset's paragraphs are embedded once into the FAISS store, which is then copied,
vectors and all, into a milvus-lite file (`MilvusStore.from_store`): both stores hold the
same chunks and vectors, so every difference comes from the engines. Then, in one run:

  faiss hybrid / bm25    the bot over the FAISS + bm25s store (`unionqa eval`'s metrics);
  milvus hybrid / bm25   the same bot over the Milvus store: Milvus's dense search and its
                         jieba BM25 full-text search, fused by the bot;
  milvus hybrid_search   Milvus's own `hybrid_search` (RRF, k=60) ranking alone: retrieval
                         metrics only, since no answer is composed from it.

Prints a Markdown table (hit@1, hit@5, MRR@10, answer_hit, latency p50/p95) and the latency
ratios against FAISS measured in this run; --out writes the JSON.

    .venv/bin/python scripts/bench_milvus.py --dataset ../shared/data/cmrc2018_trial.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.bot import Bot  # noqa: E402
from bot.eval.evaluate import build_store, load_squad, score_items, summarize  # noqa: E402
from index.embedding.embedder import DEFAULT_MODEL, load_embedder  # noqa: E402
from index.paths import default_model_cache  # noqa: E402
from index.store.manifest import IndexSettings  # noqa: E402
from index.store.milvus import MilvusStore  # noqa: E402
from index.store.milvus_client import close_clients  # noqa: E402
from index.store.spec import parse_store  # noqa: E402

COLUMNS = ["hit@1", "hit@5", "hit@10", "mrr@10", "answer_hit", "latency_ms_p50", "latency_ms_p95"]


def native_rows(bot: Bot, store: MilvusStore, items) -> list[dict]:
    """Ranks from Milvus's hybrid_search alone, on the query the bot would search."""
    rows = []
    for item in items:
        started = time.perf_counter()
        _, _, evidence = bot.retrieve(item.question)
        fused = store.search_hybrid(evidence.vector, evidence.terms, 10)
        elapsed = time.perf_counter() - started
        rank = next((r for r, (vid, _) in enumerate(fused, start=1)
                     if any(a in store.chunks[vid].text for a in item.answers)), None)
        rows.append({"rank": rank, "refused": False, "answer_hit": False, "answer_chars": 0,
                     "seconds": elapsed, "holdout": item.holdout})
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="../shared/data/cmrc2018_trial.json")
    parser.add_argument("--limit", type=int, default=None, help="only the first N paragraphs")
    parser.add_argument("--out", help="JSON report path")
    args = parser.parse_args()

    settings = IndexSettings(DEFAULT_MODEL, 300, 1)
    embedder = load_embedder(DEFAULT_MODEL, default_model_cache())
    documents, items = load_squad(Path(args.dataset), limit=args.limit)
    faiss_store, index = build_store(documents, settings, embedder)
    report: dict = {"dataset": args.dataset, "index": index, "questions": len(items), "load": os.getloadavg(),
                    "rows": {}}
    with tempfile.TemporaryDirectory() as folder:
        location = parse_store(str(Path(folder) / "bench.db")).milvus
        started = time.perf_counter()
        milvus = MilvusStore.from_store(faiss_store, location)
        milvus.save()
        report["milvus_save_seconds"] = round(time.perf_counter() - started, 2)
        started = time.perf_counter()
        milvus = MilvusStore.load_from(location, settings)
        report["milvus_load_seconds"] = round(time.perf_counter() - started, 2)

        for name, store in (("faiss", faiss_store), ("milvus", milvus)):
            for mode in ("hybrid", "bm25"):
                bot = Bot(store, embedder, mode=mode)
                bot.ask(items[0].question)  # warm
                report["rows"][f"{name} {mode}"] = summarize(score_items(bot, items, f"{name} {mode}"))
        bot = Bot(milvus, embedder)
        report["rows"]["milvus hybrid_search (RRF)"] = summarize(native_rows(bot, milvus, items))
        close_clients()
    report["load"] = [round(x, 2) for x in (*report["load"], *os.getloadavg())]

    rows = report["rows"]
    lines = ["| store, mode | " + " | ".join(COLUMNS) + " |", "|---" * (len(COLUMNS) + 1) + "|"]
    for name, metrics in rows.items():
        values = [str(metrics[c]) if not (name.endswith("(RRF)") and c == "answer_hit") else "–" for c in COLUMNS]
        lines.append(f"| {name} | " + " | ".join(values) + " |")
    base = rows["faiss hybrid"]["latency_ms_p50"] or 1.0
    lines.append("")
    lines.append("latency p50 against faiss hybrid, same run: " + ", ".join(
        f"{name} {metrics['latency_ms_p50'] / base:.2f}×" for name, metrics in rows.items()))
    lines.append(f"{len(items)} questions, {index['documents']} paragraphs, {index['chunks']} chunks; "
                 f"Milvus save {report['milvus_save_seconds']} s, load {report['milvus_load_seconds']} s; "
                 f"load average {report['load'][:3]} → {report['load'][3:]}")
    print("\n".join(lines))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
