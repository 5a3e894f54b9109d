"""Text normalization for matching: one form for a question and a passage however they were typed.

Its own module because both the tokenizer (index/tokens.py) and the dictionary file parser
(index/dictionary.py) need it, and the tokenizer needs the parsed dictionary.
"""

from __future__ import annotations

import unicodedata
from functools import cache

from opencc import OpenCC


@cache
def _converter() -> OpenCC:
    return OpenCC("t2s")


def to_simplified(text: str) -> str:
    """Traditional characters to simplified ones, nothing else: for text that is shown."""
    return _converter().convert(text)


def normalize(text: str) -> str:
    """NFKC (full-width Latin and digits to ASCII), traditional to simplified
    Chinese, lower case. Not offset-preserving: for matching only."""
    return _converter().convert(unicodedata.normalize("NFKC", text)).lower()
