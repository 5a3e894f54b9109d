"""How much slower is growing an index one document at a time than building it at once?

Makes 101 small documents from paragraphs of the bundled corpus (or of --source),
then measures, in one run with one loaded model:

  (a) a full rebuild of all 101 (index.build.build_index);
  (b) starting from an index of 1 of them, adding the other 100 one by one
      (index.update.add_paths), each add a complete load-change-save.

Prints both times and the ratio (b)/(a); --out also writes them as JSON. CPU
seconds of this process are given next to wall-clock seconds: on a shared
machine the wall clock also measures everyone else's load.

    .venv/bin/python scripts/bench_incremental.py --out bench-incremental.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import tempfile
import time
from pathlib import Path

from corpus import DEFAULT_CORPUS_DIR
from corpus.loader import load_corpus
from index.build import build_index
from index.embedding.embedder import load_embedder
from index.store.folder import IndexStore
from index.update import add_paths
from ui import config as cfg

DOCUMENTS = 101
PARAGRAPHS_PER_DOCUMENT = 4


def source_paragraphs(folder: Path) -> list[str]:
    """The body paragraphs of every document in the folder, long enough to be prose."""
    paragraphs = []
    for doc in load_corpus(folder).documents:
        paragraphs += [doc.paragraph_text(p) for p in doc.paragraphs if not p.is_heading]
    return [p for p in paragraphs if len(p) >= 30]


def write_documents(paragraphs: list[str], folder: Path, count: int = DOCUMENTS) -> list[Path]:
    """`count` text files, each a distinct title over a few paragraphs in a fixed random pick."""
    if len(paragraphs) < PARAGRAPHS_PER_DOCUMENT:
        raise SystemExit("源文档中的段落太少，无法组合出测试文档。")
    pick = random.Random(20240501)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        body = pick.sample(paragraphs, PARAGRAPHS_PER_DOCUMENT)
        path = folder / f"doc-{i:03d}.txt"
        path.write_text(f"工会学习资料汇编第{i + 1}期\n" + "\n".join(body) + "\n", encoding="utf-8")
        paths.append(path)
    return paths


def timed(action) -> dict[str, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    action()
    return {
        "seconds": round(time.perf_counter() - wall, 2),
        "cpu_seconds": round(time.process_time() - cpu, 2),
        "load_average_after": os.getloadavg()[0],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description="增量加入与完整重建的用时对比")
    parser.add_argument("--source", type=Path, default=DEFAULT_CORPUS_DIR, help="取段落的文档目录（默认内置语料）")
    parser.add_argument("--out", type=Path, help="JSON 结果文件")
    args = parser.parse_args()

    config = cfg.from_env()
    settings = config.index_settings()
    embedder = load_embedder(config.embedding_model, config.model_cache, backend=config.embedding_backend)
    embedder.encode_passages(["预热模型，避免第一次调用的开销算进第一项测量。"])

    with tempfile.TemporaryDirectory(prefix="unionqa-bench-") as tmp:
        work = Path(tmp)
        paths = write_documents(source_paragraphs(args.source), work / "docs")

        full = timed(lambda: build_index(work / "docs", work / "full", settings, embedder, progress=False))
        add_paths(work / "incremental", paths[:1], settings, embedder, progress=False)
        incremental = timed(
            lambda: [add_paths(work / "incremental", [p], settings, embedder, progress=False) for p in paths[1:]]
        )

        full_store = IndexStore.load(work / "full")
        grown_store = IndexStore.load(work / "incremental")
        result = {
            "documents": len(full_store.documents),
            "chunks": len(full_store.chunks),
            "incremental_documents": len(grown_store.documents),
            "incremental_chunks": len(grown_store.chunks),
            "full_rebuild": full,
            "incremental_100_adds": incremental,
            "ratio_incremental_to_full": round(incremental["seconds"] / full["seconds"], 2),
            "cpu_ratio_incremental_to_full": round(incremental["cpu_seconds"] / full["cpu_seconds"], 2),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}",
        }

    print(f"文档 {result['documents']} 篇，段落 {result['chunks']} 个")
    print(f"(a) 完整重建 {DOCUMENTS} 篇：{full['seconds']:.1f} 秒（CPU {full['cpu_seconds']:.1f} 秒）")
    print(
        f"(b) 从 1 篇起逐篇加入 {DOCUMENTS - 1} 篇：{incremental['seconds']:.1f} 秒"
        f"（CPU {incremental['cpu_seconds']:.1f} 秒）"
    )
    print(f"(b)/(a) = {result['ratio_incremental_to_full']}（CPU：{result['cpu_ratio_incremental_to_full']}）")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
        print(f"结果已写入 {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
