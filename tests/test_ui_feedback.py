"""Feedback lines are appended whole, even from many threads, into a folder made on demand."""

from __future__ import annotations

import threading

from bot.records import Answer, Citation
from ui.feedback import FeedbackLog


def test_feedback_lines_are_appended(tmp_path):
    log = FeedbackLog(tmp_path / "new" / "dir" / "feedback.jsonl")
    c = Citation(1, "d", "标题", "第一章", "原文", 0, 2, 0.5, [(0, 2)])
    answer = Answer("原文[1]", False, [c], "问题", "问题")

    threads = [threading.Thread(target=log.record, args=(answer, "up" if i % 2 else "down")) for i in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    entries = log.read()
    assert len(entries) == 40
    assert {e["rating"] for e in entries} == {"up", "down"}
    e = entries[0]
    assert e["question"] == "问题" and e["answer"] == "原文[1]" and e["refused"] is False
    assert e["citations"][0]["doc_id"] == "d" and e["citations"][0]["quotes"] == [[0, 2]]
    assert e["time"].endswith("+00:00")
