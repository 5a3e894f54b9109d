"""The legal_train set (real consultation questions → lawyer-labelled statute articles): reading it,
its held-out fold by law, and its laws written as law Markdown files.

Kept apart from bot/eval/legal_eval.py (which asks the questions through the bot) because the training
script (scripts/train_embedder.py) needs the same fold and the same law files without the bot: a
question trained on must never be one the evaluation asks, and the passages trained on must have
the form the index embeds.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

# The fold: a law is held out when sha256(name) % FOLDS == HELDOUT_FOLD. Fold 1 of 5 holds 27 laws
# (刑法, 商标法, 保险法, 民事诉讼法, …) and 193 questions whose labelled articles all lie in them.
FOLDS = 5
HELDOUT_FOLD = 1
# 民法典 alone is cited by 857 of the 1,458 questions: held out, it would leave too little to train on.
NEVER_HELD_OUT = frozenset({"民法典"})


@dataclass(frozen=True)
class LegalQuestion:
    question: str
    articles: tuple[tuple[str, str], ...]  # (law short name, "第X条")
    source: str = ""
    answer: str = ""  # the lawyer's written answer


@dataclass(frozen=True)
class LegalSet:
    questions: tuple[LegalQuestion, ...]
    articles: dict[tuple[str, str], str]  # (law, article) → the article's text, "第X条 …", paragraphs by "\n"
    laws: tuple[str, ...]  # in the order of articles.jsonl
    files: tuple[Path, ...]  # what was read, for the data hash


def load_legal(folder: Path | str) -> LegalSet:
    """Read questions.json and articles.jsonl; a malformed folder raises ValueError."""
    folder = Path(folder)
    q_path, a_path = folder / "questions.json", folder / "articles.jsonl"
    for path in (q_path, a_path):
        if not path.is_file():
            raise ValueError(f"legal_train 数据不完整：缺少 {path}")
    articles: dict[tuple[str, str], str] = {}
    laws: dict[str, None] = {}
    for n, line in enumerate(a_path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            key = (row["law"], row["article"])
            articles[key] = row["text"]
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{a_path} 第 {n} 行格式有误：{exc}") from exc
        laws[key[0]] = None
    try:
        raw = json.loads(q_path.read_text(encoding="utf-8"))
        questions = tuple(
            LegalQuestion(item["q"].strip(), tuple((law, art) for law, art in item["articles"]), item.get("source", ""),
                          item.get("answer") or "")
            for item in raw
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{q_path} 格式有误：{exc}") from exc
    missing = [key for q in questions for key in q.articles if key not in articles]
    if missing:
        raise ValueError(f"{q_path} 引用了 articles.jsonl 中没有的条文，例如 {missing[0]}")
    return LegalSet(questions, articles, tuple(laws), (q_path, a_path))


def is_heldout_law(law: str) -> bool:
    if law in NEVER_HELD_OUT:
        return False
    return int(hashlib.sha256(law.encode("utf-8")).hexdigest(), 16) % FOLDS == HELDOUT_FOLD


def split(data: LegalSet) -> tuple[list[LegalQuestion], list[LegalQuestion]]:
    """(train, held out): a question is held out when every labelled article lies in a held-out
    law, and trained on only when none does (a question citing both is used for neither)."""
    train, heldout = [], []
    for q in data.questions:
        flags = [is_heldout_law(law) for law, _ in q.articles]
        if all(flags):
            heldout.append(q)
        elif not any(flags):
            train.append(q)
    return train, heldout


# The answer decision's legal questions (`unionqa calibrate --legal`): the training side's questions
# whose laws all have at most this many articles, plus 民法典 (cited by most questions). 838 of 1,160
# questions on 40 laws: 7.6k passages and sentences to embed instead of 25.6k, four minutes on a
# 2-core machine instead of a quarter of an hour, with most of the questions kept.
CALIBRATION_MAX_ARTICLES = 60


def calibration_questions(data: LegalSet) -> tuple[list[LegalQuestion], list[str]]:
    """The training side's questions the answer decision is fitted on, and the laws to index for them."""
    train, _ = split(data)
    size: dict[str, int] = {}
    for law, _ in data.articles:
        size[law] = size.get(law, 0) + 1
    small = {law for law, n in size.items() if n <= CALIBRATION_MAX_ARTICLES} | {"民法典"}
    questions = [q for q in train if all(law in small for law, _ in q.articles)]
    laws = sorted({law for q in questions for law, _ in q.articles})
    return questions, laws


def law_markdown(law: str, texts: list[str]) -> str:
    """A law as corpus/laws.py recognises one: `# 名称`, then one paragraph per line of each
    article (the first opening with 第X条 and a space), so the article's later paragraphs belong
    to it as in the bundled law files."""
    paragraphs = [line.strip() for text in texts for line in text.split("\n") if line.strip()]
    return f"# {law}\n\n" + "\n\n".join(paragraphs) + "\n"


def write_laws(data: LegalSet, laws: list[str] | tuple[str, ...], folder: Path) -> list[Path]:
    """Write each law of `laws` as `<folder>/<law>.md`; returns the paths."""
    by_law: dict[str, list[str]] = {law: [] for law in laws}
    for (law, _), text in data.articles.items():
        if law in by_law:
            by_law[law].append(text)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for law, texts in by_law.items():
        # a judicial interpretation's long title is a legal file name on Linux (< 255 bytes), but
        # keep a margin: the title comes from the `# ` line, not from the file name
        name = law if len(law.encode("utf-8")) < 200 else hashlib.sha1(law.encode("utf-8")).hexdigest()
        path = folder / f"{name}.md"
        path.write_text(law_markdown(law, texts), encoding="utf-8")
        paths.append(path)
    return paths


def files_sha256(paths: list[Path]) -> str:
    """One sha256 over the files' bytes, in the given order: the data hash MODEL.md records."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(Path(path).read_bytes())
    return digest.hexdigest()
