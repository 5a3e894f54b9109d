"""A fast, deterministic stand-in for the embedding model, for the tests that do not measure
answer quality (the store, the API, the admin page, serving, workers, the CLI, ...).

A text's vector is its characters and character pairs, hashed into 383 signed buckets
(feature hashing, with blake2b: the same vector in every process, unlike the salted `hash()`),
plus a fixed component on the first axis that every text shares. That component keeps the
cosines in the range e5's take (0.85 for texts with nothing in common, towards 1 for texts sharing
their words), so the bundled answer decision, fitted on e5's cosines, still reads them sensibly;
texts that share words are near each other, as with a real model, only without meaning.

It is registered with `index.embedding.embedder.register_embedder` under FAKE_MODEL, a name no real model
can have: an index built with it records that name, and the server, the CLI and the answering
processes forked from them load it by name like a real model. A child process runs the CLI with
it as ``python -m tests.fake_embedder <unionqa arguments>``.
"""

from __future__ import annotations

import sys
import unicodedata
from functools import lru_cache
from hashlib import blake2b

import numpy as np

from index.embedding.embedder import register_embedder

FAKE_MODEL = "fake:hash-384"
DIM = 384  # multilingual-e5-small's, so a test of sizes sees the real figure
SHARED = 0.85  # the cosine of two texts with nothing in common


@lru_cache(maxsize=200_000)
def _bucket(feature: str) -> tuple[int, float]:
    digest = blake2b(feature.encode("utf-8"), digest_size=8).digest()
    value = int.from_bytes(digest, "little")
    return 1 + value % (DIM - 1), (1.0 if value >> 63 else -1.0)


def _features(text: str) -> list[str]:
    chars = [c for c in unicodedata.normalize("NFKC", text).lower() if not c.isspace()]
    return chars + [a + b for a, b in zip(chars, chars[1:], strict=False)]


def fake_vector(text: str) -> np.ndarray:
    """A unit float32 vector: √SHARED on axis 0, the rest the text's hashed features."""
    words = np.zeros(DIM, dtype=np.float64)
    for feature in _features(text):
        index, sign = _bucket(feature)
        words[index] += sign
    norm = np.linalg.norm(words)
    vector = words * (np.sqrt(1 - SHARED) / norm) if norm else words
    vector[0] = np.sqrt(SHARED) if norm else 1.0
    return vector.astype(np.float32)


class FakeEmbedder:
    """The Embedder protocol (index.embedding.embedder.Embedder) on hashed characters; queries and
    passages are embedded alike."""

    def __init__(self, backend: str = "torch") -> None:
        self.name = FAKE_MODEL
        self.backend = backend
        self.dim = DIM

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts)

    def encode_passages(self, texts: list[str], show_progress: bool = False, batch_size: int = 32) -> np.ndarray:
        return self._encode(texts)

    def _encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        return np.stack([fake_vector(t) for t in texts])


def register() -> None:
    register_embedder(FAKE_MODEL, FakeEmbedder)


if __name__ == "__main__":
    # The `unionqa` command for tests' child processes: the fake registered, and the configured
    # model (unless the test sets one) the fake, which the indexes the tests build record.
    import os

    from ui.cli import main

    register()
    os.environ.setdefault("UNIONQA_EMBEDDING_MODEL", FAKE_MODEL)
    sys.exit(main())
