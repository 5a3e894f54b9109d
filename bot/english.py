"""English questions over Chinese documents: `read_english(question, lexicon)` gives the
Chinese question an English one asks.

Its words are the documents' words for the English ones (the English glossary,
index/english_glossary.txt, read by index/lexicon.py), with any Chinese it quotes and
the amounts it names; they are asked the way its question words ask ("how many" as
是多少, "what is X" as 什么是X, "what about X" after an earlier turn as 那X呢), so that
bot/query.py reads the kind, the definition subject and a follow-up from it exactly
as from a Chinese question. Everything here is the grammar of English questions, not
words of any document.
"""

from __future__ import annotations

import re
from functools import cache

from index.lexicon import Lexicon, english_words
from index.tokens import chinese_number, to_simplified

# The kinds of bot/query.py's QUESTION_KINDS, read from English question words; the
# first kind that matches wins ("how many days" is a number question).
ENGLISH_KINDS: tuple[tuple[str, re.Pattern], ...] = (
    ("when", re.compile(r"\bwhen\b|\bwhat (?:year|date|time|period)\b|\bwhich (?:year|date|period)\b")),
    ("number", re.compile(r"\bhow (?:many|much|long|old|often|far|heavy|big|large)\b|\bwhat age\b"
                          r"|\bwhat (?:percentage|percent|proportion|share|ratio|amount|number)\b"
                          r"|\bat (?:most|least)\b|\bmaximum\b|\bupper limit\b|\bthe (?:most|longest|shortest)\b")),
    ("who", re.compile(r"\bwho(?:m|se)?\b|\bwhich (?:department|body|authority|organi[sz]ation|agency|person|people)\b")),
    ("why", re.compile(r"\bwhy\b|\bwhat (?:is|are) the (?:reason|significance|point)\b")),
    ("where", re.compile(r"\bwhere\b")),
    ("list", re.compile(r"\bwhich\b|\bwhat (?:kinds?|types?|sorts?|items?|conditions?|circumstances?|rights?|duties?)\b"
                        r"|\bconsists? of\b|\binclude[sd]?\b|\bwhat are\b|\blist\b")),
    ("procedure", re.compile(r"\bhow (?:do|does|did|can|could|should|shall|to|is|are|will|would)\b"
                             r"|\bwhat (?:should|can|could|must) (?:i|we|you|he|she|they)\b|\bwhat to do\b"
                             r"|\bsteps?\b|\bprocedures?\b|\bprocess\b")),
    ("definition", re.compile(r"^(?:what is|what's|what is meant by|define|explain|describe|about)\b"
                              r"|\bwhat does .+ (?:mean|stand for)\b|\b(?:refers?|referring) to\b|\bmeant by\b"
                              r"|\b(?:involves?|entails?|comprises?|makes? up)\b")),
    ("yesno", re.compile(r"(?:^|[.?!;,]\s*)(?:is|are|am|was|were|can|could|may|might|must|do|does|did|should|shall"
                         r"|will|would|has|have|had)\b|\b(?:is it|is that|is this) (?:legal|lawful|allowed|ok|okay|right)\b")),
)
# How each kind is asked in Chinese: the form QUESTION_KINDS and definition_subject read.
_ASKED_IN_CHINESE = {
    "definition": "什么是{}", "when": "{}是什么时候", "number": "{}是多少", "who": "{}是谁",
    "why": "为什么{}", "where": "{}在哪里", "list": "{}有哪些", "procedure": "{}如何",
    "yesno": "{}吗", "other": "{}",
}
# An English follow-up that leans on the previous question, as the Chinese ones do.
_WHAT_ABOUT = re.compile(r"^\W*(?:and\s+)?(?:what|how)\s+about\b", re.I)
_WHAT_IF = re.compile(r"^\W*(?:and\s+)?(?:what\s+if|if|and\s+if|suppose|what\s+happens\s+if)\b", re.I)
# A pronoun, or "still/also", makes it lean on the earlier turn as 它/他/还/也 do.
_LEANING = re.compile(r"\b(?:it|its|he|him|his|she|her|they|them|their|this|that|these|those|still|also|too|either)\b", re.I)

_HAN_RUN = re.compile(r"[\u4e00-\u9fff]{2,}")


# Polite openings that ask nothing themselves: "Could you tell me what X is" asks what X is.
_POLITE_EN = re.compile(r"^\W*(?:(?:could|can|would|will) you (?:please )?(?:tell|explain to|show) me|(?:please )?(?:tell|show) me"
                        r"|i(?:'d| would) like to know|i want to know|do you know|i wonder)\b\W*")


def english_kind(text: str) -> str:
    lowered = _POLITE_EN.sub("", text.lower())
    for kind, pattern in ENGLISH_KINDS:
        if pattern.search(lowered):
            return kind
    return "other"


_NUMBER_WORDS = {w: n for n, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen"
    " seventeen eighteen nineteen twenty".split())} | {"a": 1, "an": 1, "thirty": 30, "forty": 40, "fifty": 50,
                                                     "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90}
_UNITS = {"day": "天", "week": "周", "month": "个月", "year": "年", "hour": "小时", "time": "次", "yuan": "元",
          "kilogram": "公斤", "kg": "公斤", "person": "人", "people": "人", "worker": "人", "employee": "人"}
_AMOUNT = re.compile(r"\b(\d+|" + "|".join(_NUMBER_WORDS) + r")(?:[\s-](one|two|three|four|five|six|seven|eight|nine))?"
                     r"(?:\s+(?:full|whole|more|straight|consecutive|calendar|working|work))?\s+"
                     r"(" + "|".join(_UNITS) + r")s?\b|\b(\d+)\s*(?:%|percent|per cent)")


def english_amounts(text: str) -> list[str]:
    """The amounts an English question names, written as the laws write them: "fifteen
    years" as 十五年, "3 months" as 三个月, "150%" as 百分之一百五十."""
    amounts = []
    for match in _AMOUNT.finditer(text.lower()):
        number, ones, unit, percent = match.groups()
        if percent:
            amounts.append("百分之" + chinese_number(int(percent)) if 0 < int(percent) < 10000 else percent + "%")
            continue
        n = int(number) if number.isdigit() else _NUMBER_WORDS[number] + (_NUMBER_WORDS[ones] if ones else 0)
        if 0 < n < 10000:
            amounts.append(chinese_number(n) + _UNITS[unit])
    return amounts


def read_english(question: str, lexicon: Lexicon, follow_up: bool = False) -> str:
    """The Chinese question an English one asks: the documents' words for its English
    words, with the Chinese it quotes, asked as its question words ask ("what about X"
    and "what if" as a follow-up's 那X呢 and 要是…呢 when there was an earlier turn).
    "" when the glossary knows none of its words."""
    words = [chinese[0] for chinese in lexicon.read_english(question)]
    words += [w for w in _HAN_RUN.findall(to_simplified(question)) if w not in words]
    words += [w for w in english_amounts(question) if w not in words]
    leaning = follow_up and bool(_LEANING.search(question))
    if not words and not leaning:
        return ""
    if follow_up and words and _WHAT_ABOUT.search(question):
        return f"那{''.join(words)}呢？"
    if follow_up and _WHAT_IF.search(question):
        return f"要是{' '.join(words)}呢？"
    kind = english_kind(question)
    if kind == "definition" and len(words) > 1:
        kind = "other"  # "what is X" names one thing; with more it asks about them
    asked = _ASKED_IN_CHINESE[kind].format(" ".join(words)) + "？"
    # asked together with the earlier question, whose words it leaves out
    return "也" + asked if leaning else asked


def unread_share(question: str, lexicon: Lexicon) -> float:
    """The share of an English question's content words that the glossary could not read:
    a question asked mostly in words the bot does not know is not one it can answer with
    confidence, however close its few known words bring a passage. Function words and the
    grammar of asking (ENGLISH_KINDS, polite openings) are not content."""
    stop = _function_words()
    text = _POLITE_EN.sub(" ", question.lower())
    for _, pattern in ENGLISH_KINDS:
        text = pattern.sub(" ", text)
    content = [w for w in english_words(text) if w not in stop]
    if not content:
        return 0.0
    unread = [w for w in lexicon.unread_english(text) if w not in stop]
    return len(unread) / len(content)


@cache
def _function_words() -> frozenset[str]:
    # scikit-learn's English stop words, imported on the first English question: importing
    # sklearn.feature_extraction at module level cost every process 1.4 s at start.
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return frozenset(ENGLISH_STOP_WORDS)
