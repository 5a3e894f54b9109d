"""Chinese-aware sentence spans over a text, as [start, end) offsets.

Offsets rather than strings, so that chunks and quoted answer sentences can always
be traced back to the exact characters of their source.
"""

from __future__ import annotations

import re

_TERMINATORS = "。！？；…!?;"
# Closing quotes/brackets that follow a terminator belong to the sentence they close.
_CLOSERS = "”’」』）》〉】〕\"')]"

# A run of terminators (so "……" or "？！" end one sentence, not several), each run
# optionally followed by closers; a closer may itself be followed by another
# terminator, as in “好！”。
_END = re.compile(f"(?:[{re.escape(_TERMINATORS)}]+[{re.escape(_CLOSERS)}]*)+|\n")

# Break points for an over-long sentence, best first: clause commas and colons, then
# enumeration commas, then whitespace.
_SOFT_BREAKS = ("，,：:", "、", " \t\u3000")


def _strip(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Sentence spans [start, end) of `text`, in order.

    A sentence ends after a run of 。！？；…!?; (plus any closing quotes or brackets
    right after it) or at a newline. Surrounding whitespace is excluded, and no span
    is empty.
    """
    spans: list[tuple[int, int]] = []
    begin = 0
    for match in _END.finditer(text):
        start, end = _strip(text, begin, match.end())
        if start < end:
            spans.append((start, end))
        begin = match.end()
    start, end = _strip(text, begin, len(text))
    if start < end:
        spans.append((start, end))
    return spans


def _hard_cut(text: str, start: int, limit: int) -> int:
    """Where to cut when no soft break exists: before a Latin word or number rather
    than inside it, unless the whole window is one word."""
    cut = limit
    while (
        cut > start + 1
        and text[cut - 1].isascii()
        and text[cut - 1].isalnum()
        and text[cut].isascii()
        and text[cut].isalnum()
    ):
        cut -= 1
    return cut if cut > start + 1 else limit


def _next_cut(text: str, start: int, end: int, max_chars: int) -> int:
    remaining = end - start
    pieces = -(-remaining // max_chars)
    # Aim for pieces of equal size, so the last one is not a tiny leftover.
    ideal = start + -(-remaining // pieces)
    limit = start + max_chars
    # Too early a break would leave a stub; a break at or after a quarter of the
    # window still leaves a reasonable piece.
    earliest = start + max(1, max_chars // 4)
    for breaks in _SOFT_BREAKS:
        candidates = [i + 1 for i in range(earliest - 1, limit) if text[i] in breaks]
        if candidates:
            return min(candidates, key=lambda cut: (abs(cut - ideal), -cut))
    return _hard_cut(text, start, ideal)


def split_long(text: str, start: int, end: int, max_chars: int) -> list[tuple[int, int]]:
    """Split the span [start, end) of `text` into pieces of at most `max_chars`.

    Cuts fall after ，,：: if possible, else after 、, else at whitespace, else anywhere
    (avoiding the middle of a Latin word or number). Pieces are whitespace-stripped
    and non-empty; a span that already fits comes back as is (stripped).
    """
    if max_chars < 1:
        raise ValueError("max_chars must be positive")
    pieces: list[tuple[int, int]] = []
    start, end = _strip(text, start, end)
    while start < end:
        if end - start <= max_chars:
            pieces.append((start, end))
            break
        cut = _next_cut(text, start, end, max_chars)
        piece = _strip(text, start, cut)
        if piece[0] < piece[1]:
            pieces.append(piece)
        start, end = _strip(text, cut, end)
    return pieces


def answer_units(text: str) -> list[tuple[int, int]]:
    """The sentences of `text` that an answer may quote, as [start, end) spans.

    A sentence ending with a colon only announces what follows ("工会经费的来源："),
    so it is kept together with the sentence after it: alone it would answer nothing.
    The index embeds each unit, so the bot must quote exactly these spans.
    """
    spans = split_sentences(text)
    units: list[tuple[int, int]] = []
    i = 0
    while i < len(spans):
        start, end = spans[i]
        if text[start:end].endswith(("：", ":")) and i + 1 < len(spans):
            end = spans[i + 1][1]
            i += 1
        units.append((start, end))
        i += 1
    return units
