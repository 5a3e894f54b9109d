"""The question-answering library: `Bot.load(index_dir)` then `bot.ask(question)`.

Usable without the UI; the UI only calls this.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bot.compose import REFUSAL_TEXT, compose_answer, definitions_first, score_sentences, select_sentences
from bot.definition import definition_subject
from bot.followup import resolve
from bot.records import Answer
from bot.retrieve import Evidence, Hit, Retriever
from corpus.records import Document
from index.embedder import Embedder, load_embedder
from index.paths import default_model_cache
from index.store import IndexSettings, IndexStore


@dataclass(frozen=True)
class RefusalRule:
    """Refuse unless the retrievers found real evidence.

    `coverage` is the share of the question's idf-weighted words found in one
    of the best passages; `best_dense` the cosine of the best dense hit (0 when
    the dense retriever was not used). A question is answered when enough of its
    words are found, or when fewer are found but the dense retriever is confident
    as well; never when the dense retriever finds nothing close, since common
    words ("担任", "职务", "主要") are easily all found in an unrelated passage.

    The cosines suit the default e5 model: on the CMRC 2018 trial set (tune part)
    its questions reached at least 0.84 on their own paragraphs, and at most 0.85
    on the bundled corpus; the bundled corpus's own questions reach 0.88 and more.
    With the floor, 0.999 of those questions are refused on the bundled corpus
    instead of 0.972, and none is refused on its own paragraphs.
    """

    min_coverage: float = 0.5
    weak_coverage: float = 0.25
    min_dense_with_weak_coverage: float = 0.85
    min_dense: float = 0.83

    def refuses(self, evidence: Evidence) -> bool:
        if 0 < evidence.best_dense < self.min_dense:
            return True
        if evidence.coverage >= self.min_coverage:
            return False
        if evidence.coverage >= self.weak_coverage and evidence.best_dense >= self.min_dense_with_weak_coverage:
            return False
        return True


class Bot:
    def __init__(
        self,
        store: IndexStore,
        embedder: Embedder,
        top_k: int = 5,
        mode: str = "hybrid",
        refusal: RefusalRule | None = None,
    ):
        self.store = store
        self.embedder = embedder
        self.top_k = top_k
        self.retriever = Retriever(store, embedder, mode=mode)
        self.refusal = refusal or RefusalRule()

    @classmethod
    def load(
        cls,
        index_dir: Path,
        model_cache: Path | None = None,
        expected: IndexSettings | None = None,
        top_k: int = 5,
        mode: str = "hybrid",
        embedder: Embedder | None = None,
    ) -> Bot:
        """Load the live index and the embedding model it was built with (unless
        that model is given, already loaded)."""
        store = IndexStore.load(Path(index_dir), expected=expected)
        if embedder is None or embedder.name != store.manifest.settings.embedding_model:
            cache = Path(model_cache) if model_cache else default_model_cache()
            embedder = load_embedder(store.manifest.settings.embedding_model, cache)
        return cls(store, embedder, top_k=top_k, mode=mode)

    @property
    def documents(self) -> dict[str, Document]:
        return self.store.documents

    def retrieve(
        self, question: str, history: list[tuple[str, str]] | None = None, top_k: int | None = None
    ) -> tuple[str, list[Hit], Evidence]:
        """The query actually searched (after follow-up resolution), its hits and the evidence."""
        query = resolve(question, history)
        hits, evidence = self.retriever.search(query, top_k or self.top_k)
        return query, hits, evidence

    def answer_from(self, question: str, query: str, hits: list[Hit], evidence: Evidence) -> Answer:
        if not hits or self.refusal.refuses(evidence):
            return Answer(text=REFUSAL_TEXT, refused=True, citations=[], question=question, query=query)
        candidates = score_sentences(evidence.query_tokens, hits, self.store.idf, question=query)
        subject = definition_subject(query)
        if subject:
            candidates = definitions_first(candidates, subject, hits + list(evidence.more))
        chosen = select_sentences(candidates)
        if not chosen:
            return Answer(text=REFUSAL_TEXT, refused=True, citations=[], question=question, query=query)
        text, citations = compose_answer(chosen, self.store.documents)
        return Answer(text=text, refused=False, citations=citations, question=question, query=query)

    def ask(self, question: str, history: list[tuple[str, str]] | None = None) -> Answer:
        """Answer a question from the indexed documents, citing the passages used,
        or refuse plainly when the documents do not cover it."""
        query, hits, evidence = self.retrieve(question, history)
        return self.answer_from(question, query, hits, evidence)

