"""The question, read once at the entrance: `make_query(question, history)`.

Everything after it (retrieval, the answerability decision, the choice of
sentences) reads the same `Query`: a question typed in traditional characters
or full-width digits is converted before follow-ups are resolved, definitions
detected or words counted, so it gets exactly the answer its simplified form gets.

A question in English is read, at the same place, into the Chinese question it asks
(bot/english.py). From there on it is a Chinese question like any other: BM25,
coverage and the answerability model read Chinese words they know, and a follow-up in
English is resolved against the earlier turn's Chinese form. The dense search for
passages reads both forms (the multilingual model understands the English); the
evidence that decides and chooses sentences is measured on the Chinese reading, the
kind of question the calibration was fitted on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bot.amounts import Amount, amounts
from bot.definition import QUESTION_END, definition_subject
from bot.english import read_english, unread_share
from bot.followup import joined_to, resolve
from index.lexicon import EXPANSION_WEIGHT, Lexicon, load_lexicon
from index.tokens import to_simplified, tokenize_query

# A follow-up asked together with the question before it (「那单位要是一直拖着不交呢？」 after
# 「…按什么比例拨经费？」) asks what that answer did not say: the earlier question's own words
# count this much in the lexical search, the follow-up's own words 1.
HISTORY_WEIGHT = 0.5

# What a question asks for, read from its question words. These are the grammar of
# Chinese questions, not words of any document; the first kind that matches wins,
# so "能休几天" is a number question and not a yes/no one.
QUESTION_KINDS: tuple[tuple[str, re.Pattern], ...] = (
    ("definition", re.compile(r"什么是|是什么意思|啥叫|什么叫|何为|何谓|指的是什么|是指什么|指什么|的含义|的内涵|的定义")),
    ("when", re.compile(r"何时|哪一?年|哪一天|几月|什么时候|什么时间|哪个时期|日期")),
    ("list", re.compile(r"哪些|哪几|包括什么|有什么内容|几种|几点")),
    ("who", re.compile(r"谁|哪个(?:部门|机构|单位|组织)|哪一?级|哪些人|由哪")),
    ("number", re.compile(r"多少|几[个天年月日岁次名条周小项届]|几个?钟头|多久|多长|多大|多高|百分之几|比例|几成|上限|最[多少长短]")),
    ("where", re.compile(r"哪里|哪儿|什么地方|在哪")),
    ("why", re.compile(r"为什么|为何|什么原因")),
    ("procedure", re.compile(r"怎么办|如何|怎样|怎么|流程|程序|步骤|手续|途径|办法")),
    ("yesno", re.compile(r"吗|是否|能不能|可不可以|可以不|行不行|算不算|要不要|有没有|会不会|该不该|需不需要|对不对|合不合法|合法|合理|有效|违法|[能可]否")),
)

_LATIN_WORD = re.compile(r"[A-Za-z]{2,}")
_HAN = re.compile(r"[\u4e00-\u9fff]")


@dataclass(frozen=True)
class Query:
    """One question as the whole pipeline sees it."""

    question: str  # as the user typed it
    # what the dense search reads: the question in simplified characters, follow-up
    # resolved; for an English question, the English followed by its Chinese reading
    text: str
    # BM25 tokens of the Chinese form (of `subject`, for a definition question)
    tokens: tuple[str, ...]
    kind: str  # one of the QUESTION_KINDS names, or "other"
    english: bool  # written mostly in Latin letters: read through the English glossary
    subject: str | None = None  # X for a question asking what X is
    # tokens → weight for the lexical search: the question's own words (1.0) and the
    # words the domain dictionary, the English glossary or relevance feedback add (less)
    terms: dict[str, float] = field(default_factory=dict)
    # for an English question, the Chinese question it was read into: its passages are
    # found with `text` (both forms), its evidence is measured on this one
    reading: str | None = None
    # for an English question, the share of its content words the glossary could not read
    unread: float = 0.0
    # the amounts the question names (合同签了两年): facts that a provision's range decides
    amounts: tuple[Amount, ...] = ()
    # the tokens of the clause that asks (`asking_clause`): in a long consultation, what is asked
    asking: tuple[str, ...] = ()


_CLAUSE_END = re.compile(r"[，,。！!？?；;…]+")


def question_kind(text: str) -> str:
    """The kind of the clause that asks: in a consultation, the last clause with a question
    word (「我干了多少年都没签合同，现在被辞退了，能要赔偿吗？」 asks yes or no; the
    多少 of its story asks nothing)."""
    return _kind(asking_clause(text))


def asking_clause(text: str) -> str:
    """The clause that asks: the last one with a question word, else the last clause (a long
    consultation tells its story first and asks at the end)."""
    clauses = [c for c in _CLAUSE_END.split(text) if c.strip()]
    for clause in reversed(clauses):
        if _kind(clause) != "other":
            return clause
    return clauses[-1] if clauses else text


def _kind(text: str) -> str:
    for kind, pattern in QUESTION_KINDS:
        if pattern.search(text):
            return kind
    return "other"


def is_english(text: str) -> bool:
    """More Latin words than Chinese characters: an English question, maybe with a
    Chinese term in brackets."""
    return len(_LATIN_WORD.findall(text)) > len(_HAN.findall(text))


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
    earlier_part = joined_to(chinese, earlier) if earlier and not subject else None
    if earlier_part is not None:
        own = set(tokenize_query(chinese[len(earlier_part.strip().rstrip(QUESTION_END)) + 1:]))
        terms = {t: (HISTORY_WEIGHT if w >= 1.0 and t not in own else w) for t, w in terms.items()}
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
        unread=unread_share(question, lexicon) if english else 0.0,
        amounts=tuple(amounts(chinese)),
        asking=tuple(tokenize_query(asking_clause(asked))),
    )
