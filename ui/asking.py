"""Checking questions and passing them to the bot, one at a time; swapping in a
new bot when the index on disk changes."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from bot.bot import Bot
from bot.llm.generate import Partial, last
from bot.records import Answer
from bot.retrieve import Hit
from corpus.errors import UnionQAError
from index.embedding.embedder import Embedder
from ui.limits import INVALID_UNICODE, QUESTION_TOO_LONG, has_lone_surrogate
from ui.logs import log_question
from ui.questionlog import QuestionLog, answer_key

log = logging.getLogger(__name__)

CHECK_INTERVAL = 1.0  # seconds between looks at the index folder's CURRENT
WARM_UP_QUESTION = "工会的基本职责是什么？"  # loads the tokenizer, jieba's dictionary and the model's first pass


class QuestionError(UnionQAError, ValueError):
    """A question the user has to change; the message is shown to them as is."""

    status = 422


class ServerBusy(UnionQAError, RuntimeError):
    """Too many questions at once: the user should ask again after `retry_after` seconds."""

    status = 503

    def __init__(self, retry_after: int = 1, message: str = "") -> None:
        self.retry_after = max(1, int(retry_after))
        super().__init__(message or f"提问的人太多，服务繁忙，请 {self.retry_after} 秒后再试。")

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


def check_question(question: str, max_chars: int) -> str:
    question = (question or "").strip()
    if not question:
        raise QuestionError("问题不能为空，请输入您想了解的内容。")
    if has_lone_surrogate(question):
        raise QuestionError(INVALID_UNICODE)
    if len(question) > max_chars:
        raise QuestionError(QUESTION_TOO_LONG.format(n=len(question), limit=max_chars))
    return question


class Asker:
    """The one way the chat, the API and the pages reach the bot.

    Questions are answered one at a time: embedding a question already uses
    every core of the small office server, so running two at once would only
    slow both down, and the bot is not documented as thread-safe.

    With an `index_dir`, a new index version saved there (by `unionqa add` in
    another process, or the admin page) is picked up without a restart: a new
    Bot over the new version and the same loaded model replaces the old one in
    one assignment, so a question sees the old index or the new one, never a mix.
    """

    def __init__(self, bot: Bot, max_chars: int, index_dir: Path | None = None, log_questions: bool = False):
        self._bot = bot
        self.max_chars = max_chars
        self.index_dir = index_dir
        self.log_questions = log_questions  # the question's text in the logs only when asked for
        self.question_log: QuestionLog | None = None  # the staff console's log (ui/questionlog.py), when on
        self.warm = False  # a question has gone through the model in this process
        self._lock = threading.Lock()  # one question (or embedding batch) at a time
        self._reload_lock = threading.Lock()
        # the store knows where its live version is named: CURRENT in index_dir, or a Milvus alias
        self._version = bot.store.live_name(index_dir) if index_dir else ""
        self._checked_at = time.monotonic()

    @property
    def bot(self) -> Bot:
        """The bot of the live index version."""
        if self.index_dir is not None and time.monotonic() - self._checked_at >= CHECK_INTERVAL:
            self._checked_at = time.monotonic()
            if self._bot.store.live_name(self.index_dir) != self._version:
                self.reload(wait=False)
        return self._bot

    def reload(self, wait: bool = True) -> None:
        """Load the live version if it is not the one in use. Without `wait`, a
        reload already under way in another thread is left to finish instead.
        A version that fails to load (say, built with other settings) is logged
        and the old bot kept."""
        if self.index_dir is None or not self._reload_lock.acquire(blocking=wait):
            return
        try:
            old = self._bot
            version = old.store.live_name(self.index_dir)
            if version == self._version:
                return
            store = old.store.load_live(self.index_dir, expected=old.store.manifest.settings)
            self._bot = Bot(store, old.embedder, settings=old.settings, mode=old.retriever.mode,
                            calibration=old.calibration, lexicon=old.lexicon, generator=old.generator,
                            curated=old.curated)
            self._version = version
        except Exception:
            log.exception("could not load index version %r in %s; still answering from the old one", version, self.index_dir)
            self._version = version  # not retried every second: the next new version is
        finally:
            self._reload_lock.release()

    @property
    def version(self) -> str:
        """The index version the live bot answers from."""
        return self._version

    def ask(self, question: str, history: list[tuple[str, str]] | None = None, client: str = "") -> Answer:
        return last(self.ask_stream(question, history, client))

    def ask_stream(self, question: str, history: list[tuple[str, str]] | None = None,
                   client: str = "") -> Iterator[Partial | Answer]:
        """`Partial`s of a generated answer as the LLM writes it, then the Answer.

        The extractive part (retrieval, the answerability decision, the quoted answer)
        runs at once, under the question lock or in an answering process (ui.workers):
        a bad question raises QuestionError and a full pool ServerBusy here, before
        anything is streamed, so the APIs can answer 422 or 503. Only the LLM's writing
        is left to the returned iterator, in this process and outside the lock: its
        seconds of I/O must not hold up other people's questions. `client` (the asker's
        address) goes to the question log hashed, never as it is."""
        question = check_question(question, self.max_chars)
        if any(has_lone_surrogate(text) for pair in history or [] for text in pair):
            raise QuestionError(INVALID_UNICODE)
        history = history or None
        started = time.perf_counter()
        try:
            bot, extractive, hits = self._extract(question, history)
        except ServerBusy:
            log_question(self.log_questions, question, "busy", time.perf_counter() - started)
            raise
        except Exception:
            log_question(self.log_questions, question, "error", time.perf_counter() - started)
            raise
        return self._generate(bot, question, extractive, hits, history, started, client)

    def _generate(self, bot: Bot, question: str, extractive: Answer, hits: list[Hit],
                  history: list[tuple[str, str]] | None, started: float,
                  client: str = "") -> Iterator[Partial | Answer]:
        """The LLM's answer from the extractive one (just that one without an LLM);
        one log line per question, written before its final answer is handed on, or
        with status "cancelled" when the stream is dropped before it (the client went
        away): the log holds every question asked, answered or not."""

        done = [False]  # shared with the LoggedStream, which the generator must not refer to (a cycle would
        # leave a dropped stream to the cyclic collector, and its line to some later moment)

        def cancelled() -> None:
            log_question(self.log_questions, question, "cancelled", time.perf_counter() - started)

        def items() -> Iterator[Partial | Answer]:
            try:
                for item in bot.generate(extractive, hits, history):
                    if isinstance(item, Answer):
                        done[0] = True
                        log_question(self.log_questions, question, item.status, time.perf_counter() - started,
                                     citations=len(item.citations), generated=item.generated,
                                     fallback=item.fallback)
                        self._keep(question, item, time.perf_counter() - started, client)
                    yield item
            except GeneratorExit:
                raise  # closed early: LoggedStream.close writes the line
            except Exception:
                done[0] = True
                log_question(self.log_questions, question, "error", time.perf_counter() - started)
                raise

        return LoggedStream(items(), cancelled, done)

    def _keep(self, question: str, answer: Answer, seconds: float, client: str) -> None:
        """The answered question into the question log, if on; a failure there is a log
        line, never a failed answer."""
        if self.question_log is None:
            return
        try:
            self.question_log.record(question, answer.status, [c.doc_id for c in answer.citations],
                                     seconds * 1000, client=client, key=answer_key(question, answer.text))
        except Exception:
            log.exception("could not log the question", extra={"event": "question_log_error"})

    def closest_documents(self, question: str, k: int = 3) -> list[tuple[str, str]]:
        """(doc_id, title) of the documents whose passages come closest to `question`, best
        first: for the console's list of what the union's documents are missing. Taken in
        turn with the questions (the model and the bot are not shared between threads)."""
        bot = self.bot
        with self._lock:
            _, hits, _ = bot.retrieve(question)
        found: dict[str, str] = {}
        for hit in hits:
            doc = bot.documents.get(hit.chunk.doc_id)
            if doc is not None and hit.chunk.doc_id not in found:
                found[hit.chunk.doc_id] = doc.title
        return list(found.items())[:k]

    def _extract(self, question: str, history: list[tuple[str, str]] | None) -> tuple[Bot, Answer, list[Hit]]:
        """The extractive answer to a checked question and the hits it came from (here,
        in this process; ui.workers.PoolAsker computes it in others), with the bot whose
        documents they come from, for the LLM to write with (a reload may swap `.bot` meanwhile)."""
        bot = self.bot
        with self._lock:
            if bot.generator is None:  # only the LLM needs the hits (and only then do they go between processes)
                answer, hits = bot.ask(question, history), []
            else:
                answer, hits = bot.extract(question, history)
        self.warm = True
        return bot, answer, hits

    def warm_up(self) -> None:
        """Answer one question (without the LLM), so that the first user does not wait
        for first-use loading."""
        self._extract(WARM_UP_QUESTION, None)

    def readiness(self) -> dict[str, Any]:
        """Whether questions can be answered at once: the index loaded and the model warm."""
        bot = self.bot
        return {
            "ready": self.warm,
            # the version read, which a broken CURRENT makes differ from what CURRENT says
            "index_version": bot.store.version or self._version,
            "index_warning": bot.store.warning,
            "documents": len(bot.documents),
            "chunks": len(bot.store.chunks),
            "warm": self.warm,
        }

    def indexing_embedder(self) -> Embedder:
        """The bot's model, for indexing in this process (the admin page)."""
        return TakingTurnsEmbedder(self.bot.embedder, self._lock)


class LoggedStream:
    """An answer's stream that calls `on_cancel` once if it is closed, or dropped, before
    its end (`done[0]` set by whoever logged the end): a generator never started would
    not run its own clean-up at all (a client that went away before the first event),
    so this wrapper does it."""

    def __init__(self, items: Iterator[Partial | Answer], on_cancel: Callable[[], None], done: list[bool]):
        self._items = items
        self._on_cancel = on_cancel
        self._done = done

    def __iter__(self) -> LoggedStream:
        return self

    def __next__(self) -> Partial | Answer:
        try:
            return next(self._items)
        except StopIteration:
            self._done[0] = True
            raise

    def close(self) -> None:
        if not self._done[0]:
            self._done[0] = True
            self._on_cancel()
        close = getattr(self._items, "close", None)
        if close is not None:
            try:
                close()
            except ValueError:
                pass  # still running in a worker thread: it is dropped once that step returns

    def __del__(self) -> None:
        self.close()


class TakingTurnsEmbedder:
    """The same loaded model, each batch run under the question lock: the model's
    tokenizer is not safe to use from two threads at once, and questions still get
    answered between the batches of a long upload."""

    def __init__(self, embedder: Embedder, lock: threading.Lock):
        self._inner = embedder  # share the loaded model, not a copy of it
        self.name, self.backend, self.dim = embedder.name, embedder.backend, embedder.dim
        self._turn = lock

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        with self._turn:
            return self._inner.encode_queries(texts)

    def encode_passages(self, texts: list[str], show_progress: bool = False, batch_size: int = 32) -> np.ndarray:
        with self._turn:
            return self._inner.encode_passages(texts, show_progress=show_progress, batch_size=batch_size)
