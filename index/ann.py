"""Approximate dense search for large indexes: an inverted file (IVF) over the exact vectors.

Below `threshold` vectors the store keeps exact search (IndexIDMap2 over IndexFlatIP): at a few
hundred thousand chunks that still answers in milliseconds and needs no training. Above it the
vectors move into an IndexIVFFlat: k-means cells, and a question scans only the `nprobe` cells
nearest to it. The vectors inside a cell are kept exactly, so the scores the bot fuses are the
same cosines as before; only a true neighbour in a cell not probed can be missed.

Why IVF-Flat and not HNSW or IVF-PQ (`make bench-scale`, docs/benchmark.md): IVF-Flat adds and
removes by id like the flat index, so `unionqa add` and `remove` work unchanged, and it trains in
seconds. HNSW reached a similar recall per millisecond but cannot remove vectors (a removed
document would need a rebuild) and builds far more slowly on two cores; IVF-PQ's compressed codes
lost most of the recall (0.3 at recall@10) unless every hit is re-scored with the exact vectors,
which brings their memory back. The price of IVF is the probe depth: on synthetic vectors without
cluster structure (the bench's worst case) recall@10 needs about a third of the cells probed to
pass 0.95; real embeddings cluster by topic and need fewer.
"""

from __future__ import annotations

import os

import faiss
import numpy as np

DEFAULT_THRESHOLD = 200_000  # vectors; UNIONQA_ANN_THRESHOLD overrides (ui/config.py)
# Cells probed per question: a share of all cells, at least MIN_NPROBE (recall vs time, see bench).
NPROBE_SHARE = 1 / 8
MIN_NPROBE = 32
TRAIN_PER_CELL = 40  # k-means samples per cell; faiss warns below 39


def threshold_from_env() -> int:
    """The configured threshold (UNIONQA_ANN_THRESHOLD; 0 switches approximate search off)."""
    value = os.environ.get("UNIONQA_ANN_THRESHOLD", "").strip()
    return int(value) if value else DEFAULT_THRESHOLD


def cells_for(count: int) -> int:
    """About sqrt(n) cells: 1,000 at 1M vectors. More cells scan less per question but train
    slowly (k-means over 40 samples per cell); on two cores 1,000 train in well under a minute."""
    return max(1, int(np.sqrt(count)))


def nprobe_for(cells: int) -> int:
    return min(cells, max(MIN_NPROBE, int(cells * NPROBE_SHARE)))


def is_approximate(index: faiss.Index) -> bool:
    # faiss's Python layer hands out indexes already downcast (read_index too); downcast_index()
    # would make a second, non-owning wrapper that dangles once the first is collected
    return isinstance(index, faiss.IndexIVF)


def build_ivf(vectors: np.ndarray, ids: np.ndarray, cells: int | None = None, seed: int = 0) -> faiss.Index:
    """An IndexIVFFlat (inner product) holding `vectors` under `ids`, trained on a sample of them."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    count, dim = vectors.shape
    cells = cells or cells_for(count)
    quantizer = faiss.IndexFlatIP(dim)
    index = faiss.IndexIVFFlat(quantizer, dim, cells, faiss.METRIC_INNER_PRODUCT)
    index.cp.seed = seed
    sample = min(count, cells * TRAIN_PER_CELL)
    rows = np.random.default_rng(seed).choice(count, sample, replace=False) if sample < count else slice(None)
    index.train(vectors[rows])
    # A hash table from id to (cell, offset): reconstruct() and remove_ids() by id, as IndexIDMap2 did.
    index.set_direct_map_type(faiss.DirectMap.Hashtable)
    index.add_with_ids(vectors, np.ascontiguousarray(ids, dtype=np.int64))
    index.nprobe = nprobe_for(cells)
    return index


def all_vectors(index: faiss.Index) -> tuple[np.ndarray, np.ndarray]:
    """Every (id, vector) of an exact IndexIDMap2 index."""
    ids = faiss.vector_to_array(index.id_map).astype(np.int64)
    vectors = index.index.reconstruct_n(0, index.ntotal) if index.ntotal else np.zeros((0, index.d), np.float32)
    return ids, vectors


def fit(index: faiss.Index, threshold: int) -> faiss.Index:
    """The index to keep for its size: an exact one becomes IVF once it holds `threshold` vectors
    or more (threshold 0: never). An IVF index stays IVF; its cells were trained on the vectors
    it had then, which represent documents added later well enough for the same kind of text."""
    if threshold <= 0 or is_approximate(index) or index.ntotal < threshold:
        return index
    ids, vectors = all_vectors(index)
    return build_ivf(vectors, ids)


def prepare_loaded(index: faiss.Index) -> faiss.Index:
    """An IVF index read from disk gets its search depth back (nprobe is not saved by faiss)."""
    if is_approximate(index):
        index.nprobe = nprobe_for(index.nlist)
    return index
