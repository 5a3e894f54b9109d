"""All configuration in one place: defaults, overridden by UNIONQA_* environment
variables, overridden by command-line flags."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from corpus import DEFAULT_CORPUS_DIR
from index.embedder import DEFAULT_MODEL
from index.paths import default_model_cache, unionqa_home
from index.store import IndexSettings


def default_workers() -> int:
    """One answering process per usable CPU core, at most 4: each holds only its own
    small part of the shared model memory (docs/deploy.md), and beyond 4 a small
    office server gains little."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, 4))


@dataclass(frozen=True)
class Config:
    corpus_dir: Path = DEFAULT_CORPUS_DIR
    index_dir: Path = field(default_factory=lambda: unionqa_home() / "index")
    model_cache: Path = field(default_factory=default_model_cache)
    embedding_model: str = DEFAULT_MODEL
    chunk_chars: int = 300
    chunk_overlap: int = 1
    top_k: int = 5
    host: str = "127.0.0.1"
    port: int = 7860
    max_question_chars: int = 500
    # portal origins allowed to embed the chat (frame-ancestors and CORS); empty: own origin only
    allowed_origins: tuple[str, ...] = ()
    feedback_log: Path = field(default_factory=lambda: unionqa_home() / "feedback.jsonl")
    admin_token: str = ""  # the admin page is off unless a token is set
    max_upload_mb: int = 20  # largest file the admin page accepts
    # a union's own domain dictionary, added to the bundled one (docs/dictionary.md)
    dictionary: Path | None = None
    # answering processes of `unionqa serve` (ui/workers.py); 1 answers in the web process itself
    workers: int = field(default_factory=default_workers)
    # questions in flight (answered or waiting) per answering process before a 503 with Retry-After
    queue_per_worker: int = 64
    # the JSON-line logs hold questions only when this is set (they are personal data)
    log_questions: bool = False

    def index_settings(self) -> IndexSettings:
        return IndexSettings(self.embedding_model, self.chunk_chars, self.chunk_overlap)


# name -> (environment variable, command-line flag, help)
_OPTIONS = {
    "corpus_dir": ("UNIONQA_CORPUS_DIR", "--corpus", "文档目录 (corpus folder)"),
    "index_dir": ("UNIONQA_INDEX_DIR", "--index", "索引目录 (index folder)"),
    "model_cache": ("UNIONQA_MODEL_CACHE", "--model-cache", "模型缓存目录 (converted model cache)"),
    "embedding_model": ("UNIONQA_EMBEDDING_MODEL", "--model", "向量模型: 默认内置 e5，或本地的 sentence-transformers 模型名/路径"),
    "chunk_chars": ("UNIONQA_CHUNK_CHARS", "--chunk-chars", "分段目标长度（字）"),
    "chunk_overlap": ("UNIONQA_CHUNK_OVERLAP", "--chunk-overlap", "相邻分段重叠的句数"),
    "top_k": ("UNIONQA_TOP_K", "--top-k", "检索段落数"),
    "host": ("UNIONQA_HOST", "--host", "监听地址"),
    "port": ("UNIONQA_PORT", "--port", "监听端口"),
    "max_question_chars": ("UNIONQA_MAX_QUESTION_CHARS", "--max-question-chars", "问题最大长度（字）"),
    "allowed_origins": ("UNIONQA_ALLOWED_ORIGINS", "--allowed-origins", "允许嵌入本聊天的门户来源，逗号分隔"),
    "feedback_log": ("UNIONQA_FEEDBACK_LOG", "--feedback-log", "反馈日志文件 (JSON lines)"),
    "admin_token": ("UNIONQA_ADMIN_TOKEN", "--admin-token", "管理页口令；不设置则不开启管理页"),
    "max_upload_mb": ("UNIONQA_MAX_UPLOAD_MB", "--max-upload-mb", "管理页上传文件的大小上限（MB）"),
    "dictionary": ("UNIONQA_DICTIONARY", "--dictionary", "本单位的领域词典文件（格式见 docs/dictionary.md），与内置词典合用"),
    "workers": ("UNIONQA_WORKERS", "--workers", "回答问题的进程数（默认：CPU 核数，最多 4）"),
    "queue_per_worker": ("UNIONQA_QUEUE_PER_WORKER", "--queue-per-worker", "每个回答进程最多排队的问题数，超出时返回 503"),
    "log_questions": ("UNIONQA_LOG_QUESTIONS", "--log-questions", "在日志中记录问题原文（默认不记录）"),
}

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off", "")


def _convert(name: str, value: str):
    kind = {f.name: f.type for f in fields(Config)}[name]
    if "Path" in str(kind):
        return Path(value).expanduser()
    if kind in ("int", int):
        number = int(value)
        if number < 1 and name in ("workers", "queue_per_worker"):
            raise ValueError(value)
        return number
    if kind in ("bool", bool):
        if value.strip().lower() not in _TRUE + _FALSE:
            raise ValueError(value)
        return value.strip().lower() in _TRUE
    if "tuple" in str(kind):
        return tuple(v.strip().rstrip("/") for v in value.split(",") if v.strip())
    return value


class ConfigError(Exception):
    pass


def from_env(environ: dict[str, str] | None = None) -> Config:
    environ = os.environ if environ is None else environ
    changes = {}
    for name, (var, _, _) in _OPTIONS.items():
        if environ.get(var):
            try:
                changes[name] = _convert(name, environ[var])
            except ValueError as exc:
                raise ConfigError(f"环境变量 {var} 的值无效：{environ[var]!r}") from exc
    return replace(Config(), **changes)


def add_flags(parser: argparse.ArgumentParser, names: list[str]) -> None:
    for name in names:
        _, flag, help_text = _OPTIONS[name]
        if "bool" in str({f.name: f.type for f in fields(Config)}[name]):
            parser.add_argument(flag, dest=name, action="store_const", const="1", default=None, help=help_text)
        else:
            parser.add_argument(flag, dest=name, default=None, help=help_text)


def resolve(args: argparse.Namespace, environ: dict[str, str] | None = None) -> Config:
    """Defaults < environment < flags."""
    config = from_env(environ)
    changes = {}
    for name in _OPTIONS:
        value = getattr(args, name, None)
        if value is not None:
            try:
                changes[name] = _convert(name, value)
            except ValueError as exc:
                raise ConfigError(f"参数 {_OPTIONS[name][1]} 的值无效：{value!r}") from exc
    return replace(config, **changes)
