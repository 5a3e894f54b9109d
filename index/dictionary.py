"""The dictionary files: the bundled domain dictionary (index/domain_dictionary.txt), its English
glossary (index/english_glossary.txt) and a union's own file in the same format, read into
groups of words, "+" words and English glosses (docs/dictionary.md describes the format).

Only reading here, with normalization: index/lexicon.py merges what is read into a Lexicon and
expands questions with it, and index/tokens.py gives the bundled words to jieba. Both use this
module, and the lexicon uses the tokenizer, so the parser lives apart from both.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from corpus.errors import UnionQAError
from index.normalize import normalize

BUNDLED_FILE = Path(__file__).with_name("domain_dictionary.txt")
# English words → the documents' Chinese words, in the dictionary's fourth kind of line
# ("maternity leave | maternity = 产假"); kept in a file of its own for length.
ENGLISH_FILE = Path(__file__).with_name("english_glossary.txt")

# Words are separated by whitespace (ASCII or full-width) or "|"; "#" starts a comment.
_SEPARATOR = re.compile(r"[\s|]+")


class LexiconError(UnionQAError, ValueError):
    """A line of a dictionary file that cannot be read."""

    def __init__(self, path: Path, line: int, message: str):
        super().__init__(f"{path}:{line}: {message}")
        self.path = path
        self.line = line


@dataclass(frozen=True)
class Group:
    words: tuple[str, ...]  # the same meaning; the first is the documents' usual word
    terms: tuple[str, ...] = ()  # the documents' broader or more formal terms, one way


@dataclass(frozen=True)
class Gloss:
    english: tuple[tuple[str, ...], ...]  # phrases, as their normalized English words
    words: tuple[str, ...]  # the documents' Chinese words for them, the usual one first


# English words as the glossary and the questions are compared: lower case, and a plural
# or third-person "s" dropped, so that "employers" finds "employer" and "pays" finds "pay".
_ENGLISH_WORD = re.compile(r"[a-z0-9]+(?:['’-][a-z0-9]+)*")


def english_words(text: str) -> list[str]:
    return [_singular(w) for w in _ENGLISH_WORD.findall(unicodedata.normalize("NFKC", text).lower())]


# Words that end in "s" without being plurals
_NOT_PLURAL = frozenset("""always as does goes has his is its news perhaps series species this thus
us various was whereas yes""".split())


def _singular(word: str) -> str:
    word = re.sub(r"['’]s$", "", word)
    if word in _NOT_PLURAL:
        return word
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith(("ches", "shes", "sses", "xes")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def _gloss(left: str, right: str, path: Path, number: int) -> Gloss:
    """One "english | english = 中文 中文" line."""
    phrases: list[tuple[str, ...]] = []
    for raw in left.split("|"):
        if not raw.strip():
            continue
        odd = re.sub(r"[A-Za-z0-9'’\s-]", "", raw)
        if odd:
            raise LexiconError(path, number, f"“{raw.strip()}” 里有 “{odd[0]}”：“=” 左边写英文词，用 | 分隔")
        phrases.append(tuple(english_words(raw)))
    words = _words(right, path, number)
    if not phrases or not words:
        raise LexiconError(path, number, "“=” 的左边是英文说法，右边是文件里的中文说法，两边都要有词")
    return Gloss(tuple(phrases), words)


def read_dictionary(path: Path) -> tuple[list[Group], set[str], list[Gloss]]:
    """The groups, the "+" words and the English glosses of one file, as written (not
    yet merged)."""
    try:
        # utf-8-sig: Windows Notepad saves UTF-8 with a byte-order mark.
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        line = path.read_bytes()[: error.start].count(b"\n") + 1
        raise LexiconError(path, line, "文件不是 UTF-8 编码，请另存为 UTF-8") from error
    groups: list[Group] = []
    user_words: set[str] = set()
    glosses: list[Gloss] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if "=" in line:
            left, _, right = line.partition("=")
            if "=" in right or ">" in line or line.startswith("+"):
                raise LexiconError(path, number, "“=” 行是一条英文对照：英文 = 中文，一行只有一个 “=”")
            glosses.append(_gloss(left, right, path, number))
            continue
        if line.startswith("+"):
            if ">" in line:
                raise LexiconError(path, number, "“+” 行只列词，不能有 “>”")
            user_words.update(_words(line[1:], path, number))
            continue
        left, arrow, right = line.partition(">")
        if ">" in right:
            raise LexiconError(path, number, "一行只能有一个 “>”")
        words = _words(left, path, number)
        terms = tuple(t for t in _words(right, path, number) if t not in words)
        if arrow and not (words and terms):
            raise LexiconError(path, number, "“>” 的左边是日常说法，右边是文件里的说法，两边都要有词")
        if not arrow and len(words) < 2:
            raise LexiconError(path, number, "同义词组至少要有两个不同的词（词之间用空格或 | 分隔）")
        groups.append(Group(words, terms))
    return groups, user_words, glosses


def _words(part: str, path: Path, number: int) -> tuple[str, ...]:
    words: list[str] = []
    for raw in _SEPARATOR.split(part):
        if not raw:
            continue
        odd = [ch for ch in raw if not ch.isalnum()]
        if odd:
            raise LexiconError(path, number, f"“{raw}” 里有 “{odd[0]}”：词之间只用空格或 | 分隔")
        word = normalize(raw)
        if len(word) < 2:
            # A single character would be read inside other words: 交 in 提交, 裁 in 仲裁.
            raise LexiconError(path, number, f"“{raw}” 只有一个字：请写成词（如“缴纳”而不是“交”）")
        if word not in words:
            words.append(word)
    return tuple(words)


def read_bundled() -> tuple[list[Group], set[str], list[Gloss]]:
    groups, words, glosses = read_dictionary(BUNDLED_FILE)
    more_groups, more_words, more_glosses = read_dictionary(ENGLISH_FILE)
    return groups + more_groups, words | more_words, glosses + more_glosses


@cache
def bundled_user_words() -> frozenset[str]:
    """Every word of the bundled files (the words and terms of their groups and the "+" words):
    what jieba keeps whole. The same set as the bundled Lexicon's user_words."""
    groups, words, _ = read_bundled()
    return frozenset(words.union(*(group.words + group.terms for group in groups)))


@cache
def word_list_hash() -> str:
    """A short SHA-256 of the words jieba is given (bundled_user_words): the index records it
    (IndexSettings.word_list), so that an edit of domain_dictionary.txt or english_glossary.txt,
    which changes how passages are cut into tokens, asks for `unionqa build`."""
    text = "\n".join(sorted(bundled_user_words()))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
