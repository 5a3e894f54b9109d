"""`unionqa curated`: the approved answers (工会审核的回答, bot/curated.py) listed, added, removed,
exported, imported and their matching threshold fitted."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ui import config as cfg
from ui.cli_shared import curated_store, live_documents, load_bot


def cmd_curated_list(args: argparse.Namespace) -> int:
    from bot.curated import REMOVED, STATE_TEXT

    config = cfg.resolve(args)
    store = curated_store(config)
    if store.path.exists():
        store.sync(live_documents(config))
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
    from bot.curated import CuratedAnswer, find_excerpt, make_span, new_id, today
    from bot.curated_reply import from_bot_answer

    config = cfg.resolve(args)
    documents = live_documents(config)
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

    answer = curated_store(config).add(answer_from_json(answer.to_json()), documents)
    print(f"已加入审核回答 {answer.id}：{answer.question}")
    return 0


def cmd_curated_remove(args: argparse.Namespace) -> int:
    from bot.curated import ACTIVE, REMOVED

    config = cfg.resolve(args)
    state = ACTIVE if args.confirm else REMOVED
    documents = live_documents(config) if args.confirm else {}
    for answer_id in args.ids:
        answer = curated_store(config).set_state(answer_id, documents, state)
        print(f"{'已确认' if args.confirm else '已移除'}审核回答 {answer.id}：{answer.question}")
    return 0


CSV_FIELDS = ["id", "question", "phrasings", "answer", "citations", "approved_by", "approved_at", "state"]


def cmd_curated_export(args: argparse.Namespace) -> int:
    import csv
    import io

    from bot.curated import REMOVED

    answers = [a.to_json() for a in curated_store(cfg.resolve(args)).load() if args.all or a.state != REMOVED]
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
    documents = live_documents(config)
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
    curated_store(config).update(lambda answers: [a for a in answers if a.id not in ids] + imported)
    print(f"已导入 {len(imported)} 条审核回答")
    return 0


def cmd_curated_fit(args: argparse.Namespace) -> int:
    from bot.curated_match import BUNDLED_THRESHOLDS, fit_threshold, thresholds_path
    from bot.eval.qa_data import load_qa
    from index.embedding.embedder import load_embedder
    from index.store.versions import write_atomic

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
                       + f" --margin {args.margin}" + (" --bundled" if args.bundled else "") + " [--model M], once per model")
    data["about"] = ("The cosine at or above which a question is served an approved answer: the highest similarity "
                     "of any dev-set out-of-scope question or other approved answer's question to an approved "
                     "question, plus the margin. bot/curated_match.py reads it; the command above refits it.")
    out.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(out, json.dumps(data, ensure_ascii=False, indent=1) + "\n")
    print(f"阈值 {fit.threshold}（最相近的反例 {fit.highest_negative}：{fit.nearest}）→ {out}")
    if args.legal:
        _fit_pairs(args, config, approved, negatives, embedder)
    return 0


def _fit_pairs(args: argparse.Namespace, config: cfg.Config, approved: list, negatives: list, embedder) -> None:
    """The learned matcher (bot/curated_pairs.py), fitted and written beside the thresholds."""
    from bot.curated import CuratedError
    from bot.curated_match import pairs_path
    from bot.curated_pairs import (
        BUNDLED_PAIRS,
        FEATURES,
        ApprovedSet,
        PairModelError,
        dev_examples,
        fit_pair_model,
        legal_examples,
    )
    from bot.eval.legal_data import load_legal
    from bot.eval.qa_data import load_qa
    from index.store.versions import write_atomic

    try:
        legal = load_legal(Path(args.legal))
    except ValueError as exc:
        raise CuratedError(f"无法读取训练问题 {args.legal}（questions.json、articles.jsonl）：{exc}") from exc
    examples = legal_examples(legal.questions, legal.articles) + dev_examples(
        [load_qa(Path(p)) for p in args.train_qa or []])
    sets = [ApprovedSet((a["question"], *a.get("phrasings", [])),
                        (a.get("answer", ""), *([a["cite"]["text"]] if isinstance(a.get("cite"), dict) else [])))
            for a in approved]
    try:
        fit = fit_pair_model(examples, sets, negatives, embedder.encode_queries, args.pair_margin)
    except PairModelError as exc:
        raise CuratedError(str(exc)) from exc
    out = Path(args.pairs_out) if args.pairs_out else (BUNDLED_PAIRS if args.bundled else pairs_path())
    data = json.loads(out.read_text(encoding="utf-8")) if out.is_file() else {}
    data["about"] = ("The learned matcher of approved answers (bot/curated_pairs.py): per embedding model, the "
                     "logistic regression's coefficients over the features below, its intercept, and the score at "
                     "or above which a question is served an approved answer (the highest score of any dev-set "
                     "out-of-scope question or other approved answer's question, plus the margin); the idf of the "
                     "training questions' tokens. The command below refits it.")
    data["command"] = ("unionqa curated fit --approved " + args.approved + "".join(f" --qa {q}" for q in args.qa)
                       + f" --legal {args.legal}" + "".join(f" --train-qa {q}" for q in args.train_qa or [])
                       + f" --margin {args.margin} --pair-margin {args.pair_margin}"
                       + (" --bundled" if args.bundled else "") + " [--model M], once per model")
    idf = {"unseen": fit.model.unseen, "tokens": dict(fit.model.idf)}
    if data.get("idf") != idf or data.get("features") != list(FEATURES):
        # the other models' coefficients were fitted on other features or idf: they no longer hold
        dropped = [m for m in data.get("models", {}) if m != config.embedding_model]
        data["models"] = {}
        if dropped:
            print(f"训练问题或特征已变，以下模型的匹配模型已删除，请重新拟合：{'、'.join(dropped)}", file=sys.stderr)
    data["features"] = list(FEATURES)
    data["idf"] = idf
    data.setdefault("models", {})[config.embedding_model] = {
        "coef": list(fit.model.coef), "intercept": fit.model.intercept, "threshold": fit.model.threshold,
        "C": fit.c, "highest_negative": fit.highest_negative, "nearest": fit.nearest, "margin": fit.margin,
        "phrasing_recall": fit.phrasing_recall, "training_pairs": fit.pairs, "positive_pairs": fit.positives,
        "training_questions": len(examples), "out_of_scope": len(negatives),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(out, json.dumps(data, ensure_ascii=False, indent=1) + "\n")
    print(f"匹配模型：C={fit.c}，阈值 {fit.model.threshold}（最相近的反例 {fit.highest_negative}：{fit.nearest}），"
          f"留出的已审核问法匹配 {fit.phrasing_recall:.0%}，训练对 {fit.pairs}（正例 {fit.positives}）→ {out}")


def add_curated_parsers(sub) -> None:
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
    cf.add_argument("--legal", help="也拟合学习的匹配模型：legal_train 文件夹（questions.json、articles.jsonl）")
    cf.add_argument("--train-qa", action="append", help="匹配模型的训练集：评测集的可回答问题（同一出处为同一问题），可多次")
    cf.add_argument("--pair-margin", type=float, default=0.05, help="匹配模型的阈值高出最相近反例的余量（logit）")
    cf.add_argument("--pairs-out", help="匹配模型的输出文件（默认 UNIONQA_HOME/calibration/curated_pairs.json）")
    cf.set_defaults(func=cmd_curated_fit)
    for command in (cl, ca, cr, ce, ci, cf):
        cfg.add_flags(command, ["index_dir", "store", "model_cache", "embedding_model", "embedding_backend",
                                "corpus_dir", "chunk_chars", "chunk_overlap", "top_k"])
