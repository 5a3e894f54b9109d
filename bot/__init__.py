"""The bot: a question in, an Answer with its Citations out (bot.py), built from retrieval
(retrieve.py, query.py), composition (compose.py and the modules it uses) and the
answerability decision (answerability.py). Two sub-packages hold what is not answering
itself: llm/ (the LLM client, the generated answer, its grounding check) and eval/ (the
benchmarks, the calibration fit and the eval runners).

`from bot import Bot, Answer, Citation` is the public entry. The names are loaded on first
use, so that a module importing only bot.records (the UI's pages) does not load the
retrieval stack (FAISS, the tokenizer) with it."""

from __future__ import annotations

from typing import TYPE_CHECKING

__all__ = ["Answer", "Bot", "Citation"]

if TYPE_CHECKING:
    from bot.bot import Bot
    from bot.records import Answer, Citation


def __getattr__(name: str) -> object:
    if name == "Bot":
        from bot.bot import Bot

        return Bot
    if name in ("Answer", "Citation"):
        from bot import records

        return getattr(records, name)
    raise AttributeError(f"module 'bot' has no attribute {name!r}")
