"""The `unionqa` command: build, ask, serve (and more), with clear messages
instead of tracebacks for the errors a user can fix."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from corpus.errors import UnionQAError
from ui import config as cfg

INDEX_FLAGS = ["corpus_dir", "index_dir", "model_cache", "embedding_model", "embedding_backend", "chunk_chars",
               "chunk_overlap"]


def build(config: cfg.Config, progress: bool = True, keep_added: bool = True):
    """Rebuild the index; returns the loaded embedding model, for a caller that goes on to answer."""
    from index.build import build_index
    from index.embedding.embedder import load_embedder

    print(f"正在建立索引：{config.corpus_dir} → {_where(config)}", file=sys.stderr)
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


def _where(config: cfg.Config) -> str:
    """Where the index is kept, for messages: the index folder or the Milvus store."""
    from index.store.spec import parse_store

    return parse_store(config.store).describe(config.index_dir)


def _index_exists(config: cfg.Config) -> bool:
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

    embedder = None if _index_exists(config) else build(config)
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

    if _index_exists(config):
        return
    child = multiprocessing.get_context("fork").Process(target=build, args=(config,))
    child.start()
    child.join()
    if child.exitcode != 0:
        raise cfg.ConfigError(f"建立索引失败（退出码 {child.exitcode}），见上面的信息。")


def eval_setup(config: cfg.Config, args: argparse.Namespace):
    """What the eval runners (bot/eval/runners.py) need, from the configuration and the flags."""
    from bot.eval.runners import EvalSetup

    def path(value: str | None) -> Path | None:
        return Path(value) if value else None

    return EvalSetup(config.index_settings(), config.model_cache, config.corpus_dir, config.top_k, config.dictionary,
                     dataset=path(getattr(args, "dataset", None)), negatives=path(getattr(args, "negatives", None)),
                     negatives_on_corpus=bool(getattr(args, "negatives_on_corpus", False)),
                     limit=getattr(args, "limit", None), legal=path(getattr(args, "legal", None)))


def cmd_eval(args: argparse.Namespace) -> int:
    from bot.eval.qa_eval import load_qa
    from bot.eval.runners import evaluate_backends, evaluate_run
    from bot.retrieve import MODES
    from index.embedding.backends import BACKENDS

    config = cfg.resolve(args)
    qa_paths = [Path(p) for p in args.qa or []]
    if args.dataset is None and args.negatives is None and not qa_paths and args.legal is None:
        raise cfg.ConfigError("请给出 --dataset、--negatives、--qa 或 --legal。")
    for path in (args.dataset, args.negatives, args.calibration, *qa_paths):
        if path is not None and not Path(path).is_file():
            raise cfg.ConfigError(f"找不到数据文件：{path}")
    if args.legal is not None:
        from bot.eval.legal_data import load_legal

        try:
            load_legal(args.legal)  # a missing or malformed folder fails before the model loads
        except ValueError as exc:
            raise cfg.ConfigError(str(exc)) from exc
    if len({p.stem for p in qa_paths}) < len(qa_paths):
        raise cfg.ConfigError("几个 --qa 文件同名：报告按文件名区分它们，请改名后再评测。")
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = [m for m in modes if m not in MODES]
    if unknown or not modes:
        raise cfg.ConfigError(f"未知的检索模式 {'、'.join(unknown) or '（空）'}；可选：{', '.join(MODES)}")
    # read the dev files before the model loads, so that a malformed one fails at once
    try:
        qa_sets = [load_qa(p) for p in qa_paths]
    except ValueError as exc:
        raise cfg.ConfigError(str(exc)) from exc
    calibration = _read_calibration(Path(args.calibration)) if args.calibration else None

    generator = make_generator(config) if args.llm else None
    if args.llm and generator is None:
        raise cfg.ConfigError("--llm 需要大模型服务地址：请设置 UNIONQA_LLM_BASE_URL 或使用 --llm-base-url。")
    if args.llm and not qa_paths:
        raise cfg.ConfigError("--llm 评测的是职工问题评测集：请同时给出 --qa。")
    backends = [b.strip() for b in (args.backends or "").split(",") if b.strip()]
    unknown = [b for b in backends if b not in BACKENDS]
    if unknown:
        raise cfg.ConfigError(f"未知的向量计算后端 {'、'.join(unknown)}；可选：{', '.join(BACKENDS)}")
    if calibration is not None and backends:
        raise cfg.ConfigError("--calibration 与 --backends 不能同时使用：各后端用各自的校准文件。")
    setup = eval_setup(config, args)
    if not backends:
        report, printed = evaluate_run(setup, modes, qa_sets, generator, calibration)
    else:
        report, printed = evaluate_backends(setup, modes, qa_sets, backends)
    print("\n\n".join(printed))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
        print(f"报告已写入 {args.out}", file=sys.stderr)
    return 0


def _read_calibration(path: Path):
    from bot.answerability import Calibration

    try:
        return Calibration.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, KeyError, TypeError) as exc:
        raise cfg.ConfigError(f"校准文件无法读取：{path}（{exc}）") from exc


def cmd_calibrate(args: argparse.Namespace) -> int:
    from bot.answerability import user_calibration_path
    from bot.eval.calibrate import ask_legal_questions, ask_tune_questions, calibrate
    from bot.eval.evaluate import build_store, load_squad
    from bot.eval.legal_data import calibration_questions, load_legal, write_laws
    from bot.eval.qa_eval import load_qa
    from bot.eval.runners import corpus_store
    from corpus.loader import load_corpus
    from index.embedding.embedder import load_embedder
    from index.lexicon import load_lexicon

    config = cfg.resolve(args)
    qa_paths = [Path(p) for p in args.qa or []]
    if args.from_log and args.whole:
        raise cfg.ConfigError("--from-log 需要各评测集的留出部分来衡量效果，不能与 --whole 同用。")
    if not qa_paths:
        raise cfg.ConfigError("请用 --qa 给出至少一份职工问题评测集（answerable、refuse、dialogues 格式）。")
    for path in [*qa_paths, *([Path(args.squad)] if args.squad else [])]:
        if not path.is_file():
            raise cfg.ConfigError(f"找不到数据文件：{path}")
    legal = None
    try:
        for path in qa_paths:
            load_qa(path)  # a malformed file fails before the model loads
        if args.legal:
            legal = load_legal(Path(args.legal))
    except ValueError as exc:
        raise cfg.ConfigError(str(exc)) from exc
    lexicon = load_lexicon(config.dictionary)
    embedder = load_embedder(config.embedding_model, config.model_cache, backend=config.embedding_backend)
    store, _ = corpus_store(eval_setup(config, args), embedder)
    squad_store = squad_items = None
    if args.squad:
        documents, squad_items = load_squad(Path(args.squad))
        print(f"正在为评测建立内存索引：{args.squad}", file=sys.stderr)
        squad_store, _ = build_store(documents, config.index_settings(), embedder)
    legal_asked = []
    if legal is not None:
        questions, laws = calibration_questions(legal)
        with tempfile.TemporaryDirectory(prefix="unionqa-legal-") as tmp:
            write_laws(legal, laws, Path(tmp))
            loaded = load_corpus(Path(tmp))
        print(f"正在为 {len(questions)} 个法律咨询问题的 {len(laws)} 部法律建立内存索引", file=sys.stderr)
        legal_store, _ = build_store(loaded.documents, config.index_settings(), embedder)
        legal_asked = ask_legal_questions(legal_store, store, embedder, questions, config.top_k, lexicon=lexicon)
    command = "unionqa calibrate " + " ".join(f"--qa {p}" for p in qa_paths)
    command += f" --squad {args.squad}" if args.squad else ""
    command += f" --legal {args.legal}" if args.legal else ""
    command += " --whole" if args.whole else ""
    # a calibration is per model: say which, when it is not the bundled default
    command += f" --model {config.embedding_model}" if config.embedding_model != cfg.Config().embedding_model else ""
    command += " --from-log" if args.from_log else ""
    try:
        asked = ask_tune_questions(store, embedder, qa_paths, squad_store, squad_items, config.top_k, lexicon=lexicon,
                                   whole=args.whole) + legal_asked
        if args.from_log:
            calibration = _calibrate_from_log(config, args, asked, store, embedder, lexicon, qa_paths, command)
            if calibration is None:
                return 0
        else:
            calibration = calibrate(asked, notes={"command": command, "corpus": str(config.corpus_dir)})
    except ValueError as exc:
        raise cfg.ConfigError(str(exc)) from exc
    out = Path(args.out) if args.out else user_calibration_path(config.embedding_model)
    calibration.save(out)
    print(f"回答阈值 {calibration.answer_threshold}，相关阈值 {calibration.related_threshold}；"
          f"样本：{json.dumps(calibration.fitted.get('examples', {}), ensure_ascii=False)}")
    print(f"校准文件已写入 {out}（问答服务重启后生效）", file=sys.stderr)
    return 0


def _calibrate_from_log(config: cfg.Config, args: argparse.Namespace, asked, store, embedder, lexicon,
                        qa_paths: list[Path], command: str):
    """The calibration fitted with the question log's 👍/👎 (ui/logcalibration.py), after
    printing its effect on the dev sets' held-out parts; None (nothing to write) without
    --write, or when the log holds no usable votes."""
    from ui import logcalibration

    held = logcalibration.holdout_questions(qa_paths)
    rated = [r for r in logcalibration.rated_questions(config.question_log_path()) if r.question not in held]
    if not rated:
        print(f"提问记录中没有可用的 👍/👎（{config.question_log_path()}）：未改动校准文件。")
        return None
    answerable = sum(r.answerable for r in rated)
    print(f"提问记录：{len(rated)} 个有反馈的问题（可回答 {answerable} 个，其中答对 {sum(r.right for r in rated)} 个；"
          f"范围外 {len(rated) - answerable} 个），只加入调优部分", file=sys.stderr)
    ranking = logcalibration.ranking_calibration(asked)
    extra = logcalibration.log_examples(store, embedder, rated, ranking, config.top_k, lexicon)
    without, with_log = logcalibration.fit_both(asked, extra, ranking,
                                                {"command": command, "corpus": str(config.corpus_dir)})
    before = logcalibration.holdout_figures(store, embedder, without, qa_paths, config.top_k, lexicon)
    after = logcalibration.holdout_figures(store, embedder, with_log, qa_paths, config.top_k, lexicon)
    print(logcalibration.effect_table(before, after))
    if not args.write:
        print("以上是加入提问记录前后在留出部分上的效果；未写入校准文件。确认后加 --write 重新运行以写入。")
        return None
    return with_log


def cmd_add(args: argparse.Namespace) -> int:
    from index.embedding.embedder import LazyEmbedder
    from index.update import add_paths

    config = cfg.resolve(args)
    print(f"正在加入文档：{'、'.join(args.paths)} → {_where(config)}", file=sys.stderr)
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


# ----- approved answers (工会审核的回答, bot/curated.py) ------------------------------------------


def _curated_store(config: cfg.Config):
    from bot.curated import CuratedStore, curated_path

    return CuratedStore(curated_path(config.index_dir))


def _live_documents(config: cfg.Config) -> dict:
    from index.store.spec import read_documents

    return {d.doc_id: d for d in read_documents(config.store, config.index_dir)}


def sync_curated(config: cfg.Config) -> None:
    """After the index changed: suspend the approved answers whose cited documents changed."""
    from bot.curated import CuratedError

    store = _curated_store(config)
    if not store.path.exists():
        return
    try:
        suspended = store.sync(_live_documents(config))
    except CuratedError as exc:  # the index is saved all the same: say so, and what to fix
        print(f"索引已更新，但审核回答未能复核：{exc}", file=sys.stderr)
        return
    if suspended:
        print(f"所引文档有变动，{len(suspended)} 条审核回答已暂停，需复核：{'、'.join(suspended)}"
              "（unionqa curated list 查看）", file=sys.stderr)


def cmd_curated_list(args: argparse.Namespace) -> int:
    from bot.curated import REMOVED, STATE_TEXT

    config = cfg.resolve(args)
    store = _curated_store(config)
    if store.path.exists():
        store.sync(_live_documents(config))
    answers = [a for a in store.load() if args.all or a.state != REMOVED]
    if args.json:
        print(json.dumps([a.to_json() for a in answers], ensure_ascii=False, indent=2))
        return 0
    for a in answers:
        print(f"{a.id}  [{STATE_TEXT[a.state]}]  {a.approved_at}  {a.question}  （{len(a.citations)} 处引用）")
        for change in a.changes:
            print(f"    《{change.doc_id}》{'已移除' if change.removed else '已变动'}：原引用「{change.old_text}」")
            if change.current_text:
                print(f"      现在该处为「{change.current_text}」")
    print(f"共 {len(answers)} 条审核回答", file=sys.stderr)
    return 0


def _span_argument(value: str) -> tuple[str, int, int]:
    """DOC_ID:START-END"""
    doc_id, _, where = value.rpartition(":")
    start, _, end = where.partition("-")
    if not doc_id or not start.strip().isdigit() or not end.strip().isdigit():
        raise cfg.ConfigError(f"引用应写作 文档编号:起-止（如 laws/劳动合同法:120-180）：{value!r}")
    return doc_id, int(start), int(end)


def cmd_curated_add(args: argparse.Namespace) -> int:
    from bot.curated import CuratedAnswer, find_excerpt, from_bot_answer, make_span, new_id, today

    config = cfg.resolve(args)
    documents = _live_documents(config)
    spans = [make_span(documents, *_span_argument(c)) for c in args.cite or []]
    for excerpt in args.excerpt or []:
        doc_id, _, text = excerpt.partition(":")
        spans.append(find_excerpt(documents, doc_id, text))
    text = args.answer or ""
    if args.from_bot:
        text, bot_spans = from_bot_answer(load_bot(config).ask(args.question), documents)
        spans = spans or bot_spans
    answer = CuratedAnswer(new_id(), args.question.strip(), text.strip(), tuple(spans),
                           tuple(p.strip() for p in args.phrasing or [] if p.strip()), args.by or "",
                           today())
    from bot.curated import answer_from_json

    answer = _curated_store(config).add(answer_from_json(answer.to_json()), documents)
    print(f"已加入审核回答 {answer.id}：{answer.question}")
    return 0


def cmd_curated_remove(args: argparse.Namespace) -> int:
    from bot.curated import ACTIVE, REMOVED

    config = cfg.resolve(args)
    state = ACTIVE if args.confirm else REMOVED
    documents = _live_documents(config) if args.confirm else {}
    for answer_id in args.ids:
        answer = _curated_store(config).set_state(answer_id, documents, state)
        print(f"{'已确认' if args.confirm else '已移除'}审核回答 {answer.id}：{answer.question}")
    return 0


CSV_FIELDS = ["id", "question", "phrasings", "answer", "citations", "approved_by", "approved_at", "state"]


def cmd_curated_export(args: argparse.Namespace) -> int:
    import csv
    import io

    from bot.curated import REMOVED

    answers = [a.to_json() for a in _curated_store(cfg.resolve(args)).load() if args.all or a.state != REMOVED]
    if args.format == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, CSV_FIELDS, extrasaction="ignore")
        writer.writeheader()
        for a in answers:  # lists as JSON in their cells: nothing lost on the way
            writer.writerow({**a, "phrasings": json.dumps(a["phrasings"], ensure_ascii=False),
                             "citations": json.dumps(a["citations"], ensure_ascii=False)})
        text = out.getvalue()
    else:
        text = json.dumps({"format": 1, "answers": answers}, ensure_ascii=False, indent=1) + "\n"
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
        print(f"已导出 {len(answers)} 条审核回答：{args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def read_curated_file(path: Path) -> list:
    """Approved answers from an export (JSON or CSV), each checked for form (not yet against an index)."""
    import csv

    from bot.curated import CuratedError, answer_from_json

    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise CuratedError(f"无法读取 {path}：{type(exc).__name__}") from exc
    if path.suffix.lower() == ".csv":
        rows = []
        for i, row in enumerate(csv.DictReader(text.splitlines()), 2):
            try:
                rows.append({**row, "phrasings": json.loads(row.get("phrasings") or "[]"),
                             "citations": json.loads(row.get("citations") or "[]")})
            except json.JSONDecodeError as exc:
                raise CuratedError(f"{path} 第 {i} 行：phrasings 或 citations 不是 JSON") from exc
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise CuratedError(f"{path} 不是 JSON（第 {exc.lineno} 行）；CSV 文件请用 .csv 扩展名") from exc
        rows = data.get("answers") if isinstance(data, dict) else data
        if not isinstance(rows, list):
            raise CuratedError(f"{path} 应含审核回答的列表（answers）")
    answers = []
    for i, row in enumerate(rows, 1):
        try:
            answers.append(answer_from_json(row))
        except CuratedError as exc:
            raise CuratedError(f"{path} 第 {i} 条：{exc}") from exc
    return answers


def cmd_curated_import(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from bot.curated import ACTIVE, REMOVED, CuratedError, validated

    config = cfg.resolve(args)
    documents = _live_documents(config)
    imported, problems = [], []
    for i, answer in enumerate(read_curated_file(Path(args.file)), 1):
        if answer.state == REMOVED:
            continue
        try:  # every citation must be in this server's index, at its offsets
            imported.append(replace(validated(answer, documents), state=ACTIVE, changes=()))
        except CuratedError as exc:
            problems.append(f"第 {i} 条（{answer.question}）：{exc}")
    if problems:
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        raise CuratedError(f"{len(problems)} 条审核回答的引用在本机索引中不成立，未导入任何一条")
    ids = {a.id for a in imported}
    _curated_store(config).update(lambda answers: [a for a in answers if a.id not in ids] + imported)
    print(f"已导入 {len(imported)} 条审核回答")
    return 0


def cmd_curated_fit(args: argparse.Namespace) -> int:
    from bot.curated import BUNDLED_THRESHOLDS, fit_threshold, thresholds_path
    from bot.eval.qa_eval import load_qa
    from index.embedding.embedder import load_embedder

    config = cfg.resolve(args)
    negatives = [item.question for path in args.qa for item in load_qa(Path(path)).refuse]
    approved = json.loads(Path(args.approved).read_text(encoding="utf-8"))["answers"]
    questions = [[a["question"], *a.get("phrasings", [])] for a in approved]
    embedder = load_embedder(config.embedding_model, config.model_cache, backend=config.embedding_backend)
    fit = fit_threshold(questions, negatives, embedder, args.margin)
    out = Path(args.out) if args.out else (BUNDLED_THRESHOLDS if args.bundled else thresholds_path())
    data = json.loads(out.read_text(encoding="utf-8")) if out.is_file() else {}
    data.setdefault("models", {})[config.embedding_model] = {
        "threshold": fit.threshold, "highest_negative": fit.highest_negative, "nearest": fit.nearest,
        "margin": fit.margin, "approved_questions": sum(len(q) for q in questions), "out_of_scope": len(negatives),
    }
    data["command"] = ("unionqa curated fit --approved " + args.approved + "".join(f" --qa {q}" for q in args.qa)
                       + f" --margin {args.margin}" + (" --bundled" if args.bundled else ""))
    data["about"] = ("The cosine at or above which a question is served an approved answer: the highest similarity "
                     "of any dev-set out-of-scope question or other approved answer's question to an approved "
                     "question, plus the margin. bot/curated.py reads it; the command above refits it.")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    tmp.replace(out)
    print(f"阈值 {fit.threshold}（最相近的反例 {fit.highest_negative}：{fit.nearest}）→ {out}")
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


def display_width(text: str) -> int:
    """Columns a terminal gives the text: Chinese characters take two."""
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


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

    e = sub.add_parser("eval", help="在 SQuAD 格式的问答数据或职工问题评测集上评测检索与回答质量")
    cfg.add_flags(e, INDEX_FLAGS + ["top_k", "dictionary"] + cfg.LLM_FLAGS)
    e.add_argument("--llm", action="store_true",
                   help="职工问题用配置的大模型生成回答，另报告通过核对的句子比例、回退率和用时")
    e.add_argument("--dataset", help="SQuAD 格式 JSON，例如 CMRC 2018")
    e.add_argument(
        "--qa",
        action="append",
        metavar="FILE",
        help="职工问题评测集 JSON（answerable、refuse、dialogues），在文档目录的内存索引上提问；可重复",
    )
    e.add_argument(
        "--legal",
        metavar="DIR",
        help="legal_train 目录（questions.json、articles.jsonl）：其留出的法律建成临时索引，问其留出的咨询问题",
    )
    e.add_argument("--modes", default="hybrid,bm25,dense", help="逗号分隔：hybrid,bm25,dense")
    e.add_argument("--negatives", help="另一份数据的问题，作为知识库无法回答的问题，测拒答率")
    e.add_argument(
        "--negatives-on-corpus",
        action="store_true",
        help="负例问题改为在文档目录（默认内置语料）的索引上提问，而不是在 --dataset 的索引上",
    )
    e.add_argument(
        "--backends",
        help="逗号分隔的向量计算后端（torch,onnx,onnx-int8），逐个评测并列出索引速度与质量的对比",
    )
    e.add_argument("--limit", type=int, default=None, help="只用前 N 个段落（快速检查）")
    e.add_argument("--calibration", metavar="FILE",
                   help="用这份校准文件（unionqa calibrate --out 写出的）评测职工问题，例如不含该集合的拟合")
    e.add_argument("--out", help="JSON 报告路径")
    e.set_defaults(func=cmd_eval)

    c = sub.add_parser(
        "calibrate",
        help="用有标准答案的问题重新拟合回答/相关/拒答的判定和句子打分（写入 UNIONQA_HOME/calibration/）",
    )
    cfg.add_flags(c, INDEX_FLAGS + ["top_k", "dictionary"])
    c.add_argument("--qa", action="append", metavar="FILE", help="职工问题评测集 JSON；只用其调优部分；可重复")
    c.add_argument("--squad", help="可选：SQuAD 格式 JSON（如 CMRC 2018），其问题在自身段落上作正例、在文档目录上作负例")
    c.add_argument("--legal", metavar="FOLDER",
                   help="可选：legal_train 目录；其训练部分的法律咨询问题在自身法律上作正例、在文档目录上作负例")
    c.add_argument("--whole", action="store_true",
                   help="用 --qa 文件的全部问题（不只调优部分）：拟合后在另一个集合上评测时用")
    c.add_argument("--out", help="校准文件路径（默认 UNIONQA_HOME/calibration/<模型>.json）")
    c.add_argument("--from-log", action="store_true",
                   help="把提问记录中的 👍/👎 作为调优样本（见 serve --log-questions），先报告在评测集留出部分上的效果")
    c.add_argument("--write", action="store_true", help="与 --from-log 同用：报告效果后写入校准文件")
    c.set_defaults(func=cmd_calibrate)

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

    cu = sub.add_parser("curated", help="工会审核的回答：列出、加入、移除、导出、导入、拟合匹配阈值")
    cu_sub = cu.add_subparsers(dest="curated_command", required=True)
    cl = cu_sub.add_parser("list", help="列出审核回答（需复核的注明所引原文的变动）")
    cl.add_argument("--json", action="store_true", help="以 JSON 输出")
    cl.add_argument("--all", action="store_true", help="也列出已移除的")
    cl.set_defaults(func=cmd_curated_list)
    ca = cu_sub.add_parser("add", help="加入一条审核回答（至少引用一处原文）")
    ca.add_argument("--question", required=True, help="问题")
    ca.add_argument("--answer", help="回答文字（可用 [1] [2] 标注引用）")
    ca.add_argument("--from-bot", action="store_true", help="采用机器人对该问题的回答及其引用")
    ca.add_argument("--cite", action="append", metavar="DOC_ID:START-END", help="引用文档中的一段（字符位置）")
    ca.add_argument("--excerpt", action="append", metavar="DOC_ID:原文", help="引用文档中的一段原文（原样复制）")
    ca.add_argument("--phrasing", action="append", help="同一问题的其他问法（可多次）")
    ca.add_argument("--by", help="审核人")
    ca.set_defaults(func=cmd_curated_add)
    cr = cu_sub.add_parser("remove", help="移除审核回答（--confirm：复核后确认恢复）")
    cr.add_argument("ids", nargs="+", metavar="ID")
    cr.add_argument("--confirm", action="store_true", help="确认需复核的回答（重新核对引用后恢复）")
    cr.set_defaults(func=cmd_curated_remove)
    ce = cu_sub.add_parser("export", help="导出审核回答（JSON 或 CSV），以便迁移到其他服务器")
    ce.add_argument("--format", choices=["json", "csv"], default="json")
    ce.add_argument("--out", help="输出文件（默认打印）")
    ce.add_argument("--all", action="store_true", help="也导出已移除的")
    ce.set_defaults(func=cmd_curated_export)
    ci = cu_sub.add_parser("import", help="导入审核回答（.json 或 .csv；每处引用须在本机索引中成立）")
    ci.add_argument("file")
    ci.set_defaults(func=cmd_curated_import)
    cf = cu_sub.add_parser("fit", help="拟合审核回答的匹配阈值（评测集中无法回答的问题与其他回答的问题都不匹配）")
    cf.add_argument("--approved", required=True, help="审核回答及其问题（如 tests/data/curated_paraphrases.json）")
    cf.add_argument("--qa", action="append", required=True, help="评测集（其 refuse 为范围外的问题），可多次")
    cf.add_argument("--margin", type=float, default=0.01, help="阈值高出最相近反例的余量")
    cf.add_argument("--bundled", action="store_true", help="写入随程序发布的 bot/calibration/curated.json")
    cf.add_argument("--out", help="输出文件（默认 UNIONQA_HOME/calibration/curated.json）")
    cf.set_defaults(func=cmd_curated_fit)
    for command in (cl, ca, cr, ce, ci, cf):
        cfg.add_flags(command, ["index_dir", "store", "model_cache", "embedding_model", "embedding_backend",
                                "corpus_dir", "chunk_chars", "chunk_overlap", "top_k"])
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
