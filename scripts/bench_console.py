"""Benchmark of the staff console (issue 19): opening /admin/console with 100,000 logged
questions (target ≤ 1 s) and grouping 10,000 questions (target ≤ 30 s).

The log is filled with synthetic questions made from the real question texts of the dev
sets in tests/data (every answerable, refused and follow-up question, each in a few
phrasings a member might use), spread over 30 days, with outcomes and 👍/👎 drawn at
random (seeded). The bot is the real one: the bundled corpus indexed with the real model
(or --index, an existing index), so grouping embeds with the model the server uses.

    .venv/bin/python scripts/bench_console.py [--questions 100000] [--group 10000] [--model MODEL]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from bot.bot import Bot  # noqa: E402
from corpus import DEFAULT_CORPUS_DIR  # noqa: E402
from index.embedding.embedder import DEFAULT_MODEL, load_embedder  # noqa: E402
from index.paths import default_model_cache  # noqa: E402
from ui.asking import Asker  # noqa: E402
from ui.config import Config  # noqa: E402
from ui.console import Grouper  # noqa: E402
from ui.questionlog import DB_NAME, QuestionLog, answer_key  # noqa: E402
from ui.server import bind_socket, create_app, running  # noqa: E402

TOKEN = "bench-console"
PREFIXES = ["", "请问", "想问一下，", "我想知道"]
SUFFIXES = ["", "？", "呢？", "，谢谢"]
OUTCOME_WEIGHTS = {"answered": 0.6, "related": 0.2, "refused": 0.2}


DEV_SLICES = [ROOT / "tests" / "data" / name for name in ("laws_dev_slice.json", "article_dev_slice.json")]


def base_questions(files: list[Path]) -> list[tuple[str, bool]]:
    """(question, answerable) from dev sets (answerable, refuse, dialogues) or lists of {"q": …}."""
    found: list[tuple[str, bool]] = []
    for path in files:
        data = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(data, list):
            found += [(item["q"], True) for item in data]
            continue
        found += [(item["q"], True) for item in data["answerable"]]
        found += [(q, False) for q in data["refuse"]]
        found += [(turn["q"], True) for dialogue in data["dialogues"] for turn in dialogue["turns"]]
    return list(dict.fromkeys(found))


def synthetic(n: int, bases: list[tuple[str, bool]], seed: int = 19) -> list[tuple]:
    """`n` log rows (asked_at, question, outcome, docs, latency, client, key): popular
    questions asked far more often than rare ones (Zipf-like), as in a real log."""
    rng = random.Random(seed)
    phrasings = [(f"{p}{q.rstrip('？?')}{s or '？'}", ok) for q, ok in bases for p in PREFIXES for s in SUFFIXES]
    weights = [1 / (i + 1) for i in range(len(phrasings))]
    rng.shuffle(phrasings)
    now = time.time()
    rows = []
    for text, ok in rng.choices(phrasings, weights, k=n):
        outcome = rng.choices(list(OUTCOME_WEIGHTS), list(OUTCOME_WEIGHTS.values()))[0] if ok else "refused"
        rows.append((now - rng.random() * 30 * 86400, text, outcome, "[]" if outcome == "refused" else '["laws/劳动合同法"]',
                     round(rng.uniform(30, 900), 1), f"{rng.randrange(5000):016x}", answer_key(text, outcome)))
    return rows


def fill(path: Path, n: int, bases: list[tuple[str, bool]]) -> float:
    qlog = QuestionLog(path)
    started = time.perf_counter()
    rows = synthetic(n, bases)
    conn = qlog._conn()
    for start in range(0, n, 5000):
        with conn:
            conn.executemany("INSERT INTO questions (asked_at, question, outcome, docs, latency_ms, client, answer_key)"
                             " VALUES (?, ?, ?, ?, ?, ?, ?)", rows[start:start + 5000])
        conn.execute("UPDATE questions SET rating = CASE WHEN id % 7 = 0 THEN 'down' ELSE 'up' END "
                     "WHERE id % 5 = 0 AND rating IS NULL")
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", type=int, default=100_000)
    parser.add_argument("--group", type=int, default=10_000)
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--index", type=Path, help="an existing index (default: the bundled corpus, indexed now)")
    parser.add_argument("--questions-from", type=Path, action="append", metavar="JSON",
                        help="dev-set JSON (or a list of {\"q\": …}) to draw question texts from; repeatable "
                             "(default: the slices in tests/data; more: ../shared/data/*_dev.json, "
                             "../shared/data/legal_train/questions.json)")
    args = parser.parse_args()
    bases = base_questions(args.questions_from or DEV_SLICES)

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cache = default_model_cache()
        embedder = load_embedder(args.model, cache)
        index_dir = args.index
        if index_dir is None:
            from index.build import build_index
            from index.store.manifest import IndexSettings

            index_dir = tmp / "index"
            build_index(DEFAULT_CORPUS_DIR, index_dir, IndexSettings(args.model, 300, 1), embedder, progress=False)
        bot = Bot.load(index_dir, model_cache=cache, embedder=embedder)
        print(f"model {embedder.name}; base questions {len(bases)}")

        # grouping N questions, from an empty embedding cache
        group_home = tmp / "group"
        fill(group_home / DB_NAME, args.group, bases)
        qlog = QuestionLog(group_home / DB_NAME)
        grouper = Grouper(qlog, Asker(bot, 500), Config().console_group_distance)  # None: the fitted distance
        distinct = len(qlog.distinct_questions(0, limit=10**6))
        grouping = grouper.compute()
        print(f"grouping {args.group} questions ({distinct} distinct texts): {grouping.seconds:.1f} s, "
              f"{len(grouping.groups)} groups, {len(grouping.missing)} unanswered groups, covering "
              f"{grouping.covered}/{grouping.questions} questions (target ≤ 30 s)")

        # the console with N logged questions
        home = tmp / "home"
        seconds = fill(home / DB_NAME, args.questions, bases)
        print(f"filled {args.questions} questions in {seconds:.1f} s")
        config = Config(feedback_log=home / "feedback.jsonl", log_questions=True, admin_token=TOKEN)
        asker = Asker(bot, config.max_question_chars)
        app = create_app(config, bot, asker=asker)
        auth = {"Authorization": f"Bearer {TOKEN}"}
        with running(app, bind_socket()) as url, httpx.Client(base_url=url, timeout=600, headers=auth) as client:
            started = time.perf_counter()
            first = client.get("/admin/console")
            print(f"console, first open (grouping starts in the background): {time.perf_counter() - started:.2f} s, "
                  f"HTTP {first.status_code}")
            grouper_started = time.perf_counter()
            while "正在按含义给问题分组" in client.get("/admin/console").text:
                time.sleep(0.5)
            print(f"background grouping of {args.questions} questions done after ≈{time.perf_counter() - grouper_started:.1f} s")
            times = []
            for _ in range(5):
                started = time.perf_counter()
                page = client.get("/admin/console")
                times.append(time.perf_counter() - started)
                assert page.status_code == 200 and "常见问题分组" in page.text
            print(f"console open with {args.questions} questions and their groups: median {statistics.median(times):.3f} s,"
                  f" max {max(times):.3f} s (target ≤ 1 s)")
            started = time.perf_counter()
            raw = client.get("/admin/console/log.csv")
            print(f"raw CSV export: {len(raw.content) / 1e6:.1f} MB in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
