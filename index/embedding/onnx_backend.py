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
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from index.embedding.onnx_runtime import ONNX_FILES, hidden_states, make_session

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

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
    with torch.no_grad(), warnings.catch_warnings():
        # The export is correct, and says otherwise on every first start (`make run`):
        # - two TracerWarnings, "Converting a tensor to a Python boolean", where the traced code
        #   compares sizes: torch's embedding checks padding_idx against the vocabulary size, and
        #   transformers pads the attention mask when it is shorter than the keys, which in an
        #   encoder it never is. Both are the same for every input, so baking them in as
        #   constants is right (tests/test_onnx_export.py runs other batch sizes, lengths and
        #   padding through the exported graph);
        # - the aten::index warning that negative indices would go wrong: the model indexes with
        #   positions and token ids, never negative;
        # - the legacy exporter's deprecation notices: it is chosen on purpose (dynamo=False below).
        warnings.filterwarnings("ignore", "Converting a tensor to a Python boolean", torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", "Exporting aten::index operator of advanced indexing", UserWarning)
        warnings.filterwarnings("ignore", "You are using the legacy TorchScript-based ONNX export", DeprecationWarning)
        warnings.filterwarnings("ignore", "The feature will be removed", DeprecationWarning)
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

    One ONNX Runtime session on one intra-op thread, made on first use, for passages and questions
    alike (one session holds the weights once; a second costs about 470 MB).

    A question (a batch of one) runs on the calling thread. A batch of passages is cut into
    sub-batches of `index.embedding.onnx_runtime.SUB_BATCH` rows of similar length, each trimmed to its own longest row, and
    `threads` of them run at once (ONNX Runtime releases the GIL). Neither changes a vector (cosine
    1.0000, tests/test_backends.py), and together they make a build's embedding about 1.75x as fast:
    - padding: sentence-transformers pads a batch of 32 to its longest text, sorted by characters,
      not tokens; that computed 27 % (chunks) and 35 % (sentences) more tokens than the texts have,
      trimmed sub-batches 6-7 % (CMRC trial, 60 paragraphs);
    - threads: one operator split over two threads waits at every step for the slower one, which on
      a shared machine is often not running; whole sub-batches on their own thread never wait.
    Measured on the same batches in one run (load average 6 on two cores): 1.75x the single
    two-thread session on whole batches, of which trimming alone gave 1.26x (docs/benchmark.md).
    One thread is as fast as two for a single question (p50 17.9 against 17.3 ms, same load,
    scripts/bench_query_threads.py), and is what `serve --workers N` wants: one core per process.
    """

    def __init__(self, path: Path, config: Any, threads: int) -> None:
        super().__init__()
        self.path = Path(path)
        self.config = config  # sentence-transformers reads model.config (hidden size, flags)
        self.threads = max(1, threads)  # sub-batches run at once
        self._session: Any = None

    def session(self) -> Any:
        if self._session is None:
            self._session = make_session(self.path)
        return self._session

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **_: Any) -> dict[str, Any]:
        ids = input_ids.cpu().numpy().astype(np.int64, copy=False)
        mask = attention_mask.cpu().numpy().astype(np.int64, copy=False)
        return {"last_hidden_state": torch.from_numpy(hidden_states(self.session(), ids, mask, self.threads))}


def use_onnx(st_model: SentenceTransformer, model_folder: Path, backend: str, threads: int) -> None:
    """Swap the loaded model's transformer for ONNX Runtime, dropping the torch weights."""
    transformer = st_model[0]
    config = transformer.model.config
    transformer.model = OrtTransformer(onnx_file(model_folder, backend), config, threads)


def remove_exports(model_folder: Path) -> None:
    """Delete the exported ONNX files (they are made again on next use)."""
    shutil.rmtree(Path(model_folder) / "onnx", ignore_errors=True)
