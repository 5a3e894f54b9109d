"""Parsing untrusted files in a separate worker process, with a memory cap and a
wall-clock limit, so that no file (a zip bomb, a pathological page, a parser bug)
can take the server or the command down, whatever its format.

One long-lived worker (`python -m corpus.sandbox`) reads requests as JSON lines on
its stdin and answers each with one JSON line: the Document, or the reason it could
not be loaded. The worker imports only the corpus layer, so it starts in well under
a second, and being reused it adds little to each file. Its address space is capped
with `resource.setrlimit(RLIMIT_AS)`: a parser that asks for more gets a MemoryError
(or the worker dies), never the parent's memory. A file that takes longer than the
time limit gets its worker killed; the next file starts a fresh one.

Results come back as JSON, not pickle: a worker that a hostile file took over must
not be able to run code in the parent.
"""

from __future__ import annotations

import json
import logging
import os
import select
import subprocess
import sys
import threading
import time
from dataclasses import asdict
from pathlib import Path

from corpus.errors import LoadError
from corpus.records import Document, Paragraph

# Address space of the worker: text formats need a fraction of it, but OCR (onnxruntime with
# PP-OCR's models and a page rendered at 150 dpi) needs about 2 GB of address space.
MEMORY_MB = 3072
TIMEOUT_S = 60.0  # per file; a 300-page PDF parses in a few seconds
# Per scanned page: each page read by OCR restarts the clock, so a long scan is not cut off by
# the file's limit. An A4 page at 150 dpi takes a few seconds on an idle core, but 40-95 s were
# measured with five test runs sharing two cores; the limit is for a page that never ends.
PAGE_TIMEOUT_S = 180.0
STARTUP_S = 60.0  # for the worker's imports, on a busy machine
_ROOT = Path(__file__).resolve().parent.parent


class ParseWorker:
    """A reusable worker process; `load(path, source, doc_id)` is safe from several
    threads (files are parsed one at a time)."""

    def __init__(self, memory_mb: int = MEMORY_MB, timeout: float = TIMEOUT_S, page_timeout: float = PAGE_TIMEOUT_S):
        self.memory_mb = memory_mb
        self.timeout = timeout
        self.page_timeout = page_timeout
        self._process: subprocess.Popen | None = None
        self._lock = threading.Lock()
        self._timed_out = False
        self._pending = b""  # what the worker wrote past the last line read

    def load(self, path: Path, source: str, doc_id: str) -> Document:
        """The Document of the file at `path`; LoadError (with a reason for the
        user) if it cannot be loaded or hits a limit."""
        request = json.dumps({"path": str(path), "source": source, "doc_id": doc_id}, ensure_ascii=True)
        with self._lock:
            process = self._start()
            try:
                process.stdin.write(request.encode("ascii") + b"\n")
                process.stdin.flush()
                line = self._read_line(process)
                line = self._follow_pages(process, line, source)
            except BrokenPipeError:
                line = b""
            if not line:
                self._stop()
                raise LoadError(self._death_reason(process))
            reply = json.loads(line)
            if reply.get("restart"):
                self._stop()  # a worker that ran out of memory is not trusted with the next file
        if "error" in reply:
            if reply.get("detail"):
                logging.getLogger(__name__).warning("parsing %s failed: %s", source, reply["detail"])
            raise LoadError(reply["error"])
        return _document_from_json(reply["document"])

    def _follow_pages(self, process: subprocess.Popen, line: bytes, source: str) -> bytes:
        """While the worker reports OCR'd pages ({"page": n, "pages": m}), show a progress bar
        and give each next page its own time limit; the first other line is the answer."""
        bar = None
        try:
            while line.startswith(b'{"page"'):
                progress = json.loads(line)
                if bar is None:
                    from tqdm import tqdm

                    # disable=None: only on a terminal, never in a server's log
                    bar = tqdm(total=progress["pages"], desc=f"文字识别 {source}", unit="页", disable=None,
                               leave=False)
                bar.update(progress["page"] - bar.n)
                line = self._read_line(process, self.page_timeout)
        finally:
            if bar is not None:
                bar.close()
        return line

    def close(self) -> None:
        with self._lock:
            self._stop()

    def _start(self) -> subprocess.Popen:
        if self._process is None or self._process.poll() is not None:
            env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(_ROOT), os.environ.get("PYTHONPATH", "")])}
            self._process = subprocess.Popen(
                [sys.executable, "-m", "corpus.sandbox", str(self.memory_mb), str(int(self.timeout) + 5),
             str(int(self.page_timeout) + 5)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                env=env,
                cwd=str(_ROOT),
            )
            # Wait for its imports, so that the time limit counts parsing only.
            if self._read_line(self._process, STARTUP_S) != b"ready\n":
                self._stop()
                self._timed_out = False
                raise LoadError("无法启动文件解析进程")
        return self._process

    def _read_line(self, process: subprocess.Popen, timeout: float | None = None) -> bytes:
        """The worker's answer, or b"" if it died or ran past the time limit (then it is killed)."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        fd = process.stdout.fileno()
        # one read may bring several lines (a page's progress and the answer): keep the rest
        while b"\n" not in self._pending:
            left = deadline - time.monotonic()
            if left <= 0:
                process.kill()
                process.wait()
                self._timed_out = True
                self._pending = b""
                return b""
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                self._pending = b""
                return b""
            self._pending += chunk
        line, _, self._pending = self._pending.partition(b"\n")
        return line + b"\n"

    def _death_reason(self, process: subprocess.Popen) -> str:
        if self._timed_out:
            self._timed_out = False
            return (f"解析超时（超过 {self.timeout:g} 秒，扫描页每页 {self.page_timeout:g} 秒），"
                    "文件可能过于复杂或是恶意构造的，已跳过")
        return f"解析时超出内存上限（{self.memory_mb} MB）或解析程序异常退出，文件可能是恶意构造的，已跳过"

    def _stop(self) -> None:
        self._pending = b""
        if self._process is not None:
            if self._process.poll() is None:
                self._process.kill()
            self._process.wait()
            for stream in (self._process.stdin, self._process.stdout):
                if stream is not None:
                    stream.close()
            self._process = None


_shared: ParseWorker | None = None
_shared_lock = threading.Lock()


def shared_worker() -> ParseWorker:
    """The process-wide worker that `load_corpus` and `load_document` use."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = ParseWorker()
        return _shared


def _document_to_json(doc: Document) -> dict:
    return {**asdict(doc), "paragraphs": [asdict(p) for p in doc.paragraphs]}


def _document_from_json(data: dict) -> Document:
    paragraphs = tuple(Paragraph(**p) for p in data["paragraphs"])
    return Document(data["doc_id"], data["title"], data["source"], data["text"], paragraphs, dict(data["metadata"]))


def _serve(memory_mb: int, cpu_seconds: int, page_cpu_seconds: int) -> None:
    """The worker's loop: one request line in, one answer line out (after a progress line
    per page read by OCR)."""
    import resource

    limit = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    from corpus.ocr import set_progress
    from corpus.parse import document_from_bytes, read_file  # after the cap: imports count too

    def page_done(page: int, pages: int) -> None:
        # each page gets its own CPU allowance, as it gets its own wall-clock limit in the parent
        used = int(sum(os.times()[:2]))
        resource.setrlimit(resource.RLIMIT_CPU, (used + page_cpu_seconds, resource.getrlimit(resource.RLIMIT_CPU)[1]))
        sys.stdout.write(json.dumps({"page": page, "pages": pages}) + "\n")
        sys.stdout.flush()

    set_progress(page_done)

    sys.stdout.write("ready\n")
    sys.stdout.flush()
    for line in sys.stdin.buffer:
        request = json.loads(line)
        # CPU time per file, as a second line of defence behind the parent's wall clock.
        used = int(sum(os.times()[:2]))
        # Only the soft limit (SIGXCPU ends the worker): a lowered hard limit could not be raised again.
        resource.setrlimit(resource.RLIMIT_CPU, (used + cpu_seconds, resource.getrlimit(resource.RLIMIT_CPU)[1]))
        try:
            doc = document_from_bytes(read_file(Path(request["path"])), request["source"], request["doc_id"])
            reply = {"document": _document_to_json(doc)}
        except LoadError as exc:
            reply = {"error": str(exc)}
        except MemoryError:
            reply = {"error": f"解析时超出内存上限（{memory_mb} MB），文件可能是恶意构造的，已跳过", "restart": True}
        except RecursionError:
            reply = {"error": "文件结构嵌套过深，无法解析"}
        except Exception as exc:  # a parser bug on one odd file must not lose the whole batch
            # the user reads the reason; the operator's log gets what the parser raised
            reply = {"error": "读取时出错：文件可能已损坏，或内容与扩展名不符", "detail": f"{type(exc).__name__}: {exc}"}
        sys.stdout.write(json.dumps(reply, ensure_ascii=True) + "\n")
        sys.stdout.flush()
        if reply.get("restart"):
            return


if __name__ == "__main__":
    _serve(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else int(sys.argv[2]))
