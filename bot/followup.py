"""Follow-up questions: 「那工匠精神呢？」 or 「它是哪一年提出的？」 mean nothing on
their own. Before retrieval they are rewritten against the previous question:

- 「(那)X呢？」 asks the previous question again about X. When X is the same kind
  of thing as the previous topic (both end the same way: 劳模精神 / 工匠精神) it
  takes the topic's place; otherwise it narrows the topic (试用期 → 试用期的工资).
- A question opening with a pronoun (它、其、他、她、这个…) is about the previous topic.
- A question with no content word of its own (「哪一年？」「为什么？」) is asked
  about the previous topic.
- Any other elliptical question (「还在试用期呢？」「要是生的是双胞胎呢？」
  「我才干了五个月，也有吗？」: ending in 呢, opening with a condition or with
  还/也, or naming a person by a pronoun) is asked together with the previous
  question, whose words it leaves out.

Anything else is taken as a new, self-contained question and left as it is.
"""

from __future__ import annotations

import re

from bot.definition import QUESTION_END, definition_subject
from index.tokens import tokenize_query

_OPENING = re.compile(r"^(?:请问|那么|那)")  # words before the topic that say nothing of it
# 「那工匠精神呢」「工资呢」: a short phrase, no question word of its own, then 呢.
_WHAT_ABOUT = re.compile(r"^(?:那么|那)?(?P<x>[^，,。？?]{1,12}?)(?:的情况|又)?呢$")
_QUESTION_WORD = re.compile(r"什么|啥|哪|谁|几|多少|多久|多长|怎么|怎样|如何|为什么|为何|是否|吗")
# Pronouns that open a follow-up; 这/那 only before a verb, since 「这项规定」 names its own noun.
_PRONOUN = re.compile(
    r"^(?:它们|它|他们|他|她|其(?!他|中|实|余|次|它)|(?:这个|那个|这|那|此)(?=是|有|在|的|要(?!是)|能|可|会|由|从|对|什么|怎么|如何|哪))"
)
# A question that leans on the one before: it ends in 呢, opens with a condition
# (要是/如果…) or with 还/也, or says 也…吗 / 还…吗, or points at someone with a pronoun.
_ELLIPTICAL = re.compile(r"^(?:那么?|要是|如果|假如|万一|还|也)|[也还][^，,。]*吗$|它|(?<!其)[他她]")
# 「X呢」 that is a clause rather than a thing: asked together with the previous question
_CLAUSE = re.compile(r"^(?:要是|如果|假如|万一|还|也)|[了过着]")
# Where the topic of a question ends: the first particle, verb or question word after it.
_TOPIC_END = re.compile(r"的|是|最|在|有|能|可以|应当|需要|怎么|如何|为什么|为何|哪|什么|多|几|吗")


def topic(question: str) -> str | None:
    """What a question is about: the subject of a definition question, else its
    opening words up to the first particle, verb or question word."""
    text = _OPENING.sub("", question.strip().rstrip(QUESTION_END))
    subject = definition_subject(text)
    if subject:
        return subject.split("的")[0] or subject
    match = _TOPIC_END.search(text, 2)  # a topic has at least two characters
    head = text[: match.start()] if match else text
    return head if 2 <= len(head) <= 12 else None


def _same_kind(a: str, b: str) -> bool:
    """劳模精神 and 工匠精神, or 产假 and 婚假: names ending the same way."""
    return a[-1] == b[-1]


def _counterpart(x: str, previous: str) -> str | None:
    """The name in `previous` that `x` stands in for: as long as `x` and ending the
    same way (劳模精神 for 工匠精神, 产假 for 婚假), if there is one."""
    if len(x) < 2:
        return None
    ending = x[-2:] if len(x) >= 4 else x[-1]
    for i in range(len(previous) - len(x) + 1):
        word = previous[i : i + len(x)]
        if word != x and word.endswith(ending) and not any(c in "，,。？?的是" for c in word):
            return word
    return None


def _rewrite(question: str, previous: str) -> str:
    """`question` made self-contained using `previous`, an already resolved question."""
    text = question.strip().rstrip(QUESTION_END)
    subject = topic(previous)
    if not subject:
        return _together(question, previous) if _elliptical(text) else question.strip()
    what_about = _WHAT_ABOUT.match(text)
    if what_about and not _QUESTION_WORD.search(what_about.group("x")) and not _CLAUSE.search(what_about.group("x")):
        x = what_about.group("x")
        if subject in x:  # 「那试用期的工资呢？」 names its topic already
            return x
        if _same_kind(x, subject) and subject in previous:
            return previous.replace(subject, x, 1)
        counterpart = _counterpart(x, previous)
        if counterpart:
            return previous.replace(counterpart, x, 1)
        if len(x) <= 6:  # a thing: 「工资呢？」 after 「试用期最长多久？」
            return f"{subject}的{x}"
        return _together(question, previous)
    pronoun = _PRONOUN.match(text)
    if pronoun:
        glue = "的" if pronoun.group(0) == "其" else ""
        return subject + glue + question.strip()[pronoun.end() :]
    if "它" in text:  # 「弘扬它强调的是什么？」: 它 stands for the topic wherever it is
        return question.strip().replace("它们" if "它们" in text else "它", subject, 1)
    if not tokenize_query(text):  # nothing but question words: 「哪一年？」
        return subject + question.strip()
    if _elliptical(text):
        return _together(question, previous)
    return question.strip()


def _elliptical(text: str) -> bool:
    """A question that cannot stand alone; 「…是多少呢」 asks a whole question."""
    return bool(_ELLIPTICAL.search(text)) or (text.endswith("呢") and not _QUESTION_WORD.search(text))


def _together(question: str, previous: str) -> str:
    return f"{previous.strip().rstrip(QUESTION_END)}，{question.strip()}"


def joined_to(resolved: str, history: list[tuple[str, str]] | None = None) -> str | None:
    """The earlier question a resolved follow-up was asked together with (`_together`), or
    None when it was rewritten otherwise or stands alone."""
    previous = None
    for earlier, _answer in history or []:
        previous = _rewrite(earlier, previous) if previous else earlier.strip()
    if previous is None:
        return None
    head = previous.strip().rstrip(QUESTION_END) + "，"
    return previous if resolved.startswith(head) and len(resolved) > len(head) else None


def resolve(question: str, history: list[tuple[str, str]] | None = None) -> str:
    """The question as it should be searched, given the earlier (question, answer)
    turns, oldest first. Earlier follow-ups are resolved in turn, so that a chain
    such as 「工匠精神是什么？」「它是哪一年提出的？」「在哪里呢？」 keeps its topic."""
    previous = None
    for earlier, _answer in history or []:
        previous = _rewrite(earlier, previous) if previous else earlier.strip()
    return _rewrite(question, previous) if previous else question.strip()
