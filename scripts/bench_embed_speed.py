"""Index embedding speed of the backends, interleaved batch by batch so that they share the load.

`make bench-backends` builds one backend's index after the other, minutes apart; on a shared
machine the load changes in between, and the speed ratios with it. Here every backend is loaded
first, and then each batch of a build (the chunks and the distinct sentences of the CMRC trial's
first --limit paragraphs, in the order and batches of index.build) is embedded by every backend
in turn, in a new random order per batch. Prints texts/s, chunks/s of the whole embedding work
and the ratio to the first backend (the baseline, torch fp32), with the load average.

    .venv/bin/python scripts/bench_embed_speed.py --backends torch,onnx,onnx-int8 --limit 60
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.eval.evaluate import load_squad  # noqa: E402
from index.build import prepare  # noqa: E402
from index.embedding.embedder import DEFAULT_MODEL, load_embedder  # noqa: E402
from index.paths import default_model_cache  # noqa: E402
from index.sentences import answer_units  # noqa: E402
from index.store.manifest import IndexSettings  # noqa: E402

BATCH = 32  # index.build.add_documents' batch size


def build_batches(dataset: Path, limit: int) -> tuple[int, list[list[str]]]:
    """The chunk count and the passage batches a build of the dataset's paragraphs embeds."""
    documents, _ = load_squad(dataset, limit=limit)
    settings = IndexSettings(DEFAULT_MODEL, 300, 1)
    chunks = [chunk for doc in documents for chunk in prepare(doc, settings)[0]]
    units = list(dict.fromkeys(c.text[s:e] for c in chunks for s, e in answer_units(c.text)))
    batches = []
    for texts in ([c.indexed_text() for c in chunks], units):
        ordered = sorted(texts, key=len, reverse=True)  # as index.build._embed orders them
        batches += [ordered[i : i + BATCH] for i in range(0, len(ordered), BATCH)]
    return len(chunks), batches


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", type=Path, default=ROOT.parent / "shared" / "data" / "cmrc2018_trial.json")
    parser.add_argument("--limit", type=int, default=60)
    parser.add_argument("--backends", default="torch,onnx,onnx-int8")
    args = parser.parse_args()
    chunks, batches = build_batches(args.dataset, args.limit)
    texts = sum(len(b) for b in batches)
    engines = {b: load_embedder(DEFAULT_MODEL, default_model_cache(), backend=b) for b in args.backends.split(",")}
    for engine in engines.values():
        engine.encode_passages(["热身", "热身一下"])  # sessions made, first-call costs paid
    seconds = dict.fromkeys(engines, 0.0)
    vectors: dict[str, list[np.ndarray]] = {name: [] for name in engines}
    loads = [os.getloadavg()[0]]
    for batch in batches:
        for name in random.sample(list(engines), len(engines)):
            started = time.perf_counter()
            vectors[name].append(engines[name].encode_passages(batch))
            seconds[name] += time.perf_counter() - started
    loads.append(os.getloadavg()[0])
    base = next(iter(engines))
    print(f"{chunks} chunks and {texts - chunks} sentences in {len(batches)} batches; load average "
          f"{loads[0]:.1f} -> {loads[1]:.1f} on {len(os.sched_getaffinity(0))} cores")
    print(f"| backend | seconds | texts/s | chunks/s | x {base} | min cosine vs {base} |")
    print("|---|---|---|---|---|---|")
    reference = np.vstack(vectors[base])
    for name, spent in seconds.items():
        cosine = float(np.min(np.sum(np.vstack(vectors[name]) * reference, axis=1)))
        print(f"| {name} | {spent:.1f} | {texts / spent:.2f} | {chunks / spent:.2f} | "
              f"{seconds[base] / spent:.2f} | {cosine:.5f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
