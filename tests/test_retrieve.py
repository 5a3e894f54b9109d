"""Pseudo-relevance feedback (RM3): built, and off by default (docs/benchmark.md)."""

from __future__ import annotations

import pytest

from bot.query import make_query
from bot.retrieve import FEEDBACK_TERMS, FEEDBACK_WEIGHT, Retriever, feedback_terms


@pytest.fixture(scope="module")
def store(bot):
    return bot.store


def test_feedback_terms_come_from_the_best_dense_passages_and_weigh_a_fixed_share(bot, store):
    query = make_query("老板不给交社保怎么办？")
    vector = bot.embedder.encode_queries([query.text])[0]
    dense = store.search_dense(vector, 50)
    known = {t: w for t, w in query.terms.items() if store.knows(t)}
    added = feedback_terms(store, dense, known)
    assert 0 < len(added) <= FEEDBACK_TERMS
    assert not set(added) & set(known)  # only words the question did not have
    assert sum(added.values()) == pytest.approx(FEEDBACK_WEIGHT * sum(known.values()))
    best_passages = set().union(*(store.tokens[i] for i, _ in dense[:3]))
    assert set(added) <= best_passages


def test_feedback_is_off_unless_asked_for(bot, store):
    query = make_query("老板不给交社保怎么办？")
    _, plain = Retriever(store, bot.embedder).search(query, 5)
    _, widened = Retriever(store, bot.embedder, feedback=True).search(query, 5)
    assert set(plain.terms) <= set(query.terms)  # the question's words and their dictionary synonyms
    assert set(plain.terms) < set(widened.terms)
