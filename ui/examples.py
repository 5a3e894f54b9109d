"""Example questions shown under the chat.

For the bundled corpus these are hand-picked questions it is known to answer;
each is shown only when the document that answers it is in the index, so a
union with its own corpus never sees examples its documents cannot answer.
For other documents, examples are made from their section headings.
"""

from __future__ import annotations

import re

from corpus.records import Document

# (a word the answering document's title contains, the question)
BUNDLED = [
    ("劳模精神", "劳模精神的内涵是什么？"),
    ("劳模精神", "工匠精神是什么？"),
    ("劳动合同法", "劳动合同应当具备哪些条款？"),
    ("工会法", "工会的基本职责是什么？"),
    ("女职工劳动保护", "女职工在孕期享有哪些保护？"),
    ("带薪年休假", "职工带薪年休假有多少天？"),
]
MAX_EXAMPLES = 6
NUMBERING = re.compile(r"^\s*(第[一二三四五六七八九十百零〇\d]+[编章节条]|[一二三四五六七八九十]+[、.．]|\d+[、.．])\s*")


def example_questions(documents: dict[str, Document]) -> list[str]:
    titles = [doc.title for doc in documents.values()]
    chosen = [q for word, q in BUNDLED if any(word in title for title in titles)]
    if not chosen:
        chosen = [q for doc in documents.values() if (q := question_from_headings(doc))]
    return chosen[:MAX_EXAMPLES]


def question_from_headings(document: Document) -> str:
    """A question about the first real section heading of a document: "…有哪些规定？"."""
    for paragraph in document.paragraphs:
        if not paragraph.is_heading:
            continue
        heading = NUMBERING.sub("", document.text[paragraph.start : paragraph.end]).strip(" 　:：")
        if 2 <= len(heading) <= 20 and heading != document.title:
            return f"关于{heading}有哪些规定？"
    return ""
