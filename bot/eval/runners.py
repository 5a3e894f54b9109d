"""What `unionqa eval` runs (ui/cli.py parses the flags and checks the files, then calls these):
the CMRC 2018 benchmark, the worker-question dev sets and legal_train's held-out fold, each in
every retrieval mode, on fresh in-memory indexes so that documents a user added never change a
figure; and the same once per embedding backend, side by side."""

from __future__ import annotations

import sys
from dataclasses import dataclass, replace
from pathlib import Path

from corpus.errors import UnionQAError
from index.store.manifest import IndexSettings


class EvalError(UnionQAError):
    """An evaluation that cannot run as asked (an empty corpus, a malformed data file)."""

    status = 400


@dataclass(frozen=True)
class EvalSetup:
    """What an evaluation needs from the configuration (ui/config.py's Config gives it) and
    from the command line: the index settings (model, backend, chunking), where the model
    cache and the corpus are, the dictionary, top_k, and which data sets to ask."""

    settings: IndexSettings
    model_cache: Path
    corpus_dir: Path
    top_k: int
    dictionary: Path | None = None
    dataset: Path | None = None
    negatives: Path | None = None
    negatives_on_corpus: bool = False
    limit: int | None = None
    legal: Path | None = None


def evaluate_run(setup: EvalSetup, modes: list[str], qa_sets: list, generator=None,
                 calibration=None) -> tuple[dict, list[str]]:
    """One `unionqa eval` with the configured backend: the report and its printed parts."""
    from bot.eval.evaluate import evaluate, format_report
    from bot.eval.qa_eval import format_qa_report
    from index.embedding.embedder import load_embedder

    embedder = load_embedder(setup.settings.embedding_model, setup.model_cache, backend=setup.settings.embedding_backend)
    report: dict = {"settings": {**setup.settings.__dict__, "top_k": setup.top_k}}
    on_corpus = None
    if setup.dataset is not None or setup.negatives is not None:
        negatives_store = None
        if setup.negatives is not None and (setup.dataset is None or setup.negatives_on_corpus):
            # a fresh in-memory index of the configured corpus (the bundled one by default),
            # not the live index, where documents a user added would change the figure
            on_corpus = on_corpus or corpus_store(setup, embedder)
            negatives_store = on_corpus[0]
        try:
            report = evaluate(
                embedder,
                setup.settings,
                modes,
                dataset=setup.dataset,
                negatives=setup.negatives,
                negatives_store=negatives_store,
                limit=setup.limit,
                top_k=setup.top_k,
            )
        except (ValueError, KeyError) as exc:
            raise EvalError(f"评测失败：{exc}") from exc
    if qa_sets:
        on_corpus = on_corpus or corpus_store(setup, embedder)
        report["qa_index"], report["qa"] = evaluate_qa_sets(setup, embedder, qa_sets, modes, on_corpus,
                                                            generator, calibration)
    if setup.legal is not None:
        report["legal"] = evaluate_legal_fold(setup, embedder, setup.legal, modes, calibration)
    report["machine"] = machine_description()

    printed = [format_report(report)] if "modes" in report else [f"机器：{report['machine']}"]
    if qa_sets:
        index = report["qa_index"]
        printed.append(f"## 职工问题评测集（{index['corpus']}：{index['documents']} 篇，{index['chunks']} 段）")
        for stem, entry in report["qa"].items():
            for mode, result in entry["modes"].items():
                printed.append(format_qa_report(result, title=f"{stem}（{mode}）"))
    if "legal" in report:
        from bot.eval.legal_eval import format_legal_report

        printed.append(format_legal_report(report["legal"], title=f"legal_train 留出法律（{setup.settings.embedding_model}）"))
    return report, printed


def evaluate_legal_fold(setup: EvalSetup, embedder, folder: Path, modes: list[str], calibration=None) -> dict:
    """The legal_train held-out fold (bot/eval/legal_eval.py) in every mode, on one index of its laws."""
    from bot.eval.legal_eval import evaluate_legal
    from index.lexicon import load_lexicon

    print(f"正在为 legal_train 留出的法律建立内存索引：{folder}", file=sys.stderr)
    result = evaluate_legal(embedder, setup.settings, folder, setup.top_k, modes,
                            load_lexicon(setup.dictionary), calibration=calibration)
    return {"folder": str(folder), "model": setup.settings.embedding_model, **result}


def evaluate_backends(setup: EvalSetup, modes: list[str], qa_sets: list, backends: list[str]) -> tuple[dict, list[str]]:
    """The same evaluation once per backend, one after the other in this process (so the speed
    ratios hold under the same load), then the backends side by side and the one to default to."""
    import gc

    from bot.eval.backend_eval import (
        BASELINE,
        MRR_TOLERANCE,
        backend_rows,
        choose_default,
        format_backend_table,
    )

    reports: dict[str, dict] = {}
    printed: list[str] = []
    for backend in backends:
        print(f"== 后端 {backend} ==", file=sys.stderr)
        reports[backend], parts = evaluate_run(replace(setup, settings=replace(setup.settings, embedding_backend=backend)),
                                               modes, qa_sets)
        printed.append(f"## 后端 {backend}\n\n" + "\n\n".join(parts))
        gc.collect()  # the previous backend's model goes before the next one loads
    mode = "hybrid" if "hybrid" in modes else modes[0]
    rows = backend_rows(reports, mode)
    chosen = choose_default(rows)
    printed.append(
        f"## 后端对比（{mode}）\n\n" + format_backend_table(rows)
        + (f"\n\nMRR@10 与 {BASELINE} 相差不超过 {MRR_TOLERANCE}、职工问题答对数不少于它的最快后端：{chosen}"
           if chosen else "")
    )
    report = {"backends": reports, "backend_comparison": {"mode": mode, "rows": rows, "fastest_within_tolerance": chosen},
              "machine": machine_description()}
    return report, printed


def corpus_store(setup: EvalSetup, embedder):
    """A fresh in-memory index of the configured corpus, and how it was built."""
    from bot.eval.evaluate import build_store
    from corpus.loader import load_corpus

    print(f"正在为评测建立内存索引：{setup.corpus_dir}", file=sys.stderr)
    loaded = load_corpus(setup.corpus_dir)
    for issue in loaded.errors:
        print(f"  未能读取 {issue.path}：{issue.reason}", file=sys.stderr)
    if not loaded.documents:
        raise EvalError(f"文档目录中没有可读取的文档：{setup.corpus_dir}")
    return build_store(loaded.documents, setup.settings, embedder)


def evaluate_qa_sets(setup: EvalSetup, embedder, qa_sets: list, modes: list[str], on_corpus,
                     generator=None, calibration=None) -> tuple[dict, dict]:
    """Every dev set in every mode, on the fresh in-memory index of the configured corpus;
    with the bot's own calibration, or `calibration` (one fitted without these sets)."""
    from bot.bot import Bot
    from bot.eval.evaluate import load_average
    from bot.eval.qa_eval import evaluate_qa
    from index.lexicon import load_lexicon

    store, index = on_corpus
    index = dict(index)
    load_at_start = load_average()
    results: dict = {qa.path.stem: {"file": str(qa.path), "modes": {}} for qa in qa_sets}
    lexicon = load_lexicon(setup.dictionary)
    for mode in modes:
        bot = Bot(store, embedder, top_k=setup.top_k, mode=mode, lexicon=lexicon, generator=generator,
                  calibration=calibration)
        for qa in qa_sets:
            results[qa.path.stem]["modes"][mode] = evaluate_qa(bot, qa)
    # latency means little without the machine's load while the questions were asked
    index.update(corpus=str(setup.corpus_dir), load_average_at_start=load_at_start,
                 calibration=(calibration or bot.calibration).fitted.get("command", "bundled"),
                 load_average_at_end=load_average())
    return index, results


def machine_description() -> str:
    import os
    import platform

    return f"{platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}"
