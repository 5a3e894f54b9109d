"""The approved answers of one index folder (bot/curated.py), kept in one JSON file, and
what a change of the cited documents does to them.

- **Store.** One JSON file per index folder (`<index>/curated.json`, beside the versions,
  so a rebuild keeps it), written atomically (temporary file + os.replace) under a lock
  file, so the admin page, the CLI and the answering processes never lose each other's
  changes. A file that does not read is reported, never overwritten.
- **Source changes.** An answer whose cited document is gone or whose text hash differs
  from the index's is never served (`source_changes`, checked live), and is marked
  「需复核」 (SUSPENDED) in the file at every load of an index version (`suspend_changed`),
  so it stays suspended, with the old span and the current text around it, until staff
  confirm it (re-attaching the spans: `confirm`) or remove it.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from bot.curated import (
    ACTIVE,
    SUSPENDED,
    Change,
    CitedSpan,
    CuratedAnswer,
    CuratedError,
    answer_from_json,
    text_hash,
    validated,
)
from corpus.records import Document

log = logging.getLogger(__name__)

FILE_NAME = "curated.json"
FORMAT = 1
CONTEXT_CHARS = 40  # characters of the current text shown on each side of a changed span


def curated_path(index_dir: Path) -> Path:
    """Where an index folder's approved answers are kept: beside its versions, not in one."""
    return Path(index_dir) / FILE_NAME


def source_changes(answer: CuratedAnswer, documents: Mapping[str, Document],
                   hashes: Callable[[str], str] | None = None) -> list[Change]:
    """The citations whose document is gone or whose text differs from the approved one."""
    hashes = hashes or (lambda doc_id: text_hash(documents[doc_id].text))
    changes = []
    for span in answer.citations:
        document = documents.get(span.doc_id)
        if document is None:
            changes.append(Change(span.doc_id, span.text, "", removed=True))
        elif hashes(span.doc_id) != span.doc_hash:
            start = max(0, span.start - CONTEXT_CHARS)
            end = min(len(document.text), span.end + CONTEXT_CHARS)
            changes.append(Change(span.doc_id, span.text, document.text[start:end]))
    return changes


def suspend_changed(answers: Sequence[CuratedAnswer], documents: Mapping[str, Document]) -> tuple[list[CuratedAnswer], list[str]]:
    """Every active answer citing a changed or removed document suspended (需复核), with
    what changed; and the ids suspended now."""
    hashes = HashCache(documents)
    out, suspended = [], []
    for answer in answers:
        if answer.state == ACTIVE and (changes := source_changes(answer, documents, hashes)):
            answer = replace(answer, state=SUSPENDED, changes=tuple(changes))
            suspended.append(answer.id)
        out.append(answer)
    return out, suspended


def confirm(answer: CuratedAnswer, documents: Mapping[str, Document]) -> CuratedAnswer:
    """A suspended answer made active again by staff: each span re-attached where its text
    is now (the same offsets, or its first occurrence in the document), hashed anew.
    CuratedError when a cited text is no longer in its document (choose the span again)."""
    spans = []
    for span in answer.citations:
        document = documents.get(span.doc_id)
        if document is None:
            raise CuratedError(f"引用的文档 {span.doc_id} 已被移除，请重新选择引用或移除这条回答")
        if document.text[span.start:span.end] == span.text:
            start = span.start
        else:
            start = document.text.find(span.text)
            if start < 0:
                raise CuratedError(f"《{document.title}》中已没有原来引用的文字，请重新选择引用或移除这条回答")
        spans.append(CitedSpan(span.doc_id, span.text, start, start + len(span.text), text_hash(document.text)))
    return replace(answer, citations=tuple(spans), state=ACTIVE, changes=())


class HashCache:
    """text_hash of documents, each computed once."""

    def __init__(self, documents: Mapping[str, Document]):
        self.documents = documents
        self._hashes: dict[str, str] = {}

    def __call__(self, doc_id: str) -> str:
        if doc_id not in self._hashes:
            self._hashes[doc_id] = text_hash(self.documents[doc_id].text)
        return self._hashes[doc_id]



class CuratedStore:
    """The approved answers of one index folder, in one JSON file."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.lock_path = self.path.with_name(self.path.name + ".lock")

    def stamp(self) -> tuple[int, int] | None:
        """(mtime_ns, size) of the file, None without one: changes whenever it is rewritten."""
        try:
            st = self.path.stat()
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size

    def load(self) -> list[CuratedAnswer]:
        if not self.path.exists():
            return []
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CuratedError(f"无法读取审核回答文件 {self.path}：{type(exc).__name__}") from exc
        if not isinstance(data, dict) or not isinstance(data.get("answers"), list):
            raise CuratedError(f"审核回答文件 {self.path} 的格式不对（应含 answers 列表）")
        try:
            return [answer_from_json(a) for a in data["answers"]]
        except CuratedError as exc:
            raise CuratedError(f"审核回答文件 {self.path}：{exc}") from exc

    def _write(self, answers: Sequence[CuratedAnswer]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        payload = json.dumps({"format": FORMAT, "answers": [a.to_json() for a in answers]}, ensure_ascii=False,
                             indent=1)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.tmp-", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(payload)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def update(self, change: Callable[[list[CuratedAnswer]], list[CuratedAnswer]]) -> list[CuratedAnswer]:
        """Read, change and write the answers under the lock: writers in other processes wait."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                answers = self.load()
                changed = change(list(answers))
                if changed != answers:
                    self._write(changed)
                return changed
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def add(self, answer: CuratedAnswer, documents: Mapping[str, Document]) -> CuratedAnswer:
        answer = validated(answer, documents)

        def put(answers: list[CuratedAnswer]) -> list[CuratedAnswer]:
            return [a for a in answers if a.id != answer.id] + [answer]

        self.update(put)
        return answer

    def set_state(self, answer_id: str, documents: Mapping[str, Document], state: str) -> CuratedAnswer:
        """Remove (REMOVED) or confirm (ACTIVE, after a source change) one answer."""
        found: list[CuratedAnswer] = []

        def change(answers: list[CuratedAnswer]) -> list[CuratedAnswer]:
            out = []
            for a in answers:
                if a.id == answer_id:
                    a = confirm(a, documents) if state == ACTIVE else replace(a, state=state)
                    found.append(a)
                out.append(a)
            return out

        self.update(change)
        if not found:
            raise CuratedError(f"没有编号为 {answer_id} 的审核回答")
        return found[0]

    def sync(self, documents: Mapping[str, Document]) -> list[str]:
        """Suspend (in the file) every active answer whose sources changed; the ids suspended."""
        if not self.path.exists():
            return []
        suspended: list[str] = []

        def change(answers: list[CuratedAnswer]) -> list[CuratedAnswer]:
            out, ids = suspend_changed(answers, documents)
            suspended.extend(ids)
            return out

        self.update(change)
        if suspended:
            log.warning("所引文档已变动，%d 条审核回答已暂停，待复核：%s", len(suspended), "、".join(suspended))
        return suspended
