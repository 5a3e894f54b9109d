"""The `unionqa` command: build, ask, serve (and more), with clear messages
instead of tracebacks for the errors a user can fix."""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

from corpus.errors import UnionQAError
from ui import config as cfg
from ui.cli_curated import add_curated_parsers
from ui.cli_eval import add_eval_parsers
from ui.cli_shared import (
    INDEX_FLAGS,
    build,
    display_width,
    index_exists,
    load_bot,
    sync_curated,
    where,
)


def format_answer(answer) -> str:
    lines = [f"（{answer.notice}）"] if answer.notice else []
    lines.append(answer.text)
    headings = {"": "来源：", "see_also": "另见：", "other": "其他相关规定："}
    shown = ""
    for c in answer.citations:
        role = getattr(c, "role", "")
        if role != shown or c is answer.citations[0]:
            lines.extend(["", headings.get(role, "来源：")])
            shown = role
        where = " ".join(part for part in (c.section, c.article, f"第{c.page}页" if c.page else "") if part)
        version = f"（{c.version}）" if getattr(c, "version", "") else ""
        lines.append(f"[{c.n}] 《{c.title}》{version}{(' ' + where) if where else ''}")
        lines.extend(f"    {line}" for line in c.text.splitlines())
    return "\n".join(lines)


def cmd_build(args: argparse.Namespace) -> int:
    build(cfg.resolve(args), progress=not args.quiet, keep_added=not args.corpus_only)
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
    import os

    # The server's stderr is its log, one JSON line each (ui/logs.py): no progress bars in it.
    os.environ.setdefault("TQDM_DISABLE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    from dataclasses import replace

    from index.store.spec import parse_store

    config = cfg.resolve(args)
    settings = config.llm_settings()
    if settings is not None:  # never the key
        print(f"大模型：{settings.base_url}（模型 {settings.model or '服务列出的第一个'}，时限 {settings.timeout:g} 秒）",
              flush=True)
    milvus = parse_store(config.store).milvus
    if config.workers > 1 and milvus is not None and milvus.lite:
        # milvus-lite lets one process open its file: the answering processes could not
        print("Milvus Lite 只能由一个进程打开：以 1 个回答进程运行（多个进程请用 Milvus 服务器）。", file=sys.stderr)
        config = replace(config, workers=1)
    if config.workers > 1:
        from ui.workers import single_threaded_native

        # The answering processes are forks of this one, and torch's OpenMP threads do not
        # survive a fork: a missing index is built in a child of its own, and this process
        # keeps torch on one thread (see ui/workers.py).
        _build_in_child_if_missing(config)
        single_threaded_native()
    bot = load_bot(config)
    # Gradio takes seconds to import: only once the index has loaded, so that a broken or
    # mismatched index is reported at once.
    from ui.server import serve

    serve(config, bot)
    return 0


def cmd_llm_check(args: argparse.Namespace) -> int:
    """Whether the LLM server answers, which models it offers, how long a short completion takes."""
    from bot.llm.client import LLMClient, LLMError

    config = cfg.resolve(args)
    settings = config.llm_settings()
    if settings is None:
        raise cfg.ConfigError("没有设置大模型服务地址：请设置 UNIONQA_LLM_BASE_URL 或使用 --llm-base-url。")
    client = LLMClient(settings)
    print(f"大模型服务：{settings.base_url}")
    try:
        started = time.perf_counter()
        models = client.models()
        print(f"可用模型（{(time.perf_counter() - started) * 1000:.0f} 毫秒）：{'、'.join(models) or '（无）'}")
        if settings.model and settings.model not in models:
            print(f"注意：设置的模型 {settings.model} 不在列表中。", file=sys.stderr)
        started = time.perf_counter()
        reply = client.complete([{"role": "user", "content": "请只回答一个字：好"}], max_tokens=16)
        elapsed = time.perf_counter() - started
    except LLMError as exc:
        print(f"错误：{exc}", file=sys.stderr)
        return 1
    print(f"模型 {client.model} 的简短回答用时 {elapsed * 1000:.0f} 毫秒：{reply.strip()[:40]!r}")
    return 0


def _build_in_child_if_missing(config: cfg.Config) -> None:
    import multiprocessing

    if index_exists(config):
        return
    child = multiprocessing.get_context("fork").Process(target=build, args=(config,))
    child.start()
    child.join()
    if child.exitcode != 0:
        raise cfg.ConfigError(f"建立索引失败（退出码 {child.exitcode}），见上面的信息。")


def cmd_add(args: argparse.Namespace) -> int:
    from index.embedding.embedder import LazyEmbedder
    from index.update import add_paths

    config = cfg.resolve(args)
    print(f"正在加入文档：{'、'.join(args.paths)} → {where(config)}", file=sys.stderr)
    # loaded only if something is to be embedded: refused or unchanged files need no model
    embedder = LazyEmbedder(config.embedding_model, config.model_cache, backend=config.embedding_backend)
    paths = [Path(p).expanduser() for p in args.paths]
    report = add_paths(config.index_dir, paths, config.index_settings(), embedder, progress=not args.quiet,
                       ann_threshold=config.ann_threshold, store=config.store)
    print_update(report)
    sync_curated(config)
    if report.created:
        print("（此前没有索引，已新建；其中只有本次加入的文档。要包含文档目录，请运行 `unionqa build` 后再加入。）")
    # Some unreadable files are reported above and are not a failure; nothing loadable at all is.
    if len(report.errors) == len(report.results):
        print("没有加入任何文档。", file=sys.stderr)
        return 1
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    from index.update import remove_documents

    config = cfg.resolve(args)
    print_update(remove_documents(config.index_dir, args.documents, config.index_settings(), config.ann_threshold,
                                  store=config.store))
    sync_curated(config)
    return 0


def print_update(report) -> None:
    for result in report.results:
        print(("  " + result.describe()), file=sys.stderr if result.status == "error" else sys.stdout)
    print(f"完成：{report.summary()}")


def cmd_list(args: argparse.Namespace) -> int:
    from index.store.spec import read_manifest
    from ui.render import listed_title

    config = cfg.resolve(args)
    rows = [
        {"doc_id": doc_id, "title": entry["title"], "chunks": entry["chunks"], "source": entry["source"],
         **{k: entry[k] for k in ("doc_number", "issued") if entry.get(k)}}
        for doc_id, entry in sorted(read_manifest(config.store, config.index_dir).documents.items())
    ]
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    table = [("编号", "标题", "段落数", "来源")]
    table += [(r["doc_id"], listed_title(r["title"], r), str(r["chunks"]), r["source"]) for r in rows]
    widths = [max(display_width(row[i]) for row in table) for i in range(4)]
    for row in table:
        cells = [cell + " " * (width - display_width(cell)) for cell, width in zip(row, widths, strict=True)]
        print("  ".join(cells).rstrip())
    print(f"共 {len(rows)} 篇文档", file=sys.stderr)
    return 0


def cmd_log_fit_groups(args: argparse.Namespace) -> int:
    """Fit the console's grouping distance for the embedding model (ui/questiongroups.py)."""
    from bot.eval.qa_data import load_qa
    from index.embedding.embedder import load_embedder
    from index.store.versions import write_atomic
    from ui.questiongroups import FITTED_DISTANCES, DistanceError, fit_distance

    config = cfg.resolve(args)
    texts: list[str] = []
    golds: list[object] = []
    for path in args.qa:
        for item in load_qa(Path(path)).answerable:
            texts.append(item.question)
            golds.append((item.doc, item.article) if item.doc and item.article else (path, item.golds[0]))
    for path in args.approved or []:
        for i, answer in enumerate(json.loads(Path(path).read_text(encoding="utf-8"))["answers"]):
            for question in [answer["question"], *answer.get("phrasings", [])]:
                texts.append(question)
                golds.append((path, i))
    embedder = load_embedder(config.embedding_model, config.model_cache, backend=config.embedding_backend)
    try:
        fit = fit_distance(texts, golds, embedder.encode_queries)
    except DistanceError as exc:
        raise cfg.ConfigError(str(exc)) from exc
    out = Path(args.out) if args.out else FITTED_DISTANCES
    data = json.loads(out.read_text(encoding="utf-8")) if out.is_file() else {}
    data["about"] = ("The staff console's grouping distance per embedding model (ui/questiongroups.py): the cosine "
                     "distance threshold of the agglomerative clustering whose groups agree best (adjusted Rand "
                     "index) with the gold groups of the questions below. The command refits it.")
    data["command"] = ("unionqa log fit-groups" + "".join(f" --qa {q}" for q in args.qa)
                       + "".join(f" --approved {a}" for a in args.approved or []) + " [--model M], once per model")
    data.setdefault("models", {})[config.embedding_model] = {
        "distance": fit.distance, "adjusted_rand": fit.ari, "pair_precision": fit.precision,
        "pair_recall": fit.recall, "questions": fit.questions, "gold_groups": fit.gold_groups,
        "grid": [[d, a] for d, a in fit.table],
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(out, json.dumps(data, ensure_ascii=False, indent=1) + "\n")
    print(f"{config.embedding_model}：分组距离 {fit.distance}（调整兰德指数 {fit.ari}，同组问题对的精确率 {fit.precision}、"
          f"召回率 {fit.recall}；{fit.questions} 个问题，{fit.gold_groups} 个标注组）→ {out}")
    return 0


def cmd_log_purge(args: argparse.Namespace) -> int:
    """Delete logged questions: those asked before a date, or all of them."""
    from datetime import datetime

    from ui.questionlog import QuestionLog

    config = cfg.resolve(args)
    path = config.question_log_path()
    if args.all == bool(args.before):
        raise cfg.ConfigError("请指定 --before 日期（YYYY-MM-DD）或 --all 之一。")
    before = None
    if args.before:
        try:
            before = datetime.strptime(args.before, "%Y-%m-%d").timestamp()  # local midnight
        except ValueError as exc:
            raise cfg.ConfigError(f"日期格式应为 YYYY-MM-DD：{args.before!r}") from exc
    if not path.exists():
        print(f"没有提问记录：{path}")
        return 0
    log = QuestionLog(path, retain=False)  # no retention pass: purge only what was asked for
    deleted = log.purge(before)
    log.close()
    print(f"已删除 {deleted} 条提问记录（{path}）")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="unionqa", description="工会知识问答：基于本地文档、带引用的问答")
    sub = p.add_subparsers(dest="command", required=True)

    b = sub.add_parser("build", help="从文档目录重建索引")
    cfg.add_flags(b, INDEX_FLAGS + ["ann_threshold", "store"])
    b.add_argument("--quiet", action="store_true", help="不显示进度条")
    b.add_argument(
        "--corpus-only", action="store_true", help="只用文档目录重建，丢弃此前用 add 或管理页单独加入的文档"
    )
    b.set_defaults(func=cmd_build)

    a = sub.add_parser("ask", help="提一个问题，打印答案与来源")
    cfg.add_flags(a, INDEX_FLAGS + ["store", "top_k", "dictionary"] + cfg.LLM_FLAGS)
    a.add_argument("--json", action="store_true", help="以 JSON 输出 Answer")
    a.add_argument("question", nargs="+", help="问题")
    a.set_defaults(func=cmd_ask)

    add_eval_parsers(sub)

    s = sub.add_parser("serve", help="启动网页聊天（Gradio）与 REST API")
    cfg.add_flags(
        s,
        INDEX_FLAGS
        + ["store", "top_k", "host", "port", "max_question_chars", "allowed_origins", "feedback_log", "admin_token"]
        + ["max_upload_mb", "dictionary", "api_keys", "api_rate_per_minute"] + cfg.LLM_FLAGS
        + ["workers", "queue_per_worker", "log_questions", "log_days", "console_group_distance", "forwarded_allow_ips"],
    )
    s.set_defaults(func=cmd_serve)

    lg = sub.add_parser("log", help="提问记录（serve --log-questions 时保存）")
    lg_sub = lg.add_subparsers(dest="log_command", required=True)
    purge = lg_sub.add_parser("purge", help="删除提问记录：某日期之前的，或全部",
                              description="提问记录 questions.sqlite3 在反馈日志文件所在的目录（默认 UNIONQA_HOME）。")
    cfg.add_flags(purge, ["feedback_log"])
    purge.add_argument("--before", metavar="YYYY-MM-DD", help="删除此日期（本地时间零点）之前的记录")
    purge.add_argument("--all", action="store_true", help="删除全部记录")
    purge.set_defaults(func=cmd_log_purge)
    fg = lg_sub.add_parser("fit-groups", help="拟合管理控制台的问题分组距离（同一出处的问题应归为一组）")
    fg.add_argument("--qa", action="append", required=True, help="评测集（可回答问题：引用同一条文或同一原文的为一组），可多次")
    fg.add_argument("--approved", action="append", help="审核回答及其问法（如 tests/data/curated_paraphrases.json），可多次")
    fg.add_argument("--out", help="输出文件（默认 bot/calibration/console_grouping.json）")
    cfg.add_flags(fg, ["model_cache", "embedding_model", "embedding_backend"])
    fg.set_defaults(func=cmd_log_fit_groups)


    llm = sub.add_parser("llm", help="本单位大模型服务（OpenAI 兼容）的连接")
    llm_sub = llm.add_subparsers(dest="llm_command", required=True)
    check = llm_sub.add_parser("check", help="检查大模型服务能否应答、提供哪些模型、简短回答的用时")
    cfg.add_flags(check, cfg.LLM_FLAGS)
    check.set_defaults(func=cmd_llm_check)

    ad = sub.add_parser("add", help="把文件或文件夹加入现有索引（未变化的跳过，变化的更新）")
    cfg.add_flags(ad, INDEX_FLAGS + ["ann_threshold", "store"])
    ad.add_argument("--quiet", action="store_true", help="不显示进度条")
    ad.add_argument("paths", nargs="+", metavar="PATH", help="文件或文件夹")
    ad.set_defaults(func=cmd_add)

    rm = sub.add_parser("remove", help="从索引中移除文档")
    cfg.add_flags(rm, INDEX_FLAGS + ["ann_threshold", "store"])
    rm.add_argument("documents", nargs="+", metavar="DOC_ID|PATH", help="文档编号（见 unionqa list）或文件路径")
    rm.set_defaults(func=cmd_remove)

    ls = sub.add_parser("list", help="列出索引中的文档")
    cfg.add_flags(ls, ["index_dir", "store"])
    ls.add_argument("--json", action="store_true", help="以 JSON 输出")
    ls.set_defaults(func=cmd_list)

    add_curated_parsers(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except UnionQAError as exc:  # every layer's errors: one line, never a traceback
        print(f"错误：{exc.line()}", file=sys.stderr)
        return 2
    except OSError as exc:  # the index cannot be written: permission, disk full …
        from ui.errors import storage_message

        print(f"错误：{storage_message(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
