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

from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path

from index.dictionary import (  # noqa: F401  (LexiconError, Group, Gloss: the lexicon's API)
    BUNDLED_FILE,
    ENGLISH_FILE,
    Gloss,
    Group,
    LexiconError,
    english_words,
    read_bundled,
    read_dictionary,
)
from index.normalize import normalize
from index.tokens import tokenize

# An expansion is weaker evidence than the asker's own word: a near-synonym is not quite the
# same thing, and some members have other senses in the documents (单位 as a unit of
# measure). At half weight a passage with the question's own words still ranks first, while
# one that only says it in the documents' words can still be found.
EXPANSION_WEIGHT = 0.5

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
    groups, words, glosses = read_bundled()
    extra_groups, extra_words, extra_glosses = read_dictionary(Path(extra))
    return _merge(groups + extra_groups, words | extra_words, glosses + extra_glosses)


@cache
def _bundled() -> Lexicon:
    return _merge(*read_bundled())


# The particles of English phrasal verbs, which may stand after the verb's object
_PARTICLES = frozenset("off out up down over back in on away".split())

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
