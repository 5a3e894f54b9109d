"""Definition questions ("工匠精神是什么？", "劳模精神的内涵是什么？") and the
sentences that define their subject.

Policy texts rarely define a term as "X是……". They name it after a list of its
qualities: "爱岗敬业、争创一流……的劳模精神". Such a sentence shares few words
with the question and sits in a passage that mentions X no more than its
neighbours do, so neither retriever ranks it first; it has to be looked for.
"""

from __future__ import annotations

import re

QUESTION_END = "？?。！!；; \t"  # stripped from the end of a question before it is read
_POLITE = re.compile(r"^(?:请问|请|麻烦)")
# Openings that ask what X is, with nothing needed after X: 「什么是X」「谈谈X」
_WHAT_IS = re.compile(
    r"^(?:什么是|什么叫|啥叫|啥是|何为|何谓|怎样理解|如何理解|怎么理解"
    r"|(?:谈谈|说说|讲讲|介绍|解释|简述|概括|阐述)(?:一下)?(?:什么是)?)"
)
_ASKING = re.compile(
    r"^(?P<x>.{2,20}?)"
    r"(?:的(?:基本)?(?:内涵|含义|定义|内容|主要内容|核心要义|要求|基本要求|特征|特点))?"
    r"(?:是什么|指什么|是指什么|指的是什么|是什么意思|是啥意思|是啥|具体是什么"
    r"|(?:具体)?(?:包括|包含|有)(?:哪些|哪几点|哪几个|什么)(?:方面|内容)?"
    r"|该怎么理解|怎么理解|如何理解)?$"
)
# Words that make a question about something other than what X is.
_NOT_DEFINITION = re.compile(r"哪|谁|几|多少|多久|何时|什么时候|怎么|如何|为什么|是否|能否|吗")

# A list of at least three short items directly before "的X": the usual way these
# texts spell out what a spirit or principle consists of.
_ITEM = r"[^，。；：、“”‘’（）\s]{2,12}"
ENUMERATION_STRENGTH = 1.0
COPULA_STRENGTH = 0.5


def definition_subject(question: str) -> str | None:
    """X when the question asks what X is (or what it consists of), else None."""
    text = _POLITE.sub("", question.strip().rstrip(QUESTION_END))
    plain = _WHAT_IS.sub("", text)
    asks_directly = plain != text  # "什么是X" needs no "是什么" at the end
    match = _ASKING.match(plain)
    if not match:
        return None
    subject = match.group("x")
    if _NOT_DEFINITION.search(subject):
        return None
    if not asks_directly and subject == plain:
        return None  # no "是什么", "的内涵" or similar: not a definition question
    return subject


def definition_strength(sentence: str, subject: str) -> float:
    """How clearly the sentence defines `subject`: a list of its qualities before
    "的X" counts most, "X是……/X指……" less, anything else not at all."""
    x = re.escape(subject)
    if re.search(f"(?:{_ITEM}、){{2,}}{_ITEM}的{x}", sentence):
        return ENUMERATION_STRENGTH
    if re.search(f"(?:^|[，：“‘（])(?:{x})(?:是指|指的是|是|指|即|就是)", sentence):
        return COPULA_STRENGTH
    return 0.0
