"""What the command groups of `unionqa` share: the index flags, building the index and loading
the bot from the configuration, the approved answers kept in step with the index, and the
width of Chinese text in a terminal table."""

from __future__ import annotations

import sys
import unicodedata

from ui import config as cfg

INDEX_FLAGS = ["corpus_dir", "index_dir", "model_cache", "embedding_model", "embedding_backend", "chunk_chars",
               "chunk_overlap"]


def build(config: cfg.Config, progress: bool = True, keep_added: bool = True):
    """Rebuild the index; returns the loaded embedding model, for a caller that goes on to answer."""
    from index.build import build_index
    from index.embedding.embedder import load_embedder

    print(f"正在建立索引：{config.corpus_dir} → {where(config)}", file=sys.stderr)
    embedder = load_embedder(config.embedding_model, config.model_cache, backend=config.embedding_backend)
    report = build_index(
        config.corpus_dir, config.index_dir, config.index_settings(), embedder, progress=progress, keep_added=keep_added,
        ann_threshold=config.ann_threshold, store=config.store,
    )
    for issue in report.issues:
        print(f"  未能读取 {issue.path}：{issue.reason}", file=sys.stderr)
    print(f"索引完成：{report.summary()}", file=sys.stderr)
    sync_curated(config)
    return embedder


def where(config: cfg.Config) -> str:
    """Where the index is kept, for messages: the index folder or the Milvus store."""
    from index.store.spec import parse_store

    return parse_store(config.store).describe(config.index_dir)


def index_exists(config: cfg.Config) -> bool:
    """Whether the index folder holds an index, complete or not (else `serve` and `ask` build
    one first). A broken one is never rebuilt from the corpus behind the user's back: that
    would drop the documents added to it. Loading it falls back to its newest complete
    version, or refuses with what to do (index.store.folder.IndexStore.load)."""
    from index.store.spec import has_index

    return has_index(config.store, config.index_dir)


def make_generator(config: cfg.Config):
    """The LLM answer writer when an LLM server is configured, else None."""
    settings = config.llm_settings()
    if settings is None:
        return None
    from bot.llm.client import LLMClient
    from bot.llm.generate import Generator

    return Generator(LLMClient(settings))


def load_bot(config: cfg.Config):
    """Load the bot, building the index first if there is none yet."""
    from bot.bot import Bot
    from index.lexicon import load_lexicon

    embedder = None if index_exists(config) else build(config)
    return Bot.load(
        config.index_dir,
        model_cache=config.model_cache,
        expected=config.index_settings(),
        top_k=config.top_k,
        embedder=embedder,
        lexicon=load_lexicon(config.dictionary),
        generator=make_generator(config),
        store=config.store,
    )


def curated_store(config: cfg.Config):
    from bot.curated_store import CuratedStore, curated_path

    return CuratedStore(curated_path(config.index_dir))


def live_documents(config: cfg.Config) -> dict:
    from index.store.spec import read_documents

    return {d.doc_id: d for d in read_documents(config.store, config.index_dir)}


def sync_curated(config: cfg.Config) -> None:
    """After the index changed: suspend the approved answers whose cited documents changed."""
    from bot.curated import CuratedError

    store = curated_store(config)
    if not store.path.exists():
        return
    try:
        suspended = store.sync(live_documents(config))
    except CuratedError as exc:  # the index is saved all the same: say so, and what to fix
        print(f"索引已更新，但审核回答未能复核：{exc}", file=sys.stderr)
        return
    if suspended:
        print(f"所引文档有变动，{len(suspended)} 条审核回答已暂停，需复核：{'、'.join(suspended)}"
              "（unionqa curated list 查看）", file=sys.stderr)


def display_width(text: str) -> int:
    """Columns a terminal gives the text: Chinese characters take two."""

    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)
