"""`make bench-scale`: dense and BM25 search at a million chunks, without embedding a million texts.

Dense: the CMRC 2018 trial's real chunk vectors (embedded once with the configured backend, then
cached in reports/) are hidden among a million synthetic ones, in two sets (both cached in reports/):
- hard: drawn from a Gaussian with the real vectors' mean and covariance, so that they share the
  real ones' narrow cone (e5 cosines sit around 0.7-0.9) but have no cluster structure at all, the
  worst case for any partition or graph;
- clustered: each a real chunk's vector plus half a draw of that Gaussian, one cluster per real
  chunk, as a real archive has many texts on each topic.
The real CMRC questions search them, one question at a time as the chat asks: recall@10 against
exact search over the same vectors, p50/p95 time, build time, memory (resident growth while the
index is built) and size on disk, for exact search, the chosen approximate index (index/store/ann.py) at
its defaults and beside them, and (hard set) the alternatives tried. Then removing and adding
documents on the approximate index.

BM25: a million synthetic chunks of jieba token ids drawn from the real CMRC token frequencies
(with a long tail of rare words), as long as real chunks; query p95 through the store's weighted
scoring, memory, save and load time.

Writes reports/bench_scale.json and reports/bench_scale.md (git-ignored) and prints the tables.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import faiss
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from index.store import ann  # noqa: E402

REPORTS = ROOT / "reports"
K = 10


def rss_mb() -> float:
    """Resident memory of this process now, in MB."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q * 100)) if values else 0.0


# ----- real vectors ---------------------------------------------------------------


def real_vectors(dataset: Path, backend: str) -> tuple[np.ndarray, np.ndarray, list[list[str]], list[list[str]]]:
    """CMRC chunk vectors and question vectors (cached), and the chunks' and questions' tokens."""
    from bot.eval.evaluate import load_squad
    from index.build import prepare
    from index.embedding.embedder import DEFAULT_MODEL, load_embedder
    from index.paths import default_model_cache
    from index.store.manifest import IndexSettings
    from index.tokens import tokenize

    settings = IndexSettings(DEFAULT_MODEL, 300, 1, backend)
    documents, items = load_squad(dataset)
    chunks = [c for d in documents for c in prepare(d, settings)[0]]
    chunk_tokens = [tokenize(c.indexed_text()) for c in chunks]
    question_tokens = [tokenize(i.question) for i in items]
    cache = REPORTS / f"cmrc_vectors_{backend}.npz"
    if cache.is_file():
        with np.load(cache) as data:
            if len(data["chunks"]) == len(chunks) and len(data["questions"]) == len(items):
                return data["chunks"], data["questions"], chunk_tokens, question_tokens
    print(f"embedding {len(chunks)} CMRC chunks and {len(items)} questions ({backend}) …", file=sys.stderr)
    embedder = load_embedder(DEFAULT_MODEL, default_model_cache(), backend=backend)
    chunk_vectors = embedder.encode_passages([c.indexed_text() for c in chunks], batch_size=32)
    question_vectors = embedder.encode_queries([i.question for i in items])
    REPORTS.mkdir(exist_ok=True)
    np.savez(cache, chunks=chunk_vectors, questions=question_vectors)
    return chunk_vectors, question_vectors, chunk_tokens, question_tokens


def synthetic_vectors(real: np.ndarray, count: int, seed: int = 0) -> np.ndarray:
    """`count` unit vectors: the real ones at random rows, the rest from N(mean, cov) of the real."""
    rng = np.random.default_rng(seed)
    mean = real.mean(axis=0)
    centred = real - mean
    # cov = V S V^T from the real rows; a little isotropic noise fills the directions they miss
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    scale = s / np.sqrt(max(1, len(real) - 1))
    noise = float(scale[-1]) if len(scale) else 0.01
    out = np.empty((count, real.shape[1]), dtype=np.float32)
    step = 100_000
    for start in range(0, count, step):
        n = min(step, count - start)
        z = rng.standard_normal((n, len(scale))).astype(np.float32)
        block = mean + (z * scale) @ vt + rng.standard_normal((n, real.shape[1])).astype(np.float32) * noise
        out[start : start + n] = block / np.linalg.norm(block, axis=1, keepdims=True)
    rows = rng.choice(count, len(real), replace=False)
    out[rows] = real
    return out


# ----- dense ----------------------------------------------------------------------


def clustered_vectors(real: np.ndarray, hard: np.ndarray, seed: int = 1) -> np.ndarray:
    """The second, easier set: each synthetic vector is a real chunk's vector plus half a draw of the
    hard set's centred Gaussian, so the million form one cluster per real chunk (as a real archive
    has many texts on each topic) with the real covariance inside each. The real rows stay real."""
    rng = np.random.default_rng(seed)
    mean = real.mean(axis=0)
    out = np.empty_like(hard)
    step = 100_000
    for start in range(0, len(hard), step):
        block = real[rng.integers(0, len(real), min(step, len(hard) - start))]
        block = block + 0.5 * (hard[start : start + len(block)] - mean)
        out[start : start + len(block)] = block / np.linalg.norm(block, axis=1, keepdims=True)
    known = {row.tobytes() for row in real}  # the rows synthetic_vectors set to real chunks
    is_real = np.fromiter((row.tobytes() in known for row in hard), dtype=bool, count=len(hard))
    out[is_real] = hard[is_real]
    return out


def cached_vectors(real: np.ndarray, count: int, kind: str, backend: str) -> np.ndarray:
    """The synthetic set (`hard` or `clustered`), cached in reports/ (git-ignored): drawing a
    million takes about a minute."""
    path = REPORTS / f"scale_{kind}_{count}_{backend}_{len(real)}.npy"
    if path.is_file():
        return np.load(path)
    hard = cached_vectors(real, count, "hard", backend) if kind == "clustered" else None
    vectors = synthetic_vectors(real, count) if kind == "hard" else clustered_vectors(real, hard)
    REPORTS.mkdir(exist_ok=True)
    np.save(path, vectors)
    return vectors


def timed_search(index, queries: np.ndarray) -> tuple[np.ndarray, list[float]]:
    """Each question alone, as the chat asks: the ids found and each search's milliseconds."""
    found = np.empty((len(queries), K), dtype=np.int64)
    times = []
    for i, q in enumerate(queries):
        started = time.perf_counter()
        _, ids = index.search(q.reshape(1, -1), K)
        times.append((time.perf_counter() - started) * 1000)
        found[i] = ids[0]
    return found, times


def recall(found: np.ndarray, exact: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(e)) / K for f, e in zip(found, exact[: len(found), :K], strict=True)]))


def timing_row(rows: list[dict], row: dict, label: str, index, queries: np.ndarray, exact: np.ndarray) -> None:
    """Search each question alone (after 20 to warm caches); append a row with p50/p95 and recall@10."""
    timed_search(index, queries[:20])
    found, times = timed_search(index, queries)
    entry = dict(row, setting=label, questions=len(queries), p50_ms=round(percentile(times, 0.5), 2),
                 p95_ms=round(percentile(times, 0.95), 2), **{"recall@10": round(recall(found, exact), 4)})
    print(json.dumps(entry, ensure_ascii=False), file=sys.stderr, flush=True)
    rows.append(entry)


def built(build) -> tuple[object, dict]:
    """Build an index; its build seconds and the resident memory it added."""
    gc.collect()
    before = rss_mb()
    started = time.perf_counter()
    index = build()
    return index, {"build_s": round(time.perf_counter() - started, 1), "memory_mb": round(rss_mb() - before)}


def exact_of(vectors: np.ndarray) -> faiss.Index:
    """The store's exact index: IndexIDMap2(IndexFlatIP), ids 0..n-1."""
    index = faiss.IndexIDMap2(faiss.IndexFlatIP(vectors.shape[1]))
    for start in range(0, len(vectors), 200_000):
        block = vectors[start : start + 200_000]
        index.add_with_ids(block, np.arange(start, start + len(block), dtype=np.int64))
    return index


def dense_bench(set_name: str, vectors: np.ndarray, queries: np.ndarray, args) -> tuple[list[dict], dict | None]:
    """Exact search, the chosen approximate index (ann.ApproximateIndex) at its defaults and beside
    them, and (on the hard set) the alternatives; then add/remove on the chosen index."""
    rows: list[dict] = []
    n, dim = vectors.shape
    index, row = built(lambda: exact_of(vectors))
    started = time.perf_counter()
    _, truth = index.search(queries, K)  # all questions at once: the truth, not a timing
    print(f"{set_name}: exact top {K} of {len(queries)} questions in {time.perf_counter() - started:.1f} s",
          file=sys.stderr, flush=True)
    exact_row = dict(row, set=set_name, index="exact (IndexIDMap2 over IndexFlatIP)", file_mb=round(n * (dim * 4 + 8) / 2**20))
    timing_row(rows, exact_row, "-", index, queries[: args.exact_questions], truth)

    approx, row = built(lambda: ann.build(index))
    codes_mb = len(faiss.serialize_index(approx.codes)) / 2**20
    chosen = dict(row, set=set_name, index=f"chosen: exact + IVF{approx.nlist},{ann.codes_spec(dim)} codes",
                  file_mb=round(exact_row["file_mb"] + codes_mb))
    settings = {
        f"defaults: nprobe {approx.nprobe}, re-rank {approx.rerank}": (approx.nprobe, approx.rerank),
        f"nprobe {ann.nprobe_for(approx.nlist) // 2}, re-rank {approx.rerank}": (ann.nprobe_for(approx.nlist) // 2, approx.rerank),
        f"nprobe {approx.nprobe}, re-rank 1000": (approx.nprobe, 1000),
    }
    if set_name == "hard":
        settings[f"nprobe {approx.nprobe}, codes alone (re-rank {K})"] = (approx.nprobe, K)
    for label, (nprobe, rerank) in settings.items():
        approx.nprobe, approx.rerank = nprobe, rerank
        timing_row(rows, chosen, label, approx, queries, truth)
        chosen = {"set": set_name, "index": ""}
    approx.nprobe, approx.rerank = ann.nprobe_for(approx.nlist), ann.RERANK
    changes = add_remove(approx, vectors, queries, truth) if set_name == "hard" else None
    del approx
    gc.collect()
    if set_name == "hard":
        alternatives(rows, index, vectors, queries, truth, args)
    return rows, changes


def alternatives(rows: list[dict], exact: faiss.Index, vectors: np.ndarray, queries: np.ndarray,
                 truth: np.ndarray, args) -> None:
    """What else was tried, on fewer questions: IVF-Flat (the previous design), 1-bit RaBitQ codes
    re-ranked the same way, and HNSW (on a subset: it builds too slowly for a million here)."""
    n, dim = vectors.shape
    few, few_truth = queries[: args.alt_questions], truth[: args.alt_questions]
    cells = ann.cells_for(n)

    def ivf_flat() -> faiss.Index:
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, cells, faiss.METRIC_INNER_PRODUCT)
        sample = np.random.default_rng(0).choice(n, min(n, cells * ann.TRAIN_PER_CELL), replace=False)
        index.train(vectors[np.sort(sample)])
        index.add(vectors)
        return index

    index, row = built(ivf_flat)
    row = dict(row, set="hard", index=f"IVF{cells},Flat (before)", file_mb=round(n * (dim * 4 + 8) / 2**20))
    for nprobe in (ann.nprobe_for(cells) // 4, ann.nprobe_for(cells)):
        index.nprobe = nprobe
        timing_row(rows, row, f"nprobe {nprobe}", index, few, few_truth)
        row = {"set": "hard", "index": ""}
    del index
    gc.collect()

    approx, row = built(lambda: ann.build(exact, spec="RaBitQfs"))
    row = dict(row, set="hard", index=f"exact + IVF{cells},RaBitQfs (1-bit) codes",
               file_mb=round(n * (dim * 4 + 8) / 2**20 + len(faiss.serialize_index(approx.codes)) / 2**20))
    for rerank in (1000, 3000):
        approx.rerank = rerank
        timing_row(rows, row, f"nprobe {approx.nprobe}, re-rank {rerank}", approx, few, few_truth)
        row = {"set": "hard", "index": ""}
    del approx
    gc.collect()

    if args.hnsw:
        sub = vectors[: args.hnsw]
        flat = faiss.IndexFlatIP(dim)
        flat.add(sub)
        _, sub_truth = flat.search(few, K)
        del flat

        def hnsw() -> faiss.Index:
            index = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = 80
            index.add(sub)
            return index

        index, row = built(hnsw)
        row = dict(row, set="hard", index=f"HNSW32 efC 80, first {args.hnsw:,} vectors only",
                   file_mb=round(len(faiss.serialize_index(index)) / 2**20))
        for ef in (128, 512):
            index.hnsw.efSearch = ef
            timing_row(rows, row, f"efSearch {ef}", index, few, sub_truth)
            row = {"set": "hard", "index": ""}
        del index
        gc.collect()


def add_remove(index, vectors: np.ndarray, queries: np.ndarray, exact: np.ndarray) -> dict:
    """Remove the true best hit of (up to) 100 questions, check it is gone, add it back, check it is found."""
    n = min(100, len(queries))
    targets = np.unique(exact[:n, 0])
    started = time.perf_counter()
    removed = index.remove_ids(targets)
    remove_ms = (time.perf_counter() - started) * 1000
    found, _ = timed_search(index, queries[:n])
    still_found = int(np.isin(found, targets).sum())
    started = time.perf_counter()
    index.add_with_ids(vectors[targets], targets)
    add_ms = (time.perf_counter() - started) * 1000
    found, _ = timed_search(index, queries[:n])
    back = float(np.mean([exact[i, 0] in found[i] for i in range(n)]))
    return {"removed": int(removed), "removed_still_found": still_found, "remove_ms": round(remove_ms, 1),
            "add_ms": round(add_ms, 1), "top1_found_after_adding_back": round(back, 3)}


# ----- BM25 -----------------------------------------------------------------------


def synthetic_token_ids(chunk_tokens: list[list[str]], count: int, rare: int, seed: int = 0):
    """`count` chunks of token ids: lengths and token frequencies from the real chunks, plus a tail
    of `rare` words (names, numbers) that real archives have and one trial set does not."""
    rng = np.random.default_rng(seed)
    freq = Counter(t for toks in chunk_tokens for t in toks)
    vocab = {t: i for i, t in enumerate(freq)}
    weights = np.array(list(freq.values()), dtype=np.float64)
    real_ids = np.arange(len(vocab))
    rare_ids = np.arange(len(vocab), len(vocab) + rare)
    vocab.update({f"罕见{i}": int(j) for i, j in enumerate(rare_ids)})
    lengths = np.array([len(t) for t in chunk_tokens if t])
    p = weights / weights.sum()
    docs = []
    for _ in range(0, count, 10_000):
        n = min(10_000, count - len(docs))
        lens = rng.choice(lengths, n)
        flat = rng.choice(real_ids, int(lens.sum()), p=p)
        # one token in ten comes from the rare tail
        tail = rng.random(len(flat)) < 0.1
        flat[tail] = rng.choice(rare_ids, int(tail.sum()))
        docs.extend(np.split(flat.astype(np.int32), np.cumsum(lens)[:-1]))
    return docs, vocab


def bm25_bench(chunk_tokens: list[list[str]], question_tokens: list[list[str]], count: int) -> dict:
    import bm25s

    docs, vocab = synthetic_token_ids(chunk_tokens, count, rare=max(1000, count // 4))
    vocab[""] = len(vocab)
    gc.collect()
    before = rss_mb()
    started = time.perf_counter()
    retriever = bm25s.BM25()
    retriever.index((docs, vocab), show_progress=False)
    index_s = time.perf_counter() - started
    del docs
    gc.collect()
    memory = rss_mb() - before

    # the store's weighted query (IndexStore._weighted_bm25_scores), then its top 50
    def query(engine: bm25s.BM25, tokens: list[str]) -> None:
        known = [vocab[t] for t in dict.fromkeys(tokens) if t in vocab]
        if not known:
            return
        scores = np.zeros(count, dtype=engine.dtype)
        for token_id in known:
            scores += engine.get_scores_from_ids([token_id])
        top = np.argpartition(-scores, 49)[:50]
        top[np.argsort(-scores[top])]

    times = []
    for tokens in question_tokens:
        started = time.perf_counter()
        query(retriever, tokens)
        times.append((time.perf_counter() - started) * 1000)
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        retriever.save(tmp, show_progress=False)
        save_s = time.perf_counter() - started
        disk = sum(p.stat().st_size for p in Path(tmp).iterdir()) / 2**20
        del retriever
        gc.collect()
        started = time.perf_counter()
        bm25s.BM25.load(tmp, show_progress=False)
        load_s = time.perf_counter() - started
        started = time.perf_counter()
        bm25s.BM25.load(tmp, mmap=True, show_progress=False)
        mmap_s = time.perf_counter() - started
    return {"chunks": count, "vocabulary": len(vocab), "index_s": round(index_s, 1), "memory_mb": round(memory),
            "disk_mb": round(disk), "save_s": round(save_s, 1), "load_s": round(load_s, 2),
            "load_mmap_s": round(mmap_s, 2), "query_p50_ms": round(percentile(times, 0.5), 1),
            "query_p95_ms": round(percentile(times, 0.95), 1), "questions": len(times)}


# ----- report ---------------------------------------------------------------------


def table(rows: list[dict]) -> str:
    columns = list(dict.fromkeys(k for r in rows for k in r))
    lines = ["| " + " | ".join(columns) + " |", "|---" * len(columns) + "|"]
    lines += ["| " + " | ".join(str(r.get(c, "")) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def main() -> int:
    from index.embedding.backends import DEFAULT_BACKEND

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default=str(ROOT.parent / "shared" / "data" / "cmrc2018_trial.json"))
    parser.add_argument("--vectors", type=int, default=1_000_000)
    parser.add_argument("--sets", default="hard,clustered", help="synthetic sets: hard, clustered")
    parser.add_argument("--chunks", type=int, default=1_000_000, help="BM25 chunks (0: skip)")
    parser.add_argument("--hnsw", type=int, default=50_000, help="vectors for HNSW (0: skip)")
    parser.add_argument("--questions", type=int, default=300, help="CMRC questions asked of the chosen index")
    parser.add_argument("--alt-questions", type=int, default=100, help="questions asked of the alternatives")
    parser.add_argument("--exact-questions", type=int, default=30, help="questions timed on exact search")
    parser.add_argument("--backend", default=DEFAULT_BACKEND)
    parser.add_argument("--out", default=str(REPORTS / "bench_scale.json"))
    args = parser.parse_args()

    load_before = os.getloadavg()
    chunk_vectors, question_vectors, chunk_tokens, question_tokens = real_vectors(Path(args.dataset), args.backend)
    question_vectors = question_vectors[: args.questions]
    print(f"{len(chunk_vectors)} real chunk vectors, {len(question_vectors)} questions; "
          f"{args.vectors:,} vectors in all", file=sys.stderr)
    dense_rows: list[dict] = []
    changes = None
    for set_name in args.sets.split(","):
        vectors = cached_vectors(chunk_vectors, args.vectors, set_name, args.backend)
        rows, set_changes = dense_bench(set_name, vectors, question_vectors, args)
        dense_rows += rows
        changes = changes or set_changes
        del vectors
        gc.collect()
    bm25 = bm25_bench(chunk_tokens, question_tokens, args.chunks) if args.chunks else None
    load = [round(x, 1) for x in (*load_before, *os.getloadavg())]
    report = {"faiss": faiss.__version__, "omp_threads": faiss.omp_get_max_threads(), "vectors": args.vectors,
              "real_chunks": len(chunk_vectors), "questions": len(question_vectors), "dense": dense_rows,
              "add_remove_on_approximate": changes, "bm25": bm25, "load_average_before_after": load}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
    parts = [
        f"Dense search, {args.vectors:,} vectors ({len(chunk_vectors)} real CMRC chunks among synthetic ones), "
        f"real CMRC questions one at a time; load average (1, 5, 15 min) before {load[:3]}, after {load[3:]}:",
        table(dense_rows),
        "Add/remove on the chosen approximate index: " + json.dumps(changes, ensure_ascii=False),
    ]
    if bm25:
        parts += [f"BM25 (bm25s), {args.chunks:,} synthetic chunks:", table([bm25])]
    text = "\n\n".join(parts)
    Path(args.out).with_suffix(".md").write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
