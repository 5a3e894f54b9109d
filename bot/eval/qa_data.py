"""The worker-question dev files (the format is described in bot/eval/qa_eval.py): reading and
checking one (`load_qa`), the holdout rule (`is_holdout`) and the text the gold strings are
compared with (`plain`). Only the answer records are needed, so that commands can read a
file before the model loads."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.records import MARKER

WHITESPACE = re.compile(r"\s+")
HOLDOUT_MODULUS = 3  # one question in three, by a hash of its text, is kept out of tuning

Fail = Callable[[str, str], ValueError]  # (where in the file, what is wrong) -> the error to raise


@dataclass(frozen=True)
class QAItem:
    """One answerable question. `golds` are alternative gold sets, the file's
    `a` first, then each `also[i].a`; an answer is right when it contains every
    string of any one set."""

    question: str
    golds: tuple[tuple[str, ...], ...]
    kind: str = ""
    style: str = ""
    doc: str = ""
    article: str = ""
    holdout: bool = False


@dataclass(frozen=True)
class RefuseItem:
    """A question the documents cannot answer."""

    question: str
    holdout: bool = False


@dataclass(frozen=True)
class Dialogue:
    """Two turns; the second is asked with the first turn and the bot's answer
    to it as history. The split follows the first turn's question."""

    turns: tuple[QAItem, QAItem]
    holdout: bool = False


@dataclass(frozen=True)
class QASet:
    path: Path
    about: str
    answerable: tuple[QAItem, ...]
    refuse: tuple[RefuseItem, ...]
    dialogues: tuple[Dialogue, ...]


def is_holdout(question: str) -> bool:
    """The tune / holdout split: about a third of the questions, chosen by a hash
    of the text so that it never changes between runs or machines."""
    digest = hashlib.sha1(question.strip().encode("utf-8")).hexdigest()
    return int(digest, 16) % HOLDOUT_MODULUS == 0


# ---------------------------------------------------------------- loading


def load_qa(path: Path | str) -> QASet:
    """Read a dev file; a malformed one raises ValueError saying what is wrong where."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"无法读取问答文件 {path}：{exc}") from exc
    except json.JSONDecodeError as exc:
        raise ValueError(f"问答文件 {path} 不是有效的 JSON（第 {exc.lineno} 行第 {exc.colno} 列）") from exc

    def fail(where: str, what: str) -> ValueError:
        return ValueError(f"问答文件 {path} 格式有误：{where} {what}")

    if not isinstance(data, dict):
        raise fail("顶层", "应是一个对象（含 answerable、refuse、dialogues）")
    about = data.get("about", "")
    if not isinstance(about, str):
        raise fail("about", "应是字符串")
    answerable = _list(data, "answerable", fail, required=True)
    refuse = _list(data, "refuse", fail)
    dialogues = _list(data, "dialogues", fail)

    items = tuple(_item(raw, f"answerable[{i}]", fail) for i, raw in enumerate(answerable))
    refuse_items = []
    for i, entry in enumerate(refuse):
        # a string, or {"q": …, "zh": …} for a translated question
        question = entry.get("q") if isinstance(entry, dict) else entry
        if not isinstance(question, str) or not question.strip():
            raise fail(f"refuse[{i}]", "应是非空的问题字符串（或 {\"q\": 问题, \"zh\": 原文}）")
        key = _split_key(entry, question) if isinstance(entry, dict) else question
        refuse_items.append(RefuseItem(question.strip(), is_holdout(key)))
    dialogue_items = []
    for i, raw in enumerate(dialogues):
        turns = raw.get("turns") if isinstance(raw, dict) else None
        if not isinstance(turns, list) or len(turns) != 2:
            raise fail(f"dialogues[{i}]", "应是 {\"turns\": [第一轮, 第二轮]}，恰好两轮")
        first, second = (_item(turn, f"dialogues[{i}].turns[{t}]", fail) for t, turn in enumerate(turns))
        dialogue_items.append(Dialogue((first, second), first.holdout))
    if not items and not refuse_items and not dialogue_items:
        raise fail("answerable、refuse、dialogues", "都是空的，没有可以评测的问题")
    return QASet(path, about, items, tuple(refuse_items), tuple(dialogue_items))


def _list(data: dict, key: str, fail: Fail, required: bool = False) -> list:
    if key not in data and not required:
        return []
    value = data.get(key)
    if not isinstance(value, list):
        raise fail(key, "应是列表" if key in data else "缺失（应是列表）")
    return value


def _item(raw: Any, where: str, fail: Fail) -> QAItem:
    if not isinstance(raw, dict):
        raise fail(where, "应是一个对象 {q, a, …}")
    question = raw.get("q")
    if not isinstance(question, str) or not question.strip():
        raise fail(where, "缺少问题 q（非空字符串）")
    golds = [_golds(raw.get("a"), f"{where}.a", fail)]
    also = raw.get("also", [])
    if not isinstance(also, list):
        raise fail(f"{where}.also", "应是列表")
    for j, other in enumerate(also):
        if not isinstance(other, dict):
            raise fail(f"{where}.also[{j}]", "应是一个对象 {doc, article, a}")
        golds.append(_golds(other.get("a"), f"{where}.also[{j}].a", fail))
    for key in ("kind", "style", "doc", "article", "zh"):
        if not isinstance(raw.get(key, ""), str):
            raise fail(f"{where}.{key}", "应是字符串")
    return QAItem(
        question=question.strip(),
        golds=tuple(golds),
        kind=raw.get("kind", ""),
        style=raw.get("style", ""),
        doc=raw.get("doc", ""),
        article=raw.get("article", ""),
        holdout=is_holdout(_split_key(raw, question)),
    )


def _split_key(raw: dict, question: str) -> str:
    """A translated question (with `zh`, the question it translates) falls on the same
    side of the split as its original: a translation of a holdout question is not tuned on."""
    original = raw.get("zh")
    return original if isinstance(original, str) and original.strip() else question


def _golds(raw: Any, where: str, fail: Fail) -> tuple[str, ...]:
    if not isinstance(raw, list) or not raw:
        raise fail(where, "应是至少含一个答案原文的列表")
    if not all(isinstance(s, str) and plain(s) for s in raw):
        raise fail(where, "中的每个答案原文都应是非空字符串")
    return tuple(raw)


# ---------------------------------------------------------------- matching


def plain(text: str) -> str:
    """Text as the gold strings are compared with it: without `[n]` markers and
    without whitespace, so that a line break inside a passage or a marker between
    two quoted sentences does not hide a gold string."""
    return WHITESPACE.sub("", MARKER.sub("", text))
