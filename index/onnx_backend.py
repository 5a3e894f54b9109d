"""ONNX Runtime as the engine inside a sentence-transformers model: fp32, or int8 weights.

Why not `SentenceTransformer(path, backend="onnx")`: sentence-transformers' ONNX backend loads the
model through optimum-onnx, and the newest optimum-onnx on PyPI (0.1.0) requires transformers<4.58
and fails to import under transformers 5 (`is_offline_mode`, `get_parameter_dtype`,
`_CAN_RECORD_REGISTRY` are gone), while sentence-transformers 6 requires transformers>=5. So the
`sentence-transformers[onnx]` extra cannot be installed with this stack.

What stays the same: the model is an ordinary SentenceTransformer, whose tokenizer, prompts,
batching, mean pooling and normalization all run as before. Only the transformer's forward pass is
handed to ONNX Runtime, in the place and with the interface the ONNX backend uses
(`Transformer.model`, called with input_ids and attention_mask, returning last_hidden_state). The
files go where that backend puts them (`onnx/model.onnx` in the model folder), and int8 is
onnxruntime's dynamic quantization, the call optimum's `ORTQuantizer` (and so
`export_dynamic_quantized_onnx_model`) makes.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

ONNX_FILES = {"onnx": "onnx/model.onnx", "onnx-int8": "onnx/model_qint8.onnx"}
OPSET = 17


def onnx_file(model_folder: Path, backend: str) -> Path:
    """The backend's ONNX file in `model_folder`, exported (and quantized) on first use.

    Each file appears whole (written beside it, then renamed), so a crash or a second process
    never sees half a model; two processes exporting at once both finish, and either file is good.
    """
    if backend not in ONNX_FILES:
        raise ValueError(f"no ONNX file for backend {backend!r}")
    folder = Path(model_folder)
    target = folder / ONNX_FILES[backend]
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".onnx-", dir=target.parent) as tmp:
        written = Path(tmp) / target.name
        if backend == "onnx":
            _export_fp32(folder, written)
        else:
            _quantize_int8(onnx_file(folder, "onnx"), written)
        os.chmod(written, 0o644)  # a shareable cache of public weights, like the converted folder
        os.replace(written, target)
    return target


def _export_fp32(model_folder: Path, out: Path) -> None:
    """Trace the folder's transformer (input_ids, attention_mask -> last_hidden_state) to ONNX."""
    from transformers import AutoModel

    # eager attention: the traced graph then has no branch on a Python-level mask check
    model = AutoModel.from_pretrained(str(model_folder), attn_implementation="eager").eval()

    class Hidden(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            return self.inner(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    sample = torch.ones((2, 8), dtype=torch.long)
    axes = {0: "batch", 1: "tokens"}
    with torch.no_grad():
        torch.onnx.export(
            Hidden(model),
            (sample, sample),
            str(out),
            input_names=["input_ids", "attention_mask"],
            output_names=["last_hidden_state"],
            dynamic_axes={"input_ids": axes, "attention_mask": axes, "last_hidden_state": axes},
            opset_version=OPSET,
            dynamo=False,  # the TorchScript exporter needs no onnxscript and handles BERT fully
        )


def _quantize_int8(fp32: Path, out: Path) -> None:
    """Dynamic int8 quantization of the matrix products (weights int8, activations quantized per
    batch at run time), as optimum's avx512_vnni config does it. The word-embedding table stays
    float32: it is a lookup, not arithmetic, so quantizing it would cost accuracy and save no time."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        str(fp32), str(out), weight_type=QuantType.QInt8, per_channel=True, op_types_to_quantize=["MatMul"]
    )


class OrtTransformer(torch.nn.Module):
    """Stands in for the Hugging Face model inside sentence-transformers' `Transformer` module.

    One session on every allowed core, made on first use, for passages and questions alike. Unlike
    torch (see Embedder.encode_queries), ONNX Runtime with idle threads that sleep instead of
    spinning answers a single question faster on two threads than on one, even on a busy machine:
    p50 124 against 161 ms, p95 214 against 229 ms at load average 12 on two cores
    (scripts/bench_query_threads.py, docs/benchmark.md); one session also holds the weights once.
    """

    def __init__(self, path: Path, config: Any, threads: int) -> None:
        super().__init__()
        self.path = Path(path)
        self.config = config  # sentence-transformers reads model.config (hidden size, flags)
        self.threads = threads
        self.single_threads = threads  # for a batch of one; scripts/bench_query_threads.py varies it
        self._sessions: dict[int, Any] = {}

    def _session(self, threads: int) -> Any:
        session = self._sessions.get(threads)
        if session is None:
            import onnxruntime as ort

            options = ort.SessionOptions()
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            # Spinning threads burn a core while they wait; on a shared two-core server they
            # would slow the other worker and the web server for nothing.
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
            self._sessions[threads] = session
        return session

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **_: Any) -> dict[str, Any]:
        ids = input_ids.cpu().numpy().astype(np.int64, copy=False)
        mask = attention_mask.cpu().numpy().astype(np.int64, copy=False)
        threads = self.single_threads if ids.shape[0] == 1 else self.threads
        (hidden,) = self._session(threads).run(None, {"input_ids": ids, "attention_mask": mask})
        return {"last_hidden_state": torch.from_numpy(hidden)}


def use_onnx(st_model: SentenceTransformer, model_folder: Path, backend: str, threads: int) -> None:
    """Swap the loaded model's transformer for ONNX Runtime, dropping the torch weights."""
    transformer = st_model[0]
    config = transformer.model.config
    transformer.model = OrtTransformer(onnx_file(model_folder, backend), config, threads)


def remove_exports(model_folder: Path) -> None:
    """Delete the exported ONNX files (they are made again on next use)."""
    shutil.rmtree(Path(model_folder) / "onnx", ignore_errors=True)
