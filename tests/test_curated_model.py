"""Approved answers on the real model: the ten approved answers of
tests/data/curated_paraphrases.json on the bundled corpus, asked in paraphrases no fit ever
saw, and in out-of-scope questions of our own (the dev sets' ones, which the fit does read,
are in ../shared and not read here), with the bundled cosine threshold (before) and the
bundled pair model (bot/curated_pairs.py, after), in the same run.

Measured: the cosine threshold matches 38 of 50 paraphrases (0.76), the pair model 39 (0.78);
neither matches another answer or any of the 18 out-of-scope questions. The issue's target is
0.9: the README says why it is not reached."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.bot import Bot
from bot.curated import CuratedAnswer, find_excerpt
from bot.curated_match import CuratedMatcher, load_pairs, load_threshold
from bot.curated_store import CuratedStore
from bot.records import CURATED

DATA = Path(__file__).parent / "data" / "curated_paraphrases.json"
PARAPHRASE_FLOOR = 0.74  # the pair model reaches 0.78 now: a drop shows (a borderline score may flip)


@pytest.fixture(scope="module")
def approved(tmp_path_factory, model_bot):
    data = json.loads(DATA.read_text(encoding="utf-8"))
    documents = model_bot.documents
    store = CuratedStore(tmp_path_factory.mktemp("curated") / "curated.json")
    ids = []
    for i, entry in enumerate(data["answers"]):
        doc_id = next(d for d in documents if entry["cite"]["doc"] in d)
        span = find_excerpt(documents, doc_id, entry["cite"]["text"])
        answer = CuratedAnswer(f"p{i}", entry["question"], entry["answer"], (span,), tuple(entry["phrasings"]),
                               approved_at="2026-12-06")
        ids.append(store.add(answer, documents).id)
    threshold = load_threshold(model_bot.embedder.name)
    assert threshold is not None, "no fitted threshold for the bundled model: run `unionqa curated fit`"
    return data, ids, CuratedMatcher(store, threshold, load_pairs(model_bot.embedder.name))


def measure(matcher: CuratedMatcher, data: dict, ids: list[str], bot) -> tuple[int, int, list, list]:
    """(paraphrases matched to their own answer, paraphrases, matched to another, out-of-scope matched)."""
    hits, wrong, total = 0, [], 0
    for answer_id, entry in zip(ids, data["answers"], strict=True):
        for paraphrase in entry["paraphrases"]:
            total += 1
            found = matcher.match(paraphrase, bot.documents, bot.embedder)
            if found and found[0].id == answer_id:
                hits += 1
            elif found:
                wrong.append((paraphrase, found[0].question))
    matched_out = [q for q in data["out_of_scope"] if matcher.match(q, bot.documents, bot.embedder)]
    return hits, total, wrong, matched_out


def test_paraphrases_match_their_answer_and_out_of_scope_questions_none(approved, model_bot):
    data, ids, matcher = approved
    assert matcher.pairs is not None, "no fitted pair model for the bundled model: run `unionqa curated fit --legal …`"
    cosine_only = CuratedMatcher(matcher.store, matcher.threshold)
    before, total, before_wrong, before_out = measure(cosine_only, data, ids, model_bot)
    hits, total, wrong, matched_out = measure(matcher, data, ids, model_bot)
    print(f"\ncosine threshold {matcher.threshold}: paraphrases matched {before}/{total} = {before / total:.2f}, "
          f"to another answer {len(before_wrong)}, out-of-scope matched {len(before_out)}/{len(data['out_of_scope'])}"
          f"\npair model (threshold {matcher.pairs.threshold}): paraphrases matched {hits}/{total} = {hits / total:.2f}, "
          f"to another answer {len(wrong)}, out-of-scope matched {len(matched_out)}/{len(data['out_of_scope'])}")
    assert wrong == []
    assert matched_out == []
    assert hits / total >= PARAPHRASE_FLOOR
    assert hits >= before  # the learned matcher does no worse than the cosine it replaces


def test_the_bot_serves_the_approved_answer_before_retrieval(approved, model_bot):
    data, ids, matcher = approved
    bot = Bot(model_bot.store, model_bot.embedder, calibration=model_bot.calibration, lexicon=model_bot.lexicon,
              curated=matcher)
    answer = bot.ask(data["answers"][0]["question"])
    assert answer.status == CURATED and answer.curated_id == ids[0]
    assert answer.citations[0].text == data["answers"][0]["cite"]["text"]
    assert bot.ask("今天天气怎么样？").status != CURATED
