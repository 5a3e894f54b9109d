"""Approximate dense search for large indexes: compact codes find candidates, exact vectors rank them.

Below `threshold` vectors the store keeps exact search (IndexIDMap2 over IndexFlatIP): up to a
few hundred thousand chunks that answers fast enough and needs no training. Above
it, `ApproximateIndex` keeps that same exact index and adds a second, small one over the same ids:
an inverted file (IVF, about sqrt(n) k-means cells) of 4-bit product-quantizer codes scanned with
faiss's SIMD "fast scan" (`IndexIVFPQFastScan`, PQ192x4fs: 96 bytes a vector). A question scans
the `nprobe` cells nearest to it in the codes, keeps the RERANK best candidates, and ranks
those by their exact cosines. So the scores the bot fuses are the same cosines as before; a true
neighbour is missed only if its cell is not probed or its code ranks it below the candidates.

Why this (`make bench-scale`, docs/benchmark.md): at a million vectors recall@10 ≥ 0.98 against
exact search needs 44 % of the cells probed on the bench's structureless synthetic vectors (their
worst case), which is 680 MB of float32 per question for IVF-Flat (89 ms p50 in that run, against
14 ms for this), while the 4-bit codes of those cells are 42 MB. HNSW built 200,000 vectors in four
minutes here and reached 0.93 at efSearch 512; coarser codes (PQ96x4fs) stayed at 0.51 re-ranking
500 candidates. Both structures
take vectors by id, so `unionqa add` and `remove` work unchanged: a removal leaves a tombstone among
the codes (see `remove_ids`), and a save encodes the codes anew once they pass a tenth of the index.

On disk the exact index stays `dense.faiss` (the very file an exact store writes) and the codes go
to `dense-ann.faiss` next to it, so an index is readable whichever side of the threshold it is on.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import faiss
import numpy as np

DEFAULT_THRESHOLD = 200_000  # vectors; UNIONQA_ANN_THRESHOLD overrides (ui/config.py)
# Measured by `make bench-scale` at 1M structureless vectors (docs/benchmark.md): probing 0.44 of the
# cells and re-ranking the codes' best 3,000 gave recall@10 0.991 (half the probes 0.961; 1,000
# candidates 0.965). A question asks for at most a few dozen hits, so the candidates do not grow
# with k until k × K_FACTOR passes them.
NPROBE_SHARE = 0.44
MIN_NPROBE = 32
RERANK = 3000
K_FACTOR = 30
DIMS_PER_CODE = 2  # product-quantizer sub-vectors of 2 dimensions, 4 bits each: PQ192x4fs for e5's 384
TRAIN_PER_CELL = 40  # k-means samples per cell; faiss warns below 39
STALE_SHARE = 0.1  # tombstones (codes of removed vectors) per live vector that a save clears
ADD_BLOCK = 100_000  # vectors copied out of the exact index at a time while the codes are built
EXACT_FILE = "dense.faiss"
CODES_FILE = "dense-ann.faiss"


def threshold_from_env() -> int:
    """The configured threshold (UNIONQA_ANN_THRESHOLD; 0 switches approximate search off)."""
    value = os.environ.get("UNIONQA_ANN_THRESHOLD", "").strip()
    return int(value) if value else DEFAULT_THRESHOLD


def cells_for(count: int) -> int:
    """About sqrt(n) cells: 1,000 at 1M vectors (k-means over 40 samples a cell trains in seconds)."""
    return max(1, int(np.sqrt(count)))


def nprobe_for(cells: int) -> int:
    return min(cells, max(MIN_NPROBE, math.ceil(cells * NPROBE_SHARE)))


class ApproximateIndex:
    """The exact vectors (`exact`, an IndexIDMap2) plus IVF fast-scan codes of them (`codes`).

    It answers the few calls the store makes of a faiss index (ntotal, add_with_ids, remove_ids,
    search, reconstruct), so the store treats both kinds alike.
    """

    def __init__(self, exact: faiss.Index, codes: faiss.IndexIVF):
        self.exact = exact
        self.codes = codes
        self.nprobe = nprobe_for(codes.nlist)
        self.rerank = RERANK
        self.k_factor = K_FACTOR
        self._rows: tuple[np.ndarray, np.ndarray | None, np.ndarray] | None = None  # see _vectors_of

    @property
    def ntotal(self) -> int:
        return self.exact.ntotal

    @property
    def d(self) -> int:
        return self.exact.d

    @property
    def nlist(self) -> int:
        return self.codes.nlist

    def add_with_ids(self, vectors: np.ndarray, ids: np.ndarray) -> None:
        self._rows = None  # the views below may point at freed memory once faiss's arrays grow
        self.exact.add_with_ids(vectors, ids)
        self.codes.add_with_ids(vectors, ids)

    def remove_ids(self, ids: np.ndarray) -> int:
        """Removed from the exact vectors only: their codes stay behind as tombstones, which the
        search drops (a candidate counts only if the exact index has it) and `fit` clears once they
        pass STALE_SHARE. faiss 1.15's fast-scan lists lose vectors added after a remove_ids (most
        of them, in our tests), so the codes are only ever appended to and rebuilt."""
        self._rows = None
        return self.exact.remove_ids(ids)

    @property
    def stale(self) -> int:
        """Codes of removed (or replaced) vectors still in the lists."""
        return self.codes.ntotal - self.exact.ntotal

    def _vectors_of(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The ids of `ids` that the exact index holds (the others were removed) and their vectors,
        read through numpy views of the flat index's own arrays: faiss's reconstruct_batch on an IndexIDMap2 looks ids up one at a time and took as long
        as the whole scan for 3,000 candidates. The store hands out ids in increasing order and
        removal keeps the order, so a row is found by binary search (else through a sort)."""
        if self._rows is None:
            n, flat = self.exact.ntotal, faiss.downcast_index(self.exact.index)  # lives as long as exact
            id_map = faiss.rev_swig_ptr(self.exact.id_map.data(), n) if n else np.zeros(0, np.int64)
            vectors = (
                faiss.rev_swig_ptr(flat.get_xb(), n * self.d).reshape(n, self.d)
                if n
                else np.zeros((0, self.d))
            )
            order = None if np.all(id_map[1:] > id_map[:-1]) else np.argsort(id_map, kind="stable")
            self._rows = (id_map if order is None else id_map[order], order, vectors)
        sorted_ids, order, vectors = self._rows
        rows = np.minimum(np.searchsorted(sorted_ids, ids), max(0, len(sorted_ids) - 1))
        live = sorted_ids[rows] == ids if len(sorted_ids) else np.zeros(len(ids), dtype=bool)
        rows = rows[live]
        return ids[live], vectors[rows if order is None else order[rows]]

    def reconstruct(self, vector_id: int) -> np.ndarray:
        return self.exact.reconstruct(vector_id)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Like faiss: (scores, ids), each (len(queries), k), padded with -inf / -1."""
        queries = np.ascontiguousarray(queries, dtype=np.float32).reshape(-1, self.d)
        params = faiss.SearchParametersIVF(nprobe=self.nprobe)
        # more candidates in proportion to the tombstones among the codes
        wanted = max(self.rerank, k * self.k_factor) * self.codes.ntotal // max(1, self.exact.ntotal)
        _, candidates = self.codes.search(queries, max(k, min(self.codes.ntotal, wanted)), params=params)
        scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
        ids = np.full((len(queries), k), -1, dtype=np.int64)
        for row, (query, found) in enumerate(zip(queries, candidates, strict=True)):
            # unique: a removed and re-added id has two codes. Sorted: fewer cache misses gathering them.
            found, vectors = self._vectors_of(np.unique(found[found >= 0]))
            if not len(found):
                continue
            # einsum, not `@`: a BLAS matrix-vector product woke its threads and took 10-20 ms on a busy machine
            exact = np.einsum("ij,j->i", vectors, query)
            best = np.argsort(-exact, kind="stable")[:k]
            scores[row, : len(best)] = exact[best]
            ids[row, : len(best)] = found[best]
        return scores, ids


def is_approximate(index: object) -> bool:
    return isinstance(index, ApproximateIndex)


def _blocks(exact: faiss.Index):
    """(ids, vectors) of an IndexIDMap2(IndexFlat) in blocks, so a million is never copied at once."""
    ids = faiss.vector_to_array(exact.id_map).astype(np.int64)
    for start in range(0, exact.ntotal, ADD_BLOCK):
        count = min(ADD_BLOCK, exact.ntotal - start)
        yield ids[start : start + count], exact.index.reconstruct_n(start, count)


def codes_spec(dim: int) -> str:
    """The faiss index_factory codes after "IVF<cells>,": PQ192x4fs for 384 dimensions."""
    return f"PQ{dim // DIMS_PER_CODE}x4fs" if dim % DIMS_PER_CODE == 0 else f"PQ{dim}x4fs"


def build_codes(
    exact: faiss.Index, cells: int | None = None, seed: int = 0, spec: str | None = None
) -> faiss.IndexIVF:
    """IVF codes (`spec`, default codes_spec) of every vector of `exact`, under the same ids; the
    cells are trained on a sample."""
    count, dim = exact.ntotal, exact.d
    cells = cells or cells_for(count)
    codes = faiss.index_factory(dim, f"IVF{cells},{spec or codes_spec(dim)}", faiss.METRIC_INNER_PRODUCT)
    codes.cp.seed = seed
    sample = min(count, cells * TRAIN_PER_CELL)
    rows = np.sort(np.random.default_rng(seed).choice(count, sample, replace=False))
    codes.train(
        np.stack([exact.index.reconstruct(int(r)) for r in rows])
        if sample < count
        else exact.index.reconstruct_n(0, count)
    )
    for ids, vectors in _blocks(exact):
        codes.add_with_ids(vectors, ids)
    return codes


def recode(index: ApproximateIndex) -> faiss.IndexIVF:
    """The same trained cells and quantizer, with the codes of the live vectors only."""
    codes = faiss.clone_index(index.codes)
    codes.reset()
    for ids, vectors in _blocks(index.exact):
        codes.add_with_ids(vectors, ids)
    return codes


def build(
    exact: faiss.Index, cells: int | None = None, seed: int = 0, spec: str | None = None
) -> ApproximateIndex:
    """An ApproximateIndex over an exact IndexIDMap2(IndexFlatIP), which it keeps (not a copy)."""
    return ApproximateIndex(exact, build_codes(exact, cells, seed, spec))


def fit(index: faiss.Index | ApproximateIndex, threshold: int) -> faiss.Index | ApproximateIndex:
    """The index to keep for its size: an exact one gets codes once it holds `threshold` vectors
    or more (threshold 0: never). An approximate one stays so; its cells, trained on the vectors it
    had then, represent later documents of the same kind of text well enough, until sqrt(n) cells
    would be twice as many as it has (the index grew fourfold): then they are trained anew. Its
    tombstones are cleared (the codes encoded again, same cells) once they pass STALE_SHARE."""
    if is_approximate(index):
        if threshold > 0 and cells_for(index.ntotal) >= 2 * index.nlist:
            return build(index.exact)
        if index.stale > STALE_SHARE * index.ntotal:
            return ApproximateIndex(index.exact, recode(index))
        return index
    if threshold <= 0 or index.ntotal < threshold:
        return index
    return build(index)


def write(index: faiss.Index | ApproximateIndex, folder: Path) -> None:
    """dense.faiss (the exact vectors), and dense-ann.faiss (the codes) if the index has them."""
    if is_approximate(index):
        faiss.write_index(index.exact, str(folder / EXACT_FILE))
        faiss.write_index(index.codes, str(folder / CODES_FILE))
    else:
        faiss.write_index(index, str(folder / EXACT_FILE))


def read(folder: Path) -> faiss.Index | ApproximateIndex:
    """The index `write` wrote. A version folder of an earlier release may hold an IndexIVFFlat in
    dense.faiss: its vectors are read back into an exact index (the next save adds codes)."""
    exact = faiss.read_index(str(folder / EXACT_FILE))
    if isinstance(exact, faiss.IndexIVF):
        exact = _exact_from_ivf(exact)
    if not (folder / CODES_FILE).is_file():
        return exact
    codes = faiss.read_index(str(folder / CODES_FILE))
    if codes.ntotal < exact.ntotal:  # more is fine: tombstones
        raise RuntimeError(f"{CODES_FILE} holds {codes.ntotal} vectors, {EXACT_FILE} {exact.ntotal}")
    return ApproximateIndex(exact, codes)


def _exact_from_ivf(ivf: faiss.IndexIVF) -> faiss.Index:
    """An IndexIDMap2(IndexFlatIP) with the (exactly stored) vectors of an IndexIVFFlat."""
    exact = faiss.IndexIDMap2(faiss.IndexFlatIP(ivf.d))
    lists = ivf.invlists
    for cell in range(ivf.nlist):
        size = lists.list_size(cell)
        if not size:
            continue
        ids = faiss.rev_swig_ptr(lists.get_ids(cell), size).copy()
        codes = faiss.rev_swig_ptr(lists.get_codes(cell), size * lists.code_size).copy()
        exact.add_with_ids(codes.view(np.float32).reshape(size, ivf.d), ids)
    return exact
