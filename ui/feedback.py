"""👍/👎 feedback from the chat, appended to a JSON-lines file, and, when the question
log is on (ui/questionlog.py), tied to the logged question it answers."""

from __future__ import annotations

import json
import logging
import os
import threading
from datetime import UTC, datetime
from pathlib import Path

from bot.records import Answer
from ui.questionlog import MAX_COMMENT_CHARS, QuestionLog, answer_key

log = logging.getLogger(__name__)


class FeedbackLog:
    def __init__(self, path: Path, question_log: QuestionLog | None = None):
        self.path = Path(path)
        self.question_log = question_log
        self._lock = threading.Lock()

    def record(self, answer: Answer, rating: str, comment: str = "") -> None:
        """Append one line: question, answer, citations, rating ("up", "down" or "none"), time;
        and mark the logged question it answers (its latest unrated row)."""
        if self.question_log is not None:
            try:
                self.question_log.rate(answer_key(answer.question, answer.text), rating, comment)
            except Exception:  # the vote is still kept in the JSON-lines file below
                log.exception("could not tie the feedback to its logged question", extra={"event": "question_log_error"})
        entry = {
            "time": datetime.now(UTC).isoformat(timespec="seconds"),
            "rating": rating,
            **({"comment": comment} if comment else {}),
            "question": answer.question,
            "answer": answer.text,
            "refused": answer.refused,
            "citations": [
                {
                    "n": c.n,
                    "doc_id": c.doc_id,
                    "title": c.title,
                    "section": c.section,
                    "article": c.article,
                    "page": c.page,
                    "start": c.start,
                    "end": c.end,
                    "quotes": [list(q) for q in c.quotes],
                }
                for c in answer.citations
            ],
        }
        self._append(entry)

    def _append(self, entry: dict) -> None:
        data = (json.dumps(entry, ensure_ascii=False) + "\n").encode("utf-8")
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # One O_APPEND write per line, so lines from several server processes never interleave.
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
            try:
                os.write(fd, data)
            finally:
                os.close(fd)

    def comment(self, answer: Answer, comment: str) -> None:
        """The comment a member wrote after a 👎 on `answer`: tied to that 👎 in the question
        log, and appended to the file as a line of its own (rating "comment")."""
        comment = comment.strip()[:MAX_COMMENT_CHARS]
        if not comment:
            return
        if self.question_log is not None:
            try:
                self.question_log.comment(answer_key(answer.question, answer.text), comment)
            except Exception:
                log.exception("could not tie the comment to its logged question", extra={"event": "question_log_error"})
        self._append({"time": datetime.now(UTC).isoformat(timespec="seconds"), "rating": "comment",
                      "comment": comment, "question": answer.question, "answer": answer.text})

    def read(self) -> list[dict]:
        if not self.path.exists():
            return []
        with open(self.path, encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]
