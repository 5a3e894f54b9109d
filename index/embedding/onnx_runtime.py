"""A sentence-transformers model run by ONNX Runtime alone: no torch, transformers or
sentence-transformers is imported.

Why: those three imports and the torch weights are most of a cold start. `serve` was ready in
about 12 s, of which importing torch and sentence-transformers and loading weights that ONNX
Runtime then replaces took about 5 (issue 21 asks for 10). The ONNX file itself is still made
from the torch model once, on first use (index/embedding/onnx_backend.py); afterwards every start reads it
directly.

It reproduces what sentence-transformers does for the models it is used for (a local folder
holding a Transformer, a mean Pooling and optionally a Normalize module, as the bundled e5 and the
models trained here are): the model's own query/document prompts in front of the text, its
tokenizer from tokenizer.json with truncation at max_seq_length, mean pooling and unit length.
tests/test_backends.py checks that its vectors are torch's (cosine 1.0000). Any other layout (a
Dense layer, another pooling, lower-casing) is loaded by sentence-transformers as before.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

# Rows of similar length per ONNX Runtime call; 4 and 16 were measured too (4 the same, 16 slower:
# more padding). See index.embedding.onnx_backend.OrtTransformer for the measurements.
SUB_BATCH = 8
# Where a model folder keeps its ONNX files (where sentence-transformers' ONNX backend puts them).
ONNX_FILES = {"onnx": "onnx/model.onnx", "onnx-int8": "onnx/model_qint8.onnx"}
_DOCUMENT_PROMPTS = ("document", "passage", "corpus")  # sentence-transformers' order for encode_document


def make_session(path: Path) -> Any:
    """One ONNX Runtime session on one intra-op thread, with no thread pool of its own: nothing to
    spin on a shared two-core server, and nothing that a fork of the web process (serve
    --workers N) could lose."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def hidden_states(session: Any, ids: np.ndarray, mask: np.ndarray, threads: int) -> np.ndarray:
    """The last hidden states of a right-padded batch, as one ONNX call would give them.

    A batch is cut into sub-batches of SUB_BATCH rows of similar length, each trimmed to its own
    longest row, and `threads` of them run at once (ONNX Runtime releases the GIL). Padded
    positions stay zero: pooling drops them by the mask. A batch of one, or one padded on the
    left, runs whole."""
    right_padded = bool((mask[:, :-1] >= mask[:, 1:]).all())
    if ids.shape[0] == 1 or not right_padded:
        (hidden,) = session.run(None, {"input_ids": ids, "attention_mask": mask})
        return hidden
    lengths = mask.sum(axis=1)
    order = np.argsort(-lengths, kind="stable")
    parts = [order[i : i + SUB_BATCH] for i in range(0, len(order), SUB_BATCH)]

    def run(rows: np.ndarray) -> tuple[np.ndarray, int, np.ndarray]:
        width = max(1, int(lengths[rows].max()))
        (out,) = session.run(None, {"input_ids": ids[rows, :width], "attention_mask": mask[rows, :width]})
        return rows, width, out

    workers = min(max(1, threads), len(parts))
    if workers == 1:
        results = [run(part) for part in parts]
    else:
        # A pool per batch, not one kept: a pool made before `serve --workers N` forks would have
        # no threads in the answering processes, and a batch there would wait forever.
        with ThreadPoolExecutor(workers, thread_name_prefix="onnx") as pool:
            results = list(pool.map(run, parts))
    hidden = np.zeros((*ids.shape, results[0][2].shape[-1]), dtype=results[0][2].dtype)
    for rows, width, out in results:
        hidden[rows, :width] = out
    return hidden


@dataclass(frozen=True)
class Layout:
    """What a sentence-transformers folder says about turning text into a vector."""

    query_prompt: str
    document_prompt: str
    max_tokens: int


def read_layout(folder: Path) -> Layout | None:
    """The folder's layout when this module reproduces it exactly, else None."""
    try:
        modules = json.loads((folder / "modules.json").read_text(encoding="utf-8"))
        kinds = [m["type"].rsplit(".", 1)[-1] for m in modules]
        if kinds not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]):
            return None
        pooling = json.loads((folder / modules[1]["path"] / "config.json").read_text(encoding="utf-8"))
        modes = {k for k, v in pooling.items() if k.startswith("pooling_mode_") and v}
        bert = json.loads((folder / "sentence_bert_config.json").read_text(encoding="utf-8"))
        if (modes != {"pooling_mode_mean_tokens"} or not pooling.get("include_prompt", True)
                or bert.get("do_lower_case") or not bert.get("max_seq_length")
                or not (folder / "tokenizer.json").is_file()):
            return None
        prompts_file = folder / "config_sentence_transformers.json"
        prompts = json.loads(prompts_file.read_text(encoding="utf-8")).get("prompts") if prompts_file.is_file() else None
    except (OSError, ValueError, KeyError, IndexError, TypeError, AttributeError):
        return None
    prompts = prompts or {}
    document = next((prompts[name] for name in _DOCUMENT_PROMPTS if name in prompts), "")
    return Layout(prompts.get("query", ""), document, int(bert["max_seq_length"]))


class OnnxEmbedder:
    """The Embedder of a model folder run by ONNX Runtime (see the module docstring). The
    tokenizer and the session are made on first use, as the torch model's ONNX session was."""

    def __init__(self, name: str, folder: Path, onnx_path: Path, layout: Layout, backend: str, threads: int) -> None:
        self.name = name
        self.backend = backend
        self.layout = layout
        self.threads = max(1, threads)
        self._folder = Path(folder)
        self._onnx_path = Path(onnx_path)
        self._session: Any = None
        self._tokenizer: Any = None
        config = json.loads((self._folder / "config.json").read_text(encoding="utf-8"))
        self.dim: int = int(config["hidden_size"])

    def session(self) -> Any:
        if self._session is None:
            self._session = make_session(self._onnx_path)
        return self._session

    def tokenizer(self) -> Any:
        if self._tokenizer is None:
            from tokenizers import Tokenizer

            tokenizer = Tokenizer.from_file(str(self._folder / "tokenizer.json"))
            tokenizer.enable_truncation(self.layout.max_tokens)
            tokenizer.no_padding()
            self._tokenizer = tokenizer
        return self._tokenizer

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        """Float32 rows of unit length, one per query. A single question runs on the calling
        thread: one thread is as fast as two for it (scripts/bench_query_threads.py)."""
        return self._encode(texts, self.layout.query_prompt)

    def encode_passages(self, texts: list[str], show_progress: bool = False, batch_size: int = 32) -> np.ndarray:
        """Float32 rows of unit length, one per passage, `batch_size` at a time (longest first,
        so that a batch's padding is small)."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        rows = np.zeros((len(texts), self.dim), dtype=np.float32)
        with tqdm(total=len(texts), unit="段", disable=not show_progress) as bar:
            for start in range(0, len(order), batch_size):
                batch = order[start : start + batch_size]
                rows[batch] = self._encode([texts[i] for i in batch], self.layout.document_prompt)
                bar.update(len(batch))
        return rows

    def _encode(self, texts: list[str], prompt: str) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        encodings = self.tokenizer().encode_batch([prompt + text for text in texts])
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(encodings), width), dtype=np.int64)
        mask = np.zeros((len(encodings), width), dtype=np.int64)
        for row, encoding in enumerate(encodings):
            ids[row, : len(encoding.ids)] = encoding.ids
            mask[row, : len(encoding.ids)] = encoding.attention_mask
        hidden = hidden_states(self.session(), ids, mask, self.threads)
        weights = mask[..., None].astype(hidden.dtype)  # mean over the text's tokens, padding left out
        vectors = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)

