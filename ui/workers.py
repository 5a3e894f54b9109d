"""Answering questions in several processes: `unionqa serve --workers N`.

One web process serves HTTP: the REST API, the admin page and the Gradio chat,
whose queue and per-session state live in that process's memory. Answering is the
CPU-heavy part (embedding the question, searching, choosing sentences), and it
runs in N answering processes forked from the web process after the model and the
index are loaded, so that they share the model's memory page by page (copy on
write; nothing writes to the weights). Each answering process watches the index
folder's CURRENT by itself, like the web process does (ui.asking.Asker).

Why not N copies of the whole server (`uvicorn --workers`, gunicorn): the kernel
hands each new connection to whichever process accepts it first, and a browser
talks to the chat over several connections (Gradio's queue/join and its
queue/data event stream), so a question could reach a process that does not hold
the session, and its answer would never arrive. Without sticky routing in front,
the chat needs its queue and sessions in one process.

With an LLM configured (bot/llm/generate.py), an answering process returns the
extractive answer and its hits, and the web process has the LLM write (and stream)
the answer from them (ui.asking.Asker.ask_stream): that is waiting on the LLM
server, which needs no core, and the chat, SSE and /v1 streams are in this process.

Torch and FAISS must not have started their OpenMP threads before a fork: GNU
OpenMP does not survive one, and a child that uses it hangs (seen: FAISS search in
a fresh worker). So with several workers the web process keeps both on one thread
(`single_threaded_native`, called before the model loads); the answering processes
embed a question on one thread anyway (index.embedding.embedder.Embedder.encode_queries), and
a search of one query gains nothing from more. OMP_NUM_THREADS=1 keeps the ONNX backend's
passage batches (index.embedding.onnx_backend) on one thread in the web process too. The admin page's uploads are then
embedded on one thread too, which leaves the other cores to the answering processes.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from concurrent.futures import BrokenExecutor, ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import Any

from bot.bot import Bot
from bot.records import Answer
from bot.retrieve import Hit
from ui.asking import WARM_UP_QUESTION, Asker, ServerBusy

log = logging.getLogger("unionqa.workers")

ANSWER_TIMEOUT = 60.0  # seconds; a worker that takes longer is given up on (503), never waited for forever
START_TIMEOUT = 180.0  # seconds for every worker to be forked and warm

# Set in the web process just before the fork; each answering process uses its own inherited copy.
_child_asker: Asker | None = None
_child_pids: Any = None  # multiprocessing Array: the pid of each warm worker, 0 while starting


def single_threaded_native() -> None:
    """Keep the OpenMP pools of torch and FAISS (each has its own) and the tokenizer's
    thread pool unstarted in this process, so that its forks can use them."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    # ONNX Runtime's passage batches then run on one thread as well (index.embedding.embedder._thread_limit)
    os.environ["OMP_NUM_THREADS"] = "1"
    import faiss

    faiss.omp_set_num_threads(1)
    # torch only if something loaded it already: the ONNX backend runs without it, and a torch
    # imported later reads OMP_NUM_THREADS above
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(1)


def _die_with_parent() -> None:
    """Ask Linux to end this process when the web process ends, even by SIGKILL."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the pool's own shutdown still ends it
        pass


def _start_worker() -> None:
    """In each answering process, once: warm up, then say so."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C goes to the web process, which stops the pool
    _die_with_parent()
    assert _child_asker is not None
    _child_asker.warm_up()
    with _child_pids.get_lock():
        for slot in range(len(_child_pids)):
            if _child_pids[slot] == 0:
                _child_pids[slot] = os.getpid()
                break


def _answer_in_worker(question: str, history: list[tuple[str, str]] | None) -> tuple[str, Answer, list[Hit]]:
    """The extractive answer and its hits (plain dataclasses, so they pickle): with an LLM
    configured, the web process writes the generated answer from them (bot.Bot.generate),
    since that is waiting on the LLM server, not work for these processes' cores."""
    assert _child_asker is not None
    _, answer, hits = _child_asker._extract(question, history)  # `.bot` looks for a new CURRENT first
    return _child_asker.version, answer, hits


class PoolAsker(Asker):
    """An Asker whose questions are answered by N forked processes.

    The web process keeps its own bot for everything else (document list and view,
    health, the chat's rendering, the admin page's indexing) and follows CURRENT as
    before; an answer from a newer version makes it load that version at once, so
    the chat can show the new documents it cites."""

    def __init__(self, bot: Bot, max_chars: int, index_dir: Path | None, workers: int, log_questions: bool = False):
        super().__init__(bot, max_chars, index_dir=index_dir, log_questions=log_questions)
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        self._pids: Any = None
        self.restarts = 0

    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Fork the answering processes and wait until every one of them is warm."""
        self.warm_up_here()
        with self._pool_lock:
            self._fork()
        deadline = time.monotonic() + timeout
        while not self.all_warm():
            if time.monotonic() > deadline:
                raise RuntimeError(f"回答进程未能在 {timeout:.0f} 秒内启动")
            time.sleep(0.05)

    def warm_up_here(self) -> None:
        """Warm this process (jieba, the tokenizer) once, so that every fork starts warm."""
        if not self.warm:
            Asker._extract(self, WARM_UP_QUESTION, None)

    def _fork(self) -> None:
        global _child_asker, _child_pids
        _child_asker = Asker(self._bot, self.max_chars, index_dir=self.index_dir)
        _child_asker._version = self._version
        _child_asker.warm = self.warm
        self._pids = _child_pids = multiprocessing.get_context("fork").Array("i", self.workers)
        old, self._pool = self._pool, ProcessPoolExecutor(
            self.workers, mp_context=multiprocessing.get_context("fork"), initializer=_start_worker
        )
        # The fork context starts every process at the first submit, before the pool's own thread.
        self._pool.submit(os.getpid)
        if old is not None:
            old.shutdown(wait=False, cancel_futures=True)

    def pids(self) -> list[int]:
        return [pid for pid in (self._pids or []) if pid]

    def all_warm(self) -> bool:
        return len(self.pids()) == self.workers and all(_alive(pid) for pid in self.pids())

    def _restart(self, broken: ProcessPoolExecutor | None, reason: str) -> None:
        """Replace the pool `broken` by a fresh set of workers (unless that was done already)."""
        with self._pool_lock:
            if self._pool is not broken:
                return
            log.error("", extra={"event": "workers_restart", "reason": reason})
            self.restarts += 1
            self._fork()

    def _extract(self, question: str, history: list[tuple[str, str]] | None) -> tuple[Bot, Answer, list[Hit]]:
        pool = self._pool
        if pool is None:
            raise RuntimeError("PoolAsker.start() was not called")
        try:
            version, answer, hits = pool.submit(_answer_in_worker, question, history).result(timeout=ANSWER_TIMEOUT)
        except BrokenExecutor as exc:
            # a worker died (killed, out of memory): start a fresh set; the user asks again shortly
            threading.Thread(target=self._restart, args=(pool, repr(exc)), daemon=True).start()
            raise ServerBusy(5) from exc
        except FutureTimeout as exc:
            raise ServerBusy(5) from exc
        self.warm = True
        if version and version != self._version:
            self.reload(wait=True)  # also gives the LLM (in this process) the documents the hits come from
        return self.bot, answer, hits

    def readiness(self) -> dict[str, Any]:
        status = super().readiness()
        alive = self.all_warm()
        if any(not _alive(pid) for pid in self.pids()):  # one died since it was warm: replace them now
            threading.Thread(target=self._restart, args=(self._pool, "a worker is gone"), daemon=True).start()
        status.update(ready=status["ready"] and alive, workers=len(self.pids()), workers_wanted=self.workers,
                      restarts=self.restarts)
        return status

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)


def _alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def memory(pid: int) -> dict[str, float]:
    """A process's memory in MB from /proc/<pid>/smaps_rollup: resident (rss), proportional
    (pss: shared pages divided among the processes sharing them, so the PSS of all
    processes adds up to what they really use), shared and private."""
    fields = {"Rss": "rss_mb", "Pss": "pss_mb", "Shared_Clean": "shared_mb", "Shared_Dirty": "shared_mb",
              "Private_Clean": "private_mb", "Private_Dirty": "private_mb"}
    result = dict.fromkeys(fields.values(), 0.0)
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as f:
            for line in f:
                name, _, rest = line.partition(":")
                if name in fields:
                    result[fields[name]] += int(rest.split()[0]) / 1024
    except OSError:
        return {}
    return {key: round(value, 1) for key, value in result.items()}


def process_memory(asker: Asker) -> list[dict[str, Any]]:
    """Memory of the web process and of each answering process."""
    rows = [{"role": "web", "pid": os.getpid(), **memory(os.getpid())}]
    if isinstance(asker, PoolAsker):
        rows += [{"role": "worker", "pid": pid, **memory(pid)} for pid in asker.pids()]
    return rows
