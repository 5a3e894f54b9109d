"""The domain dictionary: workers' everyday words and the documents' words for the same things.

A worker asks 「老板不给交社保能辞职吗」; the law says 「用人单位未依法为劳动者缴纳社会保险费
的，劳动者可以解除劳动合同」. Neither jieba tokens nor the small embedding model bridge that
gap, so the question's BM25 query is widened with the words the dictionary relates to its
own. The dictionary is a text file that union staff can read and extend: the bundled
`index/domain_dictionary.txt` (its format is described at its top and in docs/dictionary.md),
plus, optionally, a union's own file in the same format.

API:

    load_lexicon(extra: Path | None = None) -> Lexicon
        The bundled dictionary (read once, then cached), merged with `extra` when given (read
        on every call). A malformed line raises LexiconError, whose message names the file
        and the line number.

    Lexicon.groups: tuple[Group, ...]
        Group.words: tuple[str, ...]   synonyms; any one expands to the others
        Group.terms: tuple[str, ...]   the documents' broader or more formal terms (the right
                                       side of ">"), reached from the words but not back
    Lexicon.user_words: frozenset[str]
        Every word of the dictionary; index.tokens gives the bundled ones to jieba.

    Lexicon.expand_question(question: str, tokens: list[str]) -> dict[str, float]
        What the bot's BM25 query should be: `tokens` (the question's own BM25 tokens, from
        index.tokens.tokenize_query) with weight 1, plus the BM25 tokens of the words related
        to the dictionary words read in the question, with weight EXPANSION_WEIGHT. A token
        of both kinds keeps weight 1. Insertion order: the question's tokens first.
    Lexicon.find_words(question: str) -> list[str]
        The dictionary words read in the question, longest first; a word inside a longer one
        that was read is not read again (加班费 is read, and 加班 inside it is not).
    Lexicon.expand(tokens: list[str]) -> dict[str, float]
        The same weights, with each token looked up as a word. Search-mode tokens contain
        sub-words (单位 from 用人单位), which this expands too; prefer expand_question.
    Lexicon.synonyms(word: str) -> list[str]
        The words `word` expands to (before tokenizing): the other words of its group, then
        the group's terms. [] for a word that is not in a group.
    Lexicon.read_english(text: str) -> list[tuple[str, ...]]
        For an English question, the documents' Chinese words for each glossary phrase read
        in it, in order (the fourth kind of line, "maternity leave | maternity = 产假", in the
        bundled `index/english_glossary.txt` and in a union's file; bot/english.py uses it).

Only the bundled file goes into jieba's dictionary: documents and questions must be cut the
same way, and a union's own file can then change without rebuilding the index. Its words
still work, because expansions are tokenized like any text.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path

from index.tokens import normalize, tokenize

BUNDLED_FILE = Path(__file__).with_name("domain_dictionary.txt")
# English words → the documents' Chinese words, in the dictionary's fourth kind of line
# ("maternity leave | maternity = 产假"); kept in a file of its own for length.
ENGLISH_FILE = Path(__file__).with_name("english_glossary.txt")

# An expansion is weaker evidence than the asker's own word: a near-synonym is not quite the
# same thing, and some members have other senses in the documents (单位 as a unit of
# measure). At half weight a passage with the question's own words still ranks first, while
# one that only says it in the documents' words can still be found.
EXPANSION_WEIGHT = 0.5

# Words are separated by whitespace (ASCII or full-width) or "|"; "#" starts a comment.
_SEPARATOR = re.compile(r"[\s|]+")


class LexiconError(ValueError):
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


@dataclass(frozen=True)
class Lexicon:
    groups: tuple[Group, ...]
    user_words: frozenset[str]
    glosses: tuple[Gloss, ...] = ()

    @cached_property
    def _english(self) -> dict[tuple[str, ...], tuple[str, ...]]:
        phrases: dict[tuple[str, ...], tuple[str, ...]] = {}
        for gloss in self.glosses:
            for phrase in gloss.english:
                known = phrases.get(phrase, ())
                phrases[phrase] = known + tuple(w for w in gloss.words if w not in known)
        return phrases

    @cached_property
    def _longest_english(self) -> int:
        return max((len(p) for p in self._english), default=0)

    def read_english(self, text: str) -> list[tuple[str, ...]]:
        """The Chinese words for the English words of `text`, one tuple per glossary phrase
        read, in the order they come; the longest phrase wins ("annual leave" before
        "leave"), and words the glossary does not list are skipped."""
        return self._read(english_words(text))[0]

    def unread_english(self, text: str) -> list[str]:
        """The words of `text` that no glossary phrase read, in order."""
        words = english_words(text)
        read = self._read(words)[1]
        return [w for i, w in enumerate(words) if i not in read]

    def _read(self, words: list[str]) -> tuple[list[tuple[str, ...]], set[int]]:
        """The glossary phrases read in `words`, and the positions of the words they cover."""
        longest = self._longest_english
        found: list[tuple[str, ...]] = []
        read: set[int] = set()
        i = 0
        while i < len(words):
            for size in range(min(longest, len(words) - i), 0, -1):
                chinese = self._english.get(tuple(words[i : i + size]))
                if chinese:
                    if chinese not in found:
                        found.append(chinese)
                    read.update(range(i, i + size))
                    i += size
                    break
            else:
                separated = self._phrasal_verb(words, i)
                if separated:
                    if separated not in found:
                        found.append(separated)
                    read.add(i)
                i += 1  # the words of the verb's object are still read on their own
        return found, read

    def _phrasal_verb(self, words: list[str], i: int) -> tuple[str, ...] | None:
        """The Chinese of a verb and its particle with an object of one or two words between
        them ("laying people off", "laid him off")."""
        for gap in (1, 2):
            j = i + gap + 1  # the particle's position
            if j < len(words) and words[j] in _PARTICLES:
                chinese = self._english.get((words[i], words[j]))
                if chinese:
                    return chinese
        return None

    @cached_property
    def _related(self) -> dict[str, tuple[str, ...]]:
        related: dict[str, tuple[str, ...]] = {}
        for group in self.groups:
            for word in group.words:
                related[word] = tuple(w for w in group.words if w != word) + group.terms
        return related

    @cached_property
    def _longest_first(self) -> list[str]:
        # Every word, not only those with expansions: 事业单位 (a user word) must hide the
        # 单位 inside it.
        return sorted(self.user_words, key=lambda w: (-len(w), w))

    def synonyms(self, word: str) -> list[str]:
        return list(self._related.get(normalize(word), ()))

    def synonym_tokens(self, word: str) -> set[str]:
        """The BM25 tokens of the words `word` expands to."""
        return {t for related in self._related.get(normalize(word), ()) for t in _tokens_of(related)}

    def find_words(self, question: str) -> list[str]:
        text = normalize(question)
        taken = [False] * len(text)
        found: list[str] = []
        for word in self._longest_first:
            start = text.find(word)
            while start != -1:
                end = start + len(word)
                if not any(taken[start:end]):
                    taken[start:end] = [True] * len(word)
                    if word not in found:
                        found.append(word)
                start = text.find(word, start + 1)
        return found

    def expand_question(self, question: str, tokens: list[str]) -> dict[str, float]:
        return self._expanded(tokens, self.find_words(question))

    def expand(self, tokens: list[str]) -> dict[str, float]:
        return self._expanded(tokens, tokens)

    def _expanded(self, tokens: list[str], words: list[str]) -> dict[str, float]:
        weights = dict.fromkeys(tokens, 1.0)
        for word in words:
            for related in self._related.get(word, ()):
                for token in _tokens_of(related):
                    weights.setdefault(token, EXPANSION_WEIGHT)
        return weights


@cache
def _tokens_of(word: str) -> tuple[str, ...]:
    # The BM25 tokens a document containing the word has: 解除劳动合同 gives 解除, 劳动, 合同,
    # 劳动合同 and itself.
    return tuple(tokenize(word))


def load_lexicon(extra: Path | None = None) -> Lexicon:
    if extra is None:
        return _bundled()
    groups, words, glosses = _read_bundled()
    extra_groups, extra_words, extra_glosses = _read(Path(extra))
    return _merge(groups + extra_groups, words | extra_words, glosses + extra_glosses)


@cache
def _bundled() -> Lexicon:
    return _merge(*_read_bundled())


def _read_bundled() -> tuple[list[Group], set[str], list[Gloss]]:
    groups, words, glosses = _read(BUNDLED_FILE)
    more_groups, more_words, more_glosses = _read(ENGLISH_FILE)
    return groups + more_groups, words | more_words, glosses + more_glosses


# The particles of English phrasal verbs, which may stand after the verb's object
_PARTICLES = frozenset("off out up down over back in on away".split())

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


def _read(path: Path) -> tuple[list[Group], set[str], list[Gloss]]:
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


def _merge(groups: list[Group], extra_words: set[str], glosses: list[Gloss] | None = None) -> Lexicon:
    """Groups that share a word become one, in the place of the first of them, so a union's
    file can add words to a bundled group by repeating one of its words."""
    merged: list[Group] = []
    for group in groups:
        shared = [i for i, m in enumerate(merged) if not set(m.words).isdisjoint(group.words)]
        words: list[str] = []
        terms: list[str] = []
        for part in [merged[i] for i in shared] + [group]:
            words += [w for w in part.words if w not in words]
            terms += [t for t in part.terms if t not in terms]
        joined = Group(tuple(words), tuple(t for t in terms if t not in words))
        position = shared[0] if shared else len(merged)
        merged = [m for i, m in enumerate(merged) if i not in shared]
        merged.insert(position, joined)
    user_words = set(extra_words)
    for group in merged:
        user_words.update(group.words, group.terms)
    return Lexicon(tuple(merged), frozenset(user_words), tuple(glosses or ()))
