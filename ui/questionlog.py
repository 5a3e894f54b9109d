"""The question log: what members asked and how the bot answered, for the staff's console
(ui/console.py). Off unless `log_questions` is set (--log-questions, UNIONQA_LOG_QUESTIONS).

One SQLite file (`questions.sqlite3`, beside the feedback file in UNIONQA_HOME), in WAL mode,
so that the console reads while the server writes, and several processes (another server on
the same home, `unionqa log purge`) can write with short transactions and a busy timeout.

A row holds the question's text, its outcome (answered, related, refused or curated), the
cited document ids, the latency, the 👍/👎 with its optional comment, and a salted hash of the
client address: never the address. The salt is made once, at random, and kept in
`questions.salt` (mode 0600) beside the database, so the same address hashes the same way
across restarts (the console can count distinct askers) but the hash cannot be reversed by
trying every address without the salt.

Writing never slows or breaks an answer: rows are queued and written by one background
thread, a full queue drops the row (with a log line), and any database error is a log line.
Rows older than `log_days` (default 90) are deleted at start and once a day.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import queue
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from corpus.errors import UnionQAError

log = logging.getLogger(__name__)

OUTCOMES = ("answered", "related", "refused", "curated")
RATINGS = ("up", "down")
DB_NAME = "questions.sqlite3"
SALT_NAME = "questions.salt"
DEFAULT_DAYS = 90
BUSY_TIMEOUT_MS = 5000  # another process's transaction is a few milliseconds; a writer waits this long at most
QUEUE_SIZE = 10_000  # rows waiting to be written; beyond that (the disk stuck), rows are dropped, answers are not
RETENTION_EVERY = 24 * 3600.0
IDLE_CHECK = 600.0  # seconds the writer waits for a row before looking at the retention clock
MAX_COMMENT_CHARS = 500
EPOCH = date(1970, 1, 1)

SCHEMA = """
CREATE TABLE IF NOT EXISTS questions (
    id INTEGER PRIMARY KEY,
    asked_at REAL NOT NULL,          -- Unix time, seconds
    question TEXT NOT NULL,
    outcome TEXT NOT NULL,           -- answered, related, refused or curated
    docs TEXT NOT NULL DEFAULT '[]', -- JSON list of the cited document ids
    latency_ms REAL NOT NULL,
    client TEXT NOT NULL DEFAULT '', -- salted hash of the client address, never the address
    answer_key TEXT NOT NULL DEFAULT '', -- ties a 👍/👎 to this row (answer_key())
    rating TEXT,                     -- up, down or NULL
    comment TEXT,
    rated_at REAL
);
-- by time, covering the outcome: the console's per-day counts never read the rows themselves
CREATE INDEX IF NOT EXISTS questions_time_outcome ON questions (asked_at, outcome);
CREATE INDEX IF NOT EXISTS questions_answer_key ON questions (answer_key);
"""


@dataclass(frozen=True)
class LoggedQuestion:
    id: int
    asked_at: float
    question: str
    outcome: str
    docs: list[str]
    latency_ms: float
    client: str
    rating: str | None
    comment: str | None


def answer_key(question: str, answer_text: str) -> str:
    """What ties a 👍/👎 to its logged question without the bot's records carrying an id:
    the question and the answer's text. The same answer to the same question twice gives
    the same key; the vote goes to the latest such row not yet rated."""
    return hashlib.sha256(f"{question}\0{answer_text}".encode("utf-8", "surrogatepass")).hexdigest()[:32]


def db_path_for(feedback_log: Path) -> Path:
    """The log's database, beside the feedback file (both in UNIONQA_HOME by default)."""
    return Path(feedback_log).parent / DB_NAME


def connect(path: Path) -> sqlite3.Connection:
    """A connection in WAL mode with a busy timeout (several processes may write)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                           check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")  # WAL keeps the file consistent; a power cut may lose the last rows
    conn.executescript(SCHEMA)
    return conn


def load_salt(path: Path) -> bytes:
    """The salt in `path`, made (32 random bytes, mode 0600) the first time. Two processes
    making it at once: the first one's link wins and both use it."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, secrets.token_bytes(32))
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)  # never replaces a salt another process made meanwhile
    except FileExistsError:
        pass
    finally:
        os.unlink(tmp)
    return path.read_bytes()


def hash_client(salt: bytes, address: str) -> str:
    """The salted hash the log keeps instead of a client address ("" for none)."""
    if not address:
        return ""
    return hmac.new(salt, address.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()[:16]


class QuestionLogError(UnionQAError):
    """The log's file cannot be opened: said in Chinese, with the file and the cause."""


class QuestionLog:
    """The log's database: written through a queue by one thread, read by the console."""

    def __init__(self, path: Path, days: int = DEFAULT_DAYS, retain: bool = True):
        """Open (or make) the log at `path`; with `retain`, rows older than `days` go at once."""
        if days < 1:
            raise ValueError("保留天数应至少为 1 天")
        self.path = Path(path)
        self.days = days
        self._local = threading.local()
        try:
            self._salt = load_salt(self.path.with_name(SALT_NAME))
            self._conn()  # a file that is not a database, or cannot be written, is said now, not per question
        except (sqlite3.Error, OSError) as exc:
            raise QuestionLogError(f"无法打开提问记录 {self.path}：{exc}（可移走该文件，或用 --feedback-log 换一个目录）") from exc
        self._queue: queue.Queue = queue.Queue(maxsize=QUEUE_SIZE)
        self._thread: threading.Thread | None = None
        self._thread_lock = threading.Lock()
        self._retained_at = time.time() if not retain else 0.0
        if retain:
            self.apply_retention()
            self._ensure_thread()  # the daily pass runs on an idle server too

    # -- connections -------------------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = connect(self.path)
        return conn

    # -- writing -----------------------------------------------------------------------------

    def client_hash(self, address: str) -> str:
        return hash_client(self._salt, address)

    def record(self, question: str, outcome: str, docs: Iterable[str], latency_ms: float, client: str = "",
               key: str = "", asked_at: float | None = None) -> None:
        """Queue one asked question (`client`: the address, hashed here, never stored)."""
        row = (time.time() if asked_at is None else asked_at, question, outcome,
               json.dumps(list(dict.fromkeys(docs)), ensure_ascii=False), round(float(latency_ms), 1),
               self.client_hash(client), key)
        self._submit(("record", row))

    def rate(self, key: str, rating: str, comment: str = "") -> None:
        """Queue a 👍/👎 for the latest unrated row of `key` (answer_key())."""
        if rating not in RATINGS:
            return
        self._submit(("rate", (rating, (comment or "")[:MAX_COMMENT_CHARS] or None, time.time(), key)))

    def comment(self, key: str, comment: str) -> None:
        """Queue the comment written after a 👎, for the latest 👎 row of `key` (answer_key())."""
        comment = (comment or "").strip()[:MAX_COMMENT_CHARS]
        if comment:
            self._submit(("comment", (comment, key)))

    def _submit(self, item: tuple) -> None:
        self._ensure_thread()
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            log.warning("question log queue full; a row was dropped", extra={"event": "question_log_dropped"})

    def _ensure_thread(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        with self._thread_lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="question-log", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            try:
                items = [self._queue.get(timeout=IDLE_CHECK)]
            except queue.Empty:
                items = []
            while items and len(items) < 500:  # a burst goes in one short transaction
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                if items:
                    self.write(items)
            except Exception:
                log.exception("could not write to the question log %s", self.path,
                              extra={"event": "question_log_error"})
            try:
                if time.time() - self._retained_at >= RETENTION_EVERY:
                    self.apply_retention()
            except Exception:
                log.exception("question log retention failed", extra={"event": "question_log_error"})
            finally:  # after the retention pass: flush() waits for it too
                for _ in items:
                    self._queue.task_done()

    def write(self, items: list[tuple]) -> None:
        """Write queued items now, in one transaction (the writer thread; tests and the benchmark)."""
        conn = self._conn()
        with _transaction(conn):
            for kind, values in items:
                if kind == "record":
                    conn.execute("INSERT INTO questions (asked_at, question, outcome, docs, latency_ms, client, "
                                 "answer_key) VALUES (?, ?, ?, ?, ?, ?, ?)", values)
                elif kind == "comment":
                    conn.execute("UPDATE questions SET comment = ? WHERE id = (SELECT id FROM questions "
                                 "WHERE answer_key = ? AND rating = 'down' ORDER BY id DESC LIMIT 1)", values)
                else:
                    conn.execute("UPDATE questions SET rating = ?, comment = ?, rated_at = ? WHERE id = ("
                                 "SELECT id FROM questions WHERE answer_key = ? AND rating IS NULL "
                                 "ORDER BY id DESC LIMIT 1)", values)

    def flush(self, timeout: float = 10.0) -> None:
        """Wait until every queued row is written (tests, shutdown)."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.01)

    # -- retention ---------------------------------------------------------------------------

    def apply_retention(self, now: float | None = None) -> int:
        """Delete the rows older than `days`; how many."""
        now = time.time() if now is None else now
        self._retained_at = now
        return self.purge(before=now - self.days * 86400)

    def purge(self, before: float | None = None) -> int:
        """Delete the rows asked before `before` (Unix time), or every row; how many."""
        conn = self._conn()
        with _transaction(conn):
            if before is None:
                deleted = conn.execute("DELETE FROM questions").rowcount
            else:
                deleted = conn.execute("DELETE FROM questions WHERE asked_at < ?", (before,)).rowcount
        if deleted and before is None:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the deleted text leaves the WAL file too
        return deleted

    # -- reading (the console) ---------------------------------------------------------------

    def count(self, since: float = 0.0) -> int:
        return self._conn().execute("SELECT count(*) FROM questions WHERE asked_at >= ?", (since,)).fetchone()[0]

    def last_id(self) -> int:
        return self._conn().execute("SELECT coalesce(max(id), 0) FROM questions").fetchone()[0]

    def daily(self, since: float) -> list[tuple[str, dict[str, int]]]:
        """Questions per local day since `since`, by outcome: [(YYYY-MM-DD, {outcome: n})].
        The local day is taken at today's offset from UTC: SQLite's 'localtime' looks the
        zone up row by row, a third of a second on 100,000 rows (a daylight-saving change
        in the window moves an hour's questions to the next or previous day)."""
        offset = datetime.now().astimezone().utcoffset()
        days: dict[str, dict[str, int]] = {}
        for number, outcome, n in self._conn().execute(
                "SELECT CAST((asked_at + ?) / 86400 AS INTEGER) AS day, outcome, count(*) FROM questions "
                "WHERE asked_at >= ? GROUP BY day, outcome ORDER BY day",
                (offset.total_seconds() if offset else 0, since)):
            day = (EPOCH + timedelta(days=number)).isoformat()
            days.setdefault(day, {})[outcome] = n
        return sorted(days.items())

    def distinct_questions(self, since: float, outcomes: tuple[str, ...] = OUTCOMES,
                           limit: int = 5000) -> list[dict]:
        """The most asked question texts since `since` among `outcomes`, with their counts
        by outcome and by rating and the comments written with their 👎s, most asked first."""
        marks = ",".join("?" * len(outcomes))
        rows = self._conn().execute(
            "SELECT question, count(*) AS n, "
            + "".join(f"sum(outcome = '{o}'), " for o in OUTCOMES)
            + "sum(rating = 'up'), sum(rating = 'down'), group_concat(docs, '\x1f'), "
            "group_concat(CASE WHEN rating = 'down' THEN comment END, '\x1f') "
            f"FROM questions WHERE asked_at >= ? AND outcome IN ({marks}) "
            "GROUP BY question ORDER BY n DESC, question LIMIT ?", (since, *outcomes, limit)).fetchall()
        return [{"question": r[0], "count": r[1], "outcomes": dict(zip(OUTCOMES, r[2:6], strict=True)),
                 "up": r[6], "down": r[7], "docs": _doc_counts(r[8]),
                 "comments": [c for c in (r[9] or "").split("\x1f") if c]} for r in rows]

    def rows(self, since: float = 0.0) -> Iterator[LoggedQuestion]:
        """Every row since `since`, oldest first (the raw CSV export). On a connection of its
        own: a streamed export is read a piece at a time, from whichever thread."""
        conn = connect(self.path)
        try:
            for r in conn.execute(
                    "SELECT id, asked_at, question, outcome, docs, latency_ms, client, rating, comment "
                    "FROM questions WHERE asked_at >= ? ORDER BY id", (since,)):
                yield LoggedQuestion(r[0], r[1], r[2], r[3], json.loads(r[4]), r[5], r[6], r[7], r[8])
        finally:
            conn.close()

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


def _doc_counts(joined: str | None) -> dict[str, int]:
    counts: dict[str, int] = {}
    for part in (joined or "").split("\x1f"):
        for doc_id in json.loads(part or "[]"):
            counts[doc_id] = counts.get(doc_id, 0) + 1
    return counts


class _transaction:
    """BEGIN IMMEDIATE … COMMIT on an autocommit connection: the write lock is taken at
    the start, so two writers wait on the busy timeout instead of failing at COMMIT."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, kind, value, tb) -> None:
        self.conn.execute("COMMIT" if kind is None else "ROLLBACK")
