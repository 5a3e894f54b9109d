"""The constants that shape an answer, in one place: how deep retrieval looks, how the
untrained fusion weighs its signals, how much an answer quotes, when it holds back.

`Bot(..., settings=AnswerSettings(...))` takes them and hands each to the step that uses it
(bot/retrieve.py, bot/answerability.py, bot/compose.py, bot/bot.py); the defaults are the
values the bundled calibration and ranker were fitted and measured with (docs/benchmark.md).
Fitted numbers are not here: they live in bot/calibration/ with the command that refits
them. Changing `evidence_passages` or the quote limits changes what the fitted models
read, so refit (`unionqa calibrate`) before trusting a changed value.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AnswerSettings:
    # --- retrieval depth
    # Passages returned per question: the answer's evidence and its 「相关」 fallbacks come from these
    top_k: int = 5
    # Each retriever's (dense, BM25) depth: a passage one of them ranks low can still be fused up
    candidates: int = 50
    # Fused candidates kept beyond top_k, for answers that look further (a definition's sentence)
    pool: int = 20
    # Passages the answer is composed from and answerability reads: the calibration was fitted on 3
    evidence_passages: int = 3

    # --- the untrained fusion, used when the embedding model has no fitted ranker (bot/ranker.py)
    # Dense cosines, spread to [0, 1]: untrained, so weighed equal to BM25
    dense_weight: float = 1.0
    # BM25 over its best score: untrained, so weighed equal to the dense cosines
    bm25_weight: float = 1.0
    # A passage's best-sentence cosine, weighted like the others: laws tune hit@1 39 → 44 of 67
    sentence_weight: float = 1.0
    # Reciprocal-rank fusion's customary k; fusion "rrf" is kept for comparison only
    rrf_k: int = 60
    # RM3 feedback off: it lowered hit@1 at every weight tried (docs/benchmark.md)
    feedback: bool = False

    # --- how much an answer quotes (bot/compose.py)
    # The most sentences an answer quotes, besides a whole short article or list
    max_sentences: int = 3
    # Sentences beyond the best one are added only while the answer stays this short: a reader skims
    max_chars: int = 160
    # An article or list this short is quoted whole: its answer often needs its conditions and exceptions
    whole_unit_chars: int = 250
    # A further sentence is quoted when the sentence model thinks it more likely than not
    keep_probability: float = 0.5
    # Passages shown, without a claim, when the evidence is near but not decisive
    related_passages: int = 3

    # --- when an answer holds back (bot/bot.py)
    # An English question with more of its words unread is only 「相关」: the words read may miss the point
    mostly_unread: float = 0.5


# The settings every function falls back to when not given the bot's own.
DEFAULTS = AnswerSettings()
