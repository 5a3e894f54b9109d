"""The `unionqa` command: build, ask, serve (and more), with clear messages
instead of tracebacks for the errors a user can fix."""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

from ui import config as cfg

INDEX_FLAGS = ["corpus_dir", "index_dir", "model_cache", "embedding_model", "chunk_chars", "chunk_overlap"]


def _user_errors() -> tuple[type[Exception], ...]:
    from corpus.loader import LoadError
    from index.build import BuildError
    from index.embedder import EmbedderError
    from index.store import StoreError

    return (cfg.ConfigError, LoadError, BuildError, EmbedderError, StoreError)


def build(config: cfg.Config, progress: bool = True) -> None:
    from index.build import build_index
    from index.embedder import load_embedder

    print(f"正在建立索引：{config.corpus_dir} → {config.index_dir}", file=sys.stderr)
    embedder = load_embedder(config.embedding_model, config.model_cache)
    report = build_index(config.corpus_dir, config.index_dir, config.index_settings(), embedder, progress=progress)
    for issue in report.issues:
        print(f"  未能读取 {issue.path}：{issue.reason}", file=sys.stderr)
    print(f"索引完成：{report.summary()}", file=sys.stderr)


def load_bot(config: cfg.Config):
    """Load the bot, building the index first if there is none yet."""
    from bot.bot import Bot
    from index.store import IndexMissingError, live_version

    try:
        live_version(config.index_dir)
    except IndexMissingError:
        build(config)
    return Bot.load(
        config.index_dir, model_cache=config.model_cache, expected=config.index_settings(), top_k=config.top_k
    )


def format_answer(answer) -> str:
    lines = [answer.text]
    if answer.citations:
        lines.append("")
        lines.append("来源：")
        for c in answer.citations:
            where = " ".join(part for part in (c.section, c.article, f"第{c.page}页" if c.page else "") if part)
            lines.append(f"[{c.n}] 《{c.title}》{(' ' + where) if where else ''}")
            lines.append(f"    {c.text}")
    return "\n".join(lines)


def cmd_build(args: argparse.Namespace) -> int:
    build(cfg.resolve(args), progress=not args.quiet)
    return 0


def cmd_ask(args: argparse.Namespace) -> int:
    config = cfg.resolve(args)
    question = " ".join(args.question).strip()
    if not question:
        raise cfg.ConfigError("问题不能为空。")
    bot = load_bot(config)
    started = time.perf_counter()
    answer = bot.ask(question)
    elapsed = time.perf_counter() - started
    if args.json:
        print(json.dumps(asdict(answer), ensure_ascii=False, indent=2))
    else:
        print(format_answer(answer))
        print(f"\n（用时 {elapsed * 1000:.0f} 毫秒）", file=sys.stderr)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from ui.server import serve

    config = cfg.resolve(args)
    serve(config, load_bot(config))
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from bot.evaluate import evaluate, format_table
    from index.embedder import load_embedder
    from index.store import IndexStore

    config = cfg.resolve(args)
    if args.dataset is None and args.negatives is None:
        raise cfg.ConfigError("请给出 --dataset 或 --negatives。")
    for path in (args.dataset, args.negatives):
        if path is not None and not Path(path).is_file():
            raise cfg.ConfigError(f"找不到数据文件：{path}")
    embedder = load_embedder(config.embedding_model, config.model_cache)
    negatives_store = None
    if args.dataset is None:
        load_bot(config)  # builds the bundled-corpus index if there is none yet
        negatives_store = IndexStore.load(config.index_dir, expected=config.index_settings())
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    try:
        report = evaluate(
            embedder,
            config.index_settings(),
            modes,
            dataset=Path(args.dataset) if args.dataset else None,
            negatives=Path(args.negatives) if args.negatives else None,
            negatives_store=negatives_store,
            limit=args.limit,
        )
    except (ValueError, KeyError) as exc:
        raise cfg.ConfigError(f"评测失败：{exc}") from exc
    report["machine"] = machine_description()
    print(format_table(report))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
        print(f"报告已写入 {args.out}", file=sys.stderr)
    return 0


def machine_description() -> str:
    import os
    import platform

    return f"{platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="unionqa", description="工会知识问答：基于本地文档、带引用的问答")
    sub = p.add_subparsers(dest="command", required=True)

    b = sub.add_parser("build", help="从文档目录重建索引")
    cfg.add_flags(b, INDEX_FLAGS)
    b.add_argument("--quiet", action="store_true", help="不显示进度条")
    b.set_defaults(func=cmd_build)

    a = sub.add_parser("ask", help="提一个问题，打印答案与来源")
    cfg.add_flags(a, INDEX_FLAGS + ["top_k"])
    a.add_argument("--json", action="store_true", help="以 JSON 输出 Answer")
    a.add_argument("question", nargs="+", help="问题")
    a.set_defaults(func=cmd_ask)

    e = sub.add_parser("eval", help="在 SQuAD 格式的问答数据上评测检索与回答质量")
    cfg.add_flags(e, INDEX_FLAGS)
    e.add_argument("--dataset", help="SQuAD 格式 JSON，例如 CMRC 2018")
    e.add_argument("--modes", default="hybrid,bm25,dense", help="逗号分隔：hybrid,bm25,dense")
    e.add_argument("--negatives", help="另一份数据的问题，作为知识库无法回答的问题，测拒答率")
    e.add_argument("--limit", type=int, default=None, help="只用前 N 个段落（快速检查）")
    e.add_argument("--out", help="JSON 报告路径")
    e.set_defaults(func=cmd_eval)

    s = sub.add_parser("serve", help="启动网页聊天（Gradio）与 REST API")
    cfg.add_flags(
        s,
        INDEX_FLAGS
        + ["top_k", "host", "port", "max_question_chars", "allowed_origins", "feedback_log", "admin_token"],
    )
    s.set_defaults(func=cmd_serve)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except _user_errors() as exc:
        print(f"错误：{exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
