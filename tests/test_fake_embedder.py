"""The fake embedder the fast tests run on (tests/fake_embedder.py) keeps the promises of a real one
that the index relies on, and loads by its name like a real one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from index.embedding.embedder import load_embedder
from tests.fake_embedder import DIM, FAKE_MODEL, SHARED, FakeEmbedder

ROOT = Path(__file__).resolve().parents[1]
TEXTS = ["工会会费的标准是多少？", "会员按月缴纳会费，标准为本人工资收入的千分之五。", "今天天气怎么样？", "", "Article 51"]


def test_vectors_are_unit_rows_of_the_model_size_and_near_when_texts_share_words(tmp_path):
    embedder = load_embedder(FAKE_MODEL, tmp_path, backend="onnx")  # by name, as the server loads it
    assert isinstance(embedder, FakeEmbedder) and (embedder.name, embedder.backend, embedder.dim) == (FAKE_MODEL, "onnx", DIM)
    vectors = embedder.encode_passages(TEXTS)
    assert vectors.dtype == np.float32 and vectors.shape == (len(TEXTS), DIM)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)
    assert np.array_equal(embedder.encode_queries(TEXTS[:1])[0], vectors[0])
    assert embedder.encode_passages([]).shape == (0, DIM)
    question, passage, weather = vectors[:3]
    assert question @ passage > question @ weather >= SHARED - 0.05


def test_vectors_are_the_same_in_another_process_whatever_its_hash_seed():
    script = ("import sys; from tests.fake_embedder import FakeEmbedder; "
              "sys.stdout.write(FakeEmbedder().encode_passages(sys.argv[1:]).tobytes().hex())")
    here = FakeEmbedder().encode_passages(TEXTS).tobytes().hex()
    for seed in ("1", "2"):
        child = subprocess.run([sys.executable, "-c", script, *TEXTS], capture_output=True, text=True, cwd=ROOT,
                               env={**os.environ, "PYTHONHASHSEED": seed}, check=True)
        assert child.stdout == here
