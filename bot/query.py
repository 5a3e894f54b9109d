"""The question, read once at the entrance: `make_query(question, history)`.

Everything after it (retrieval, the answerability decision, the choice of
sentences) reads the same `Query`: a question typed in traditional characters
or full-width digits is converted before follow-ups are resolved, definitions
detected or words counted, so it gets exactly the answer its simplified form gets.

A question in English is read, at the same place, into the Chinese question it asks:
the documents' words for its English words (the dictionary's English glossary),
asked the way its question words ask (「how many」 as 多少, 「what about X」 as 那X呢).
From there on it is a Chinese question like any other: BM25, coverage and the
answerability model read Chinese words they know, and a follow-up in English is
resolved against the earlier turn's Chinese form. The dense search reads both the
English and the Chinese form: the multilingual model understands the English, and
the Chinese words bring its cosines into the range the calibration was fitted on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bot.definition import definition_subject
from bot.followup import resolve
from index.lexicon import EXPANSION_WEIGHT, Lexicon, load_lexicon
from index.tokens import chinese_number, to_simplified, tokenize_query

# What a question asks for, read from its question words. These are the grammar of
# Chinese questions, not words of any document; the first kind that matches wins,
# so "能休几天" is a number question and not a yes/no one.
QUESTION_KINDS: tuple[tuple[str, re.Pattern], ...] = (
    ("definition", re.compile(r"什么是|是什么意思|啥叫|什么叫|何为|何谓|指的是什么|是指什么|指什么|的含义|的内涵|的定义|什么性质")),
    ("when", re.compile(r"何时|哪一?年|哪一天|几月|什么时候|什么时间|哪个时期|日期")),
    ("list", re.compile(r"哪些|哪几|包括什么|有什么内容|几种|几方|几点")),
    ("who", re.compile(r"谁|哪个(?:部门|机构|单位|组织)|哪一?级|哪些人|由哪")),
    ("number", re.compile(r"多少|几[个天年月日岁次名条周小项届]|几个?钟头|多久|多长|多大|多重|多高|百分之几|比例|几成|上限|封顶|最[多少长短]")),
    ("where", re.compile(r"哪里|哪儿|什么地方|什么场合|在哪")),
    ("why", re.compile(r"为什么|为何|什么原因|意义")),
    ("procedure", re.compile(r"怎么办|如何|怎样|怎么|流程|程序|步骤|手续|途径|办法")),
    ("yesno", re.compile(r"吗|是否|能不能|可不可以|可以不|行不行|算不算|要不要|有没有|会不会|该不该|需不需要|对不对|合不合法|合法|合理|有效|违法|[能可]否")),
)

# The same for English questions: their question words, the first kind that matches
# wins ("how many days" is a number question, "what about" is read before them all).
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

_LATIN_WORD = re.compile(r"[A-Za-z]{2,}")
_HAN = re.compile(r"[\u4e00-\u9fff]")
_HAN_RUN = re.compile(r"[\u4e00-\u9fff]{2,}")


@dataclass(frozen=True)
class Query:
    """One question as the whole pipeline sees it."""

    question: str  # as the user typed it
    text: str  # normalized (NFKC, simplified characters), follow-up resolved: what is searched
    tokens: tuple[str, ...]  # BM25 tokens of `text` (of `subject`, for a definition question)
    kind: str  # one of the QUESTION_KINDS names, or "other"
    english: bool  # written mostly in Latin letters: read through the English glossary
    subject: str | None = None  # X for a question asking what X is
    # tokens → weight for the lexical search: the question's own words (1.0) and the
    # words a domain dictionary or relevance feedback adds (less)
    terms: dict[str, float] = field(default_factory=dict)
    # for an English question, the Chinese question it was read into: its passages are
    # found with `text` (both forms), its evidence is measured on this one
    reading: str | None = None


def question_kind(text: str) -> str:
    for kind, pattern in QUESTION_KINDS:
        if pattern.search(text):
            return kind
    return "other"


def is_english(text: str) -> bool:
    """More Latin words than Chinese characters: an English question, maybe with a
    Chinese term in brackets."""
    return len(_LATIN_WORD.findall(text)) > len(_HAN.findall(text))


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


def _in_chinese(question: str, lexicon: Lexicon, follow_up: bool = False) -> str:
    if is_english(question):
        return read_english(question, lexicon, follow_up) or question
    return to_simplified(question)


def make_query(
    question: str, history: list[tuple[str, str]] | None = None, lexicon: Lexicon | None = None
) -> Query:
    """Normalize the question and its history, resolve a follow-up, and read what it
    asks; its lexical terms are its own words plus what the domain dictionary relates
    to them (the bundled dictionary unless another is given)."""
    lexicon = lexicon or load_lexicon()
    # In simplified characters (or read from English) before anything reads it; the
    # punctuation the user typed is kept, since the resolved question is shown back
    # (tokens are normalized further).
    earlier = [(_in_chinese(q, lexicon, follow_up=i > 0), a) for i, (q, a) in enumerate(history or [])]
    english = is_english(question)
    chinese = resolve(_in_chinese(question, lexicon, follow_up=bool(earlier)), earlier)
    # The dense side reads the English too; the Chinese form alone is all the rest reads.
    text = f"{question.strip()}（{chinese}）" if english and chinese != question.strip() else chinese
    subject = definition_subject(chinese)
    kind = question_kind(chinese)
    # A definition question's content is its subject: "指的是什么", "谈谈" and "的内涵"
    # are the grammar of asking, which the sentence defining X does not repeat; counted
    # as query words they would only lower the coverage of the passage that defines it.
    asked = subject or chinese
    tokens = tuple(tokenize_query(asked))
    terms = lexicon.expand_question(asked, list(tokens))
    if english and chinese != question.strip():
        # The glossary's other words for what was asked, as the dictionary's synonyms are
        for chinese_words in lexicon.read_english(question):
            for word in chinese_words[1:]:
                for token in tokenize_query(word):
                    terms.setdefault(token, EXPANSION_WEIGHT)
    return Query(
        question=question,
        text=text,
        tokens=tokens,
        kind="definition" if subject and kind == "other" else kind,
        english=english,
        subject=subject,
        terms=terms,
        reading=chinese if text != chinese else None,
    )
