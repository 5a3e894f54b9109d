"""`unionqa eval` and `unionqa calibrate`: their flags, and the checks of the data files before the
model loads; the runs themselves are in bot/eval/."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from ui import config as cfg
from ui.cli_shared import INDEX_FLAGS, make_generator


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
    from bot.eval.qa_data import load_qa
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
    from bot.eval.calibrate import calibrate
    from bot.eval.evaluate import build_store, load_squad
    from bot.eval.legal_data import calibration_questions, load_legal, write_laws
    from bot.eval.qa_data import load_qa
    from bot.eval.runners import corpus_store
    from bot.eval.tune_questions import ask_legal_questions, ask_tune_questions
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


def add_eval_parsers(sub) -> None:
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
