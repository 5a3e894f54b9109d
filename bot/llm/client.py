"""The connection to the union's own LLM server, through any OpenAI-compatible API
(vLLM, Ollama, Xinference, LMDeploy, an on-premises DeepSeek or Qwen), with the
official `openai` client.

Three things matter more here than in a plain client:
- a hard deadline: a question must get an answer within the timeout (plus the
  retrieval), even from a server that sends one token a minute; the stream is read
  in a helper thread and given up when the deadline passes;
- no retries inside the client: a second try would double the wait, and
  `CircuitBreaker` handles a server that keeps failing;
- the API key is never logged nor shown (`LLMSettings` leaves it out of its repr).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from corpus.errors import UnionQAError

log = logging.getLogger(__name__)

# LLMError.reason
TIMEOUT = "timeout"
ERROR = "error"

NO_KEY = "EMPTY"  # what vLLM's documentation sends when the server wants no key; the client needs one


@dataclass(frozen=True)
class LLMSettings:
    base_url: str
    model: str = ""  # empty: the first model the server lists
    api_key: str = field(default="", repr=False)
    timeout: float = 20.0  # seconds for the whole answer, first byte to last
    max_tokens: int = 600
    temperature: float = 0.1


class LLMError(UnionQAError):
    """The LLM server did not answer in time (`reason` TIMEOUT) or failed (ERROR)."""

    def __init__(self, message: str, reason: str = ERROR):
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Delta:
    """A piece of streamed answer text; `finish_reason` is set on the last one
    ("stop", or "length" when the model hit its token limit)."""

    text: str = ""
    finish_reason: str | None = None


class LLMClient:
    def __init__(self, settings: LLMSettings):
        import openai

        self.settings = settings
        # connect fails fast; reads are bounded by the deadline of `stream`
        timeout = openai.Timeout(settings.timeout, connect=min(settings.timeout, 5.0))
        self._client = openai.OpenAI(
            base_url=settings.base_url, api_key=settings.api_key or NO_KEY, timeout=timeout, max_retries=0
        )
        self._model = settings.model

    @property
    def model(self) -> str:
        if not self._model:
            models = self.models()
            if not models:
                raise LLMError("大模型服务没有列出任何模型，请用 UNIONQA_LLM_MODEL 指定。")
            self._model = models[0]
        return self._model

    def models(self) -> list[str]:
        """The model names the server offers."""
        try:
            return [m.id for m in self._client.models.list()]
        except Exception as exc:
            raise _error(exc) from exc

    def complete(self, messages: list[dict], max_tokens: int | None = None) -> str:
        """A whole answer at once (used by `unionqa llm check`)."""
        try:
            response = self._client.chat.completions.create(
                model=self.model, messages=messages, max_tokens=max_tokens or self.settings.max_tokens,
                temperature=self.settings.temperature, stream=False,
            )
        except Exception as exc:
            raise _error(exc) from exc
        return response.choices[0].message.content or "" if response.choices else ""

    def stream(self, messages: list[dict]) -> Iterator[Delta]:
        """The answer as it is generated. Raises LLMError on a failure, a cut-off
        stream, or when the whole answer has not arrived within the timeout."""
        deadline = time.monotonic() + self.settings.timeout
        pieces: queue.Queue = queue.Queue()
        stop = threading.Event()
        holder: dict = {}

        def read() -> None:
            try:
                stream = self._client.chat.completions.create(
                    model=self.model, messages=messages, max_tokens=self.settings.max_tokens,
                    temperature=self.settings.temperature, stream=True,
                )
                holder["stream"] = stream
                finished = False
                for chunk in stream:
                    if stop.is_set():
                        break
                    for choice in chunk.choices[:1]:
                        text = choice.delta.content or "" if choice.delta else ""
                        if text or choice.finish_reason:
                            pieces.put(Delta(text, choice.finish_reason))
                        finished = finished or bool(choice.finish_reason)
                if not finished and not stop.is_set():
                    # the server closed the stream before saying why it ended
                    pieces.put(LLMError("大模型的回答中途断开。"))
                    return
                pieces.put(None)
            except Exception as exc:  # handed to the reading side, which raises it
                pieces.put(_error(exc))

        worker = threading.Thread(target=read, daemon=True, name="llm-stream")
        worker.start()
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise LLMError(f"大模型在 {self.settings.timeout:g} 秒内没有答完。", TIMEOUT)
                try:
                    item = pieces.get(timeout=remaining)
                except queue.Empty:
                    continue
                if item is None:
                    return
                if isinstance(item, Exception):
                    raise item
                yield item
        finally:
            stop.set()
            stream = holder.get("stream")
            if stream is not None and worker.is_alive():
                try:  # unblock the reader: it would otherwise wait for the server's next byte
                    stream.close()
                except Exception:  # closing a half-read response from another thread may complain
                    log.debug("closing the LLM stream", exc_info=True)


def _error(exc: Exception) -> LLMError:
    """One clear message for every way the openai client fails; never the key."""
    import openai

    if isinstance(exc, LLMError):
        return exc
    if isinstance(exc, openai.APITimeoutError):
        return LLMError("大模型服务响应超时。", TIMEOUT)
    if isinstance(exc, openai.APIConnectionError):
        return LLMError("无法连接大模型服务。")
    if isinstance(exc, openai.APIStatusError):
        message = ""
        body = exc.body if isinstance(exc.body, dict) else {}
        if isinstance(body.get("error"), dict):
            message = str(body["error"].get("message", ""))[:200]
        elif body.get("message"):
            message = str(body["message"])[:200]
        return LLMError(f"大模型服务返回错误 {exc.status_code}" + (f"：{message}" if message else "。"))
    return LLMError(f"大模型服务出错：{type(exc).__name__}")


class CircuitBreaker:
    """After `failures` failures in a row, the LLM is skipped for `cooldown` seconds,
    so that a dead server does not add its timeout to every question. After the
    cooldown one question tries again (half-open); its success closes the breaker."""

    def __init__(self, failures: int = 3, cooldown: float = 60.0):
        self.failures = failures
        self.cooldown = cooldown
        self._count = 0
        self._opened_at: float | None = None
        self._trial = False
        self._lock = threading.Lock()

    def allow(self) -> bool:
        with self._lock:
            if self._opened_at is None:
                return True
            if time.monotonic() - self._opened_at >= self.cooldown and not self._trial:
                self._trial = True  # one question probes the server; the others still skip it
                return True
            return False

    def success(self) -> None:
        with self._lock:
            self._count = 0
            self._opened_at = None
            self._trial = False

    def failure(self) -> None:
        with self._lock:
            self._count += 1
            if self._trial or self._count >= self.failures:
                if self._opened_at is None or self._trial:
                    log.warning("the LLM server failed %d times in a row; skipping it for %.0f s",
                                self._count, self.cooldown)
                self._opened_at = time.monotonic()
                self._trial = False

    @property
    def is_open(self) -> bool:
        with self._lock:
            return self._opened_at is not None
