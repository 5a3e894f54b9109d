"""One question at a time: ONNX Runtime (one thread, as index.embedding.onnx_runtime.OnnxEmbedder runs a
question) against torch on one thread.

The two are asked in turn, question by question, so that they share the machine's load. Prints
p50/p95 milliseconds of `Embedder.encode_queries([question])` for each.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from index.embedding.embedder import DEFAULT_MODEL, load_embedder  # noqa: E402
from index.paths import default_model_cache  # noqa: E402


def main() -> int:
    dataset = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "data" / "cmrc2018_trial.json"
    backend = sys.argv[2] if len(sys.argv) > 2 else "onnx"
    data = json.loads(dataset.read_text(encoding="utf-8"))
    questions = [qa["question"] for a in data["data"] for p in a["paragraphs"] for qa in p["qas"]][:int(sys.argv[3]) if len(sys.argv) > 3 else 300]
    onnx = load_embedder(DEFAULT_MODEL, default_model_cache(), backend=backend)
    torch_model = load_embedder(DEFAULT_MODEL, default_model_cache(), backend="torch")
    runs: dict[str, list[float]] = {f"{backend}, 1 thread": [], "torch, 1 thread": []}
    for q in questions[:5]:  # warm every session
        onnx.encode_queries([q]), torch_model.encode_queries([q])
    for q in questions:
        for label in runs:
            model = torch_model if label.startswith("torch") else onnx
            started = time.perf_counter()
            model.encode_queries([q])
            runs[label].append((time.perf_counter() - started) * 1000)
    for label, ms in runs.items():
        print(f"{label}: p50 {np.percentile(ms, 50):.1f} ms, p95 {np.percentile(ms, 95):.1f} ms ({len(ms)} questions)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
