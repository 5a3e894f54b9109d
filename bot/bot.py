"""The question-answering library: `Bot.load(index_dir)` then `bot.ask(question)`.

Usable without the UI; the UI only calls this.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from bot.answerability import Calibration, Decision, evidence_features, load_calibration
from bot.compose import (
    REFUSAL_TEXT,
    Candidate,
    candidate_units,
    compose_answer,
    in_provision,
    plan_quotes,
    provisions_of,
    rank_units,
    related_answer,
    select_sentences,
    shown_citations,
)
from bot.curated_match import CuratedMatcher, load_pairs, load_threshold
from bot.curated_reply import curated_reply
from bot.curated_store import CuratedStore, curated_path
from bot.llm.generate import Generator, Partial
from bot.provisions import (
    NATIONAL_NOTE,
    arrange,
    is_local,
    legal,
    question_places,
    restrict_to_places,
    with_note,
)
from bot.query import make_query
from bot.ranker import load_ranker
from bot.records import ANSWERED, REFUSED, RELATED, Answer
from bot.retrieve import Evidence, Hit, Retriever
from bot.settings import DEFAULTS, AnswerSettings
from corpus.records import Document
from index.embedding.embedder import Embedder, load_embedder
from index.lexicon import Lexicon, load_lexicon
from index.paths import default_model_cache
from index.store.folder import IndexStore
from index.store.manifest import IndexSettings
from index.store.spec import StoreSpec, load_store


class Bot:
    def __init__(
        self,
        store: IndexStore,
        embedder: Embedder,
        top_k: int | None = None,
        mode: str = "hybrid",
        calibration: Calibration | None = None,
        lexicon: Lexicon | None = None,
        generator: Generator | None = None,
        curated: CuratedMatcher | None = None,
        settings: AnswerSettings = DEFAULTS,
    ):
        """`settings`: the depths, weights and lengths that shape an answer (bot/settings.py);
        `top_k`, when given, overrides its top_k."""
        self.store = store
        self.embedder = embedder
        self.settings = settings if top_k is None else replace(settings, top_k=top_k)
        self.top_k = self.settings.top_k
        s = self.settings
        model = store.manifest.settings.embedding_model
        # the ranker fitted on real consultations for this model orders the candidates; a
        # model without one (a local model) keeps the untrained score fusion
        ranker = load_ranker(model)
        self.retriever = Retriever(store, embedder, mode=mode, candidates=s.candidates, dense_weight=s.dense_weight,
                                   bm25_weight=s.bm25_weight, rrf_k=s.rrf_k, fusion="learned" if ranker else "scores",
                                   feedback=s.feedback, sentence_weight=s.sentence_weight, ranker=ranker, pool=s.pool)
        self.calibration = calibration or load_calibration(model)
        self.lexicon = lexicon or load_lexicon()
        # With an LLM configured, answered questions get a generated, checked answer.
        self.generator = generator
        # Approved answers (bot/curated.py), served before retrieval; checked against every
        # version loaded, so an answer whose cited document changed is suspended at once.
        self.curated = curated
        if curated is not None:
            curated.sync(store.documents)

    @classmethod
    def load(
        cls,
        index_dir: Path,
        model_cache: Path | None = None,
        expected: IndexSettings | None = None,
        top_k: int | None = None,
        mode: str = "hybrid",
        embedder: Embedder | None = None,
        lexicon: Lexicon | None = None,
        generator: Generator | None = None,
        store: str | StoreSpec = "",
        settings: AnswerSettings = DEFAULTS,
    ) -> Bot:
        """Load the live index and the embedding model it was built with (unless
        that model is given, already loaded). `store` chooses the engine that holds the
        index (index/store/spec.py): the FAISS folder `index_dir` by default, or Milvus."""
        store = load_store(store, Path(index_dir), expected=expected)
        # the configured backend, else the one that built the index (load checked they agree)
        built = expected or store.manifest.settings
        if embedder is None or embedder.name != built.embedding_model:
            cache = Path(model_cache) if model_cache else default_model_cache()
            embedder = load_embedder(built.embedding_model, cache, backend=built.embedding_backend)
        curated = CuratedMatcher(CuratedStore(curated_path(index_dir)), load_threshold(built.embedding_model),
                                 load_pairs(built.embedding_model))
        return cls(store, embedder, top_k=top_k, mode=mode, lexicon=lexicon, generator=generator, curated=curated,
                   settings=settings)

    @property
    def documents(self) -> dict[str, Document]:
        return self.store.documents

    def retrieve(
        self, question: str, history: list[tuple[str, str]] | None = None, top_k: int | None = None
    ) -> tuple[str, list[Hit], Evidence]:
        """The query actually searched (after follow-up resolution), its hits and the evidence."""
        query = make_query(question, history, self.lexicon)
        top_k = top_k or self.top_k
        hits, evidence = self.retriever.search(query, top_k)
        places = question_places(query.text)
        if places:
            # a regulation applies in its own region only: the question's place decides
            # which documents may answer it (bot/provisions.py)
            hits, evidence = restrict_to_places(hits, evidence, self.store.documents, self.store.chunks, places,
                                                top_k, self.calibration.near_margin)
        return query.text, hits, evidence

    def assess(
        self, hits: list[Hit], evidence: Evidence, calibration: Calibration | None = None
    ) -> tuple[Decision, list[Candidate], dict[str, float]]:
        """The answerability decision, the candidate sentences ranked best first, and
        the features the decision read; by the bot's own calibration unless another is
        given (`unionqa calibrate` ranks the same retrievals by successive fits)."""
        calibration = calibration or self.calibration
        query = evidence.query
        pool = hits[:self.settings.evidence_passages]
        if query.subject:
            # Policy texts define a term by listing its qualities before it ("……的劳模精神"):
            # such a sentence shares few words with the question, so look further for it.
            pool = hits + list(evidence.more)
        vector = evidence.vector
        candidates = rank_units(
            candidate_units(query, pool, self.store, vector, self.store.idf), calibration.sentences
        )
        best = candidates[0].features["cosine"] if candidates and vector is not None else 0.0
        features = evidence_features(
            self.store, evidence, hits, best, [c.text for c in candidates[:3]], self.lexicon,
            self.settings.evidence_passages,
        )
        if not hits or not candidates:
            return Decision(REFUSED, 0.0), candidates, features
        decision = calibration.decide(features)
        if decision.status == ANSWERED and query.unread > self.settings.mostly_unread:
            # An English question with most of its content words unread: the evidence was
            # measured on the few words the glossary read, and the question may ask about
            # something else entirely ("the three spirits of the article").
            decision = Decision(RELATED, decision.probability)
        return decision, candidates, features

    def answer_from(self, question: str, query: str, hits: list[Hit], evidence: Evidence) -> Answer:
        decision, candidates, _ = self.assess(hits, evidence)
        if decision.status == REFUSED:
            return Answer(text=REFUSAL_TEXT, refused=True, question=question, query=query, status=REFUSED)
        if decision.status == RELATED:
            text, citations = related_answer(hits, self.store.documents, self.settings.related_passages)
            return Answer(text=text, refused=False, citations=citations, question=question, query=query,
                          status=RELATED)
        return self.claim(question, query, candidates, evidence)

    def claim(self, question: str, query: str, candidates: list[Candidate], evidence: Evidence,
              calibration: Calibration | None = None) -> Answer:
        """The answer the candidates make, whatever the decision: the leading provision's
        quoted sentences, with the provisions shown after it (`unionqa calibrate` checks
        what every tune question's answer would be)."""
        calibration = calibration or self.calibration
        documents = self.store.documents
        places = question_places(evidence.query.text)
        provisions = provisions_of(candidates, self.store)
        lead, shown = arrange(provisions, documents, places, calibration.near_margin,
                              calibration.same_matter, evidence.query.kind)
        # the provisions shown after the answer are cited there, not quoted in it; a lead
        # that prevailed over the first-ranked provision has its sentences first
        others = [p for p, _ in shown]
        candidates = [c for c in candidates if not any(in_provision(c, p) for p in others)]
        if lead is not provisions[0]:
            candidates = ([c for c in candidates if in_provision(c, lead)]
                          + [c for c in candidates if not in_provision(c, lead)])
        s = self.settings
        chosen = select_sentences(candidates, s.max_sentences, s.max_chars, s.keep_probability)
        quotes = plan_quotes(chosen, candidates[0], documents, evidence.query.kind, s.whole_unit_chars)
        text, citations = compose_answer(quotes, documents)
        citations += shown_citations(shown, documents, len(citations) + 1)
        if places and not is_local(legal(documents.get(lead.doc_id)), places):
            text, citations = with_note(text, citations, NATIONAL_NOTE.format(place="、".join(p.name for p in places)))
        return Answer(text=text, refused=False, citations=citations, question=question, query=query,
                      status=ANSWERED)

    def ask(self, question: str, history: list[tuple[str, str]] | None = None) -> Answer:
        """Answer a question from the indexed documents, citing the passages used;
        show the closest passages when they are related but do not answer it; or
        refuse plainly when the documents do not cover it. With an LLM, an answered
        question gets a generated answer whose every sentence was checked."""
        extractive, hits = self.extract(question, history)
        if self.generator is None:
            return extractive
        return self.generator.answer(extractive, hits, self.store.documents, history)

    def extract(self, question: str, history: list[tuple[str, str]] | None = None) -> tuple[Answer, list[Hit]]:
        """The extractive answer and the hits it came from (the CPU-bound part of `ask`);
        an approved answer, without hits, when the question is close to an approved one."""
        if self.curated is not None and (found := self.curated.match(question, self.store.documents, self.embedder)):
            return curated_reply(found[0], self.store.documents, question, found[1]), []
        query, hits, evidence = self.retrieve(question, history)
        return self.answer_from(question, query, hits, evidence), hits

    def generate(self, extractive: Answer, hits: list[Hit],
                 history: list[tuple[str, str]] | None = None) -> Iterator[Partial | Answer]:
        """`Partial`s while the LLM writes, then the final Answer; just the extractive
        answer without an LLM (or for a question it did not answer)."""
        if self.generator is None:
            yield extractive
            return
        yield from self.generator.stream(extractive, hits, self.store.documents, history)
