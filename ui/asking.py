"""Checking questions and passing them to the bot, one at a time."""

from __future__ import annotations

import threading

from bot.bot import Bot
from bot.records import Answer


class QuestionError(ValueError):
    """A question the user has to change; the message is shown to them as is."""


def check_question(question: str, max_chars: int) -> str:
    question = (question or "").strip()
    if not question:
        raise QuestionError("问题不能为空，请输入您想了解的内容。")
    if len(question) > max_chars:
        raise QuestionError(f"问题太长了（{len(question)} 字），请控制在 {max_chars} 字以内。")
    return question


class Asker:
    """The one way the chat and the API reach the bot.

    Questions are answered one at a time: embedding a question already uses
    every core of the small office server, so running two at once would only
    slow both down, and the bot is not documented as thread-safe.
    """

    def __init__(self, bot: Bot, max_chars: int):
        self.bot = bot
        self.max_chars = max_chars
        self._lock = threading.Lock()

    def ask(self, question: str, history: list[tuple[str, str]] | None = None) -> Answer:
        question = check_question(question, self.max_chars)
        with self._lock:
            return self.bot.ask(question, history or None)
