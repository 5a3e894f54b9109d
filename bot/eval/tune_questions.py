"""The questions a calibration is fitted on, asked once: the tune parts of the worker-question
files and of a SQuAD file, and legal_train's training-side consultations, each asked with a
neutral calibration (`bootstrap_calibration`) so that the fit sees the evidence, not a decision.
calibrate.py fits the answer decision and the sentence ranking on the result (`Asked`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from bot.answerability import FEATURES, Calibration, LogisticModel
from bot.bot import Bot
from bot.compose import SENTENCE_FEATURES
from bot.eval import evaluate, qa_data, qa_eval
from bot.eval.legal_data import LegalQuestion
from bot.retrieve import Evidence, Hit
from index.embedding.embedder import Embedder
from index.lexicon import Lexicon
from index.store.folder import IndexStore

SQUAD = "squad"  # the source name of SQuAD questions
LEGAL = "legal"  # the source name of legal_train's consultation questions


def bootstrap_calibration(embedding_model: str) -> Calibration:
    """A neutral calibration to run the pipeline before anything is fitted: every
    question is answered, and sentences are ranked by word overlap and cosine."""
    weights = {"overlap": 4.0, "cosine_gap": 20.0, "passage_rank": 1.0, "definition": 2.0}
    sentences = LogisticModel(
        SENTENCE_FEATURES, (0.0,) * len(SENTENCE_FEATURES), (1.0,) * len(SENTENCE_FEATURES),
        tuple(weights.get(f, 0.0) for f in SENTENCE_FEATURES), 0.0,
    )
    answerability = LogisticModel(FEATURES, (0.0,) * len(FEATURES), (1.0,) * len(FEATURES), (0.0,) * len(FEATURES), 0.0)
    return Calibration(embedding_model, answerability, 0.0, 0.0, sentences)


def holds_gold(sentence: str, golds: tuple[str, ...]) -> bool:
    """A sentence holds the answer when it contains a gold string, or is itself part
    of a long one (a gold clause spanning two sentences)."""
    text = qa_data.plain(sentence)
    return any(
        (g := qa_data.plain(gold)) and (g in text or (len(text) >= 6 and text in g)) for gold in golds
    )


@dataclass(frozen=True)
class Asked:
    """One tune question, retrieved: what the models are fitted on."""

    bot: Bot  # the bot over the question's corpus (the corpus, or SQuAD's own paragraphs)
    source: str
    gold_sets: tuple[tuple[str, ...], ...]
    answerable: bool
    hits: list[Hit]
    evidence: Evidence
    # For a legal consultation (bot/eval/legal_data.py): the (law, article) pairs lawyers labelled,
    # which stand for gold strings: a passage of one of them holds the answer.
    articles: frozenset[tuple[str, str]] = frozenset()

    def holds_answer(self, text: str, title: str = "", article: str = "") -> bool:
        """Whether a passage (its text, its document's title and its article) holds the answer."""
        if self.articles:
            return (title, article) in self.articles
        plain = qa_data.plain(text)
        return any(all(qa_data.plain(g) in plain for g in golds) for golds in self.gold_sets)

    def is_right(self, answer) -> bool:
        """Whether an answer's leading provision (its quoted citations) holds the answer."""
        lead = [c for c in answer.citations if not c.role]
        if self.articles:
            return any((c.title, c.article) in self.articles for c in lead)
        return any(qa_eval.gold_set_matches(g, answer.text, [c.text for c in lead]) for g in self.gold_sets)


def ask_tune_questions(
    corpus_store: IndexStore,
    embedder: Embedder,
    qa_paths: list[Path],
    squad_store: IndexStore | None = None,
    squad_items: list[evaluate.QAItem] | None = None,
    top_k: int = 5,
    progress: bool = True,
    lexicon: Lexicon | None = None,
    whole: bool = False,
) -> list[Asked]:
    """The tune part's questions, each retrieved once: dev questions against the corpus,
    SQuAD questions against their own paragraphs (positives) and against the corpus
    (negatives). Retrieval does not depend on the models being fitted, so both fits
    reuse it. With `whole`, every question of the dev files, holdout included: for a fit
    that is then measured on another collection (its files are the held-out side)."""
    neutral = bootstrap_calibration(corpus_store.manifest.settings.embedding_model)
    bot = Bot(corpus_store, embedder, top_k=top_k, calibration=neutral, lexicon=lexicon)
    jobs = []  # (bot, source, question, history, gold sets, answerable)
    for path in qa_paths:
        qa = qa_data.load_qa(path)
        source = Path(path).stem
        jobs += [(bot, source, i.question, None, i.golds, True) for i in qa.answerable if whole or not i.holdout]
        jobs += [(bot, source, r.question, None, (), False) for r in qa.refuse if whole or not r.holdout]
        for d in qa.dialogues:
            if whole or not d.holdout:
                first, second = d.turns
                jobs.append((bot, source, second.question, [(first.question, "")], second.golds, True))
    if squad_store is not None and squad_items:
        squad_bot = Bot(squad_store, embedder, top_k=top_k, calibration=neutral, lexicon=lexicon)
        tune = [i for i in squad_items if not i.holdout]
        # a SQuAD question is answered by any one of its answer strings
        jobs += [(squad_bot, SQUAD, i.question, None, tuple((a,) for a in i.answers), True) for i in tune]
        jobs += [(bot, SQUAD, i.question, None, (), False) for i in tune]
    asked = []
    for bot_, source, question, history, gold_sets, answerable in tqdm(
        jobs, desc="校准样本", unit="问", disable=not progress
    ):
        _, hits, evidence = bot_.retrieve(question, history)
        asked.append(Asked(bot_, source, gold_sets, answerable, hits, evidence))
    return asked


def ask_legal_questions(
    legal_store: IndexStore,
    corpus_store: IndexStore,
    embedder: Embedder,
    questions: list[LegalQuestion],
    top_k: int = 5,
    progress: bool = True,
    lexicon: Lexicon | None = None,
) -> list[Asked]:
    """Real consultation questions (bot/eval/legal_data.py's training side), each asked against
    their own laws (answerable: a labelled article answers it) and against the corpus
    (on other branches of law, which the union's documents do not cover: unanswerable)."""
    neutral = bootstrap_calibration(corpus_store.manifest.settings.embedding_model)
    legal_bot = Bot(legal_store, embedder, top_k=top_k, calibration=neutral, lexicon=lexicon)
    bot = Bot(corpus_store, embedder, top_k=top_k, calibration=neutral, lexicon=lexicon)
    asked = []
    for q in tqdm(questions, desc="法律咨询校准样本", unit="问", disable=not progress):
        for bot_, answerable in ((legal_bot, True), (bot, False)):
            _, hits, evidence = bot_.retrieve(q.question)
            asked.append(Asked(bot_, LEGAL, (), answerable, hits, evidence,
                               frozenset(q.articles) if answerable else frozenset()))
    return asked
