"""What a lawyer weighs before citing: the place a question names, and which of two
provisions on the same matter prevails.

- **Place.** A question that names a place (「上海这边…」, 「杭州的企业…」) is answered
  from the rules that apply there: the place's own regulations, its province's, and the
  national ones. A regulation of another region does not apply, so it is not cited.
  When the place's own rules are not among the close candidates, the national rule
  answers and the answer says so (`NATIONAL_NOTE`).
- **Near provisions.** Provisions whose passages score within `near_margin` (a fitted
  number, bot/calibration/*.json) of the best are on the same matter. Of those that
  hold the shape of answer asked for, the one that prevails leads: the place's own
  rule over the national one, a law in force over one that is not, the special over
  the general (`is_special`: 劳动争议调解仲裁法 over 劳动法 on how long arbitration
  takes), then the newer over the older (by the law's own passing date: 劳动合同法 2007
  over 劳动法 1994 on 试用期), as 《立法法》 第一百零三条 orders them.
  The provision it displaced is shown as 「另见」, the other near ones as
  「其他相关规定」 (at most `MAX_OTHERS`), as extra citations after the answer's own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from bot.records import ROLE_OTHER, ROLE_SEE_ALSO, Citation
from bot.retrieve import Evidence, Hit
from corpus.image_loader import ocr_page_numbers
from corpus.laws import citation_label, enacted, is_in_force, legal_of, short_title, version_label
from corpus.places import Place, load_gazetteer
from corpus.records import Document
from index.records import Chunk

NATIONAL_NOTE = "未找到{place}的地方性规定，以下是全国性规定："
MAX_OTHERS = 2  # near provisions listed besides the lead (issue 17: 「最多两条」)
QUANTITY_KINDS = ("number", "when")  # question kinds whose answers can be seen to differ
# What a law's name says it is, after what it is about: 劳动合同「法」, 工会「条例」, 「实施办法」.
# Longest first, so that 实施细则 is taken whole and not as 细则.
_GENRES = ("实施细则", "实施办法", "实施条例", "若干规定", "特别规定", "暂行规定", "暂行办法", "条例", "规定",
           "办法", "细则", "法")


def legal(document: Document | None) -> Mapping[str, str]:
    if document is None:
        return {}
    return legal_of(document.title, document.source, document.metadata)


def question_places(text: str) -> list[Place]:
    """The provinces and cities a question names, in order of mention."""
    return load_gazetteer().find(text)


def document_place(metadata: Mapping[str, str]) -> Place | None:
    name = metadata.get("place", "")
    if not name:
        return None
    return load_gazetteer().get(name) or Place(name, metadata.get("jurisdiction", ""), name)


def applies(metadata: Mapping[str, str], places: Sequence[Place]) -> bool:
    """Whether a document applies where the question is asked: a national one (or one
    with no place) everywhere, a regional one inside its region only."""
    region = document_place(metadata)
    return region is None or any(place.within(region) for place in places)


def is_local(metadata: Mapping[str, str], places: Sequence[Place]) -> bool:
    """A regional rule that applies to a place the question names."""
    region = document_place(metadata)
    return region is not None and any(place.within(region) for place in places)


def restrict_to_places(
    hits: list[Hit], evidence: Evidence, documents: Mapping[str, Document], chunks: Mapping[int, Chunk],
    places: Sequence[Place], top_k: int, margin: float,
) -> tuple[list[Hit], Evidence]:
    """The hits and evidence of a question that names `places`: other regions' passages
    dropped (from the rankings the decision reads too), and the place's own passages
    first when they score within `margin` of the best that applies."""
    verdict: dict[str, bool] = {}

    def allowed(vector_id: int) -> bool:
        chunk = chunks.get(vector_id)
        if chunk is None:
            return True
        if chunk.doc_id not in verdict:
            verdict[chunk.doc_id] = applies(legal(documents.get(chunk.doc_id)), places)
        return verdict[chunk.doc_id]

    pool = [h for h in (*hits, *evidence.more) if allowed(h.vector_id)]
    if pool:
        best = max(h.score for h in pool)
        local = [h for h in pool
                 if h.score >= best - margin and is_local(legal(documents.get(h.chunk.doc_id)), places)]
        pool = local + [h for h in pool if h not in local]

    def keep(ranking: tuple[tuple[int, float], ...]) -> tuple[tuple[int, float], ...]:
        return tuple((vid, s) for vid, s in ranking if allowed(vid))

    narrowed = replace(evidence, dense=keep(evidence.dense), lexical=keep(evidence.lexical), more=tuple(pool[top_k:]))
    return pool[:top_k], narrowed


@dataclass(frozen=True)
class Provision:
    """One provision among the candidates: its document, its span (the article, or the
    passage outside articles) and its best candidate sentence."""

    doc_id: str
    span: tuple[int, int]
    hit: Hit
    start: int  # the best sentence, in document offsets
    end: int
    shape: float  # whether that sentence holds the shape of answer asked for
    vector: np.ndarray | None = None  # that sentence's embedding (unit length)

    def similarity(self, other: Provision) -> float:
        """The cosine of the two provisions' best sentences: how far they say the same thing."""
        if self.vector is None or other.vector is None:
            return 0.0
        return float(self.vector @ other.vector)


def subject_of(title: str) -> str:
    """What a law's name says it rules on: 劳动合同 for 中华人民共和国劳动合同法, 劳动争议调解仲裁
    for 劳动争议调解仲裁法, 上海市工会 for 上海市工会条例; "" for a name with no genre word."""
    name = short_title(title.strip().strip("《》"))
    for genre in _GENRES:
        if name.endswith(genre) and len(name) > len(genre):
            return name[: -len(genre)]
    return ""


def is_special(one: Document | None, other: Document | None) -> bool:
    """Whether `one` is the special law to `other`'s general one: its subject is the other's
    narrowed (劳动合同, 劳动争议调解仲裁 and 女职工劳动保护 narrow 劳动). Read from the names, as a
    reader of two laws on one matter would: the law written for the narrower matter."""
    if one is None or other is None:
        return False
    narrow, broad = subject_of(one.title), subject_of(other.title)
    return bool(narrow and broad) and narrow != broad and broad in narrow


def prevails(
    provision: Provision, documents: Mapping[str, Document], places: Sequence[Place],
    rivals: Sequence[Provision] = (),
) -> tuple:
    """The order of precedence: the place's own rule, then a law in force, then the special
    law over the general one (counted against `rivals`, since being special is a relation
    between two laws), then the newer law."""
    document = documents.get(provision.doc_id)
    metadata = legal(document)
    special = sum(1 for r in rivals if r.doc_id != provision.doc_id and is_special(document, documents.get(r.doc_id)))
    return (is_local(metadata, places), is_in_force(metadata), special, enacted(metadata))


def arrange(
    provisions: Sequence[Provision], documents: Mapping[str, Document], places: Sequence[Place], margin: float,
    same_matter: float = 1.0, kind: str = "",
) -> tuple[Provision, list[tuple[Provision, str]]]:
    """The lead provision, and the near ones shown after it with their role.

    `provisions` are in the order the sentence model ranks their best sentences (the
    first would lead today). A provision is near when its passage's fused score is
    within `margin` of the best passage's. A near one of another law that holds the
    shape of answer asked for and whose best sentence says nearly what the first one
    says (cosine at least `same_matter`) rules on the same matter: of those, the one
    that prevails leads, and the one it displaced is 「另见」; for a question naming a
    place, a near rule of that place leads over any other. Both numbers are fitted
    (bot/eval/calibrate.py). Only for a question asking a quantity (`kind` number or when):
    two provisions that state one can be seen to differ, while nearly every provision
    「应当」 or 「不得」 something, so a yes/no question's rivals would only be neighbours."""
    if not provisions:
        raise ValueError("no provisions to arrange")
    first = provisions[0]
    if not is_law(documents, first):
        # passages of an essay or a notice are not provisions: answered as before
        return first, []
    top = max(p.hit.score for p in provisions)
    near = [p for p in provisions[1:] if p.hit.score >= top - margin and p.span != first.span
            and is_law(documents, p)]
    lead = first
    local = [p for p in near if is_local(legal(documents.get(p.doc_id)), places)]
    if local and not is_local(legal(documents.get(first.doc_id)), places):
        # the place's own rule on the matter leads (its best-ranked one), whatever is asked:
        # the national rule applies there too, and is shown after it
        lead = local[0]
    rivals = [p for p in near if lead is first and kind in QUANTITY_KINDS and p.doc_id != first.doc_id
              and p.shape >= first.shape and p.similarity(first) >= same_matter
              and (places or same_region(documents, p, first))]
    if rivals:
        contenders = [first, *rivals]
        lead = max(contenders, key=lambda p: prevails(p, documents, places, contenders))
    shown: list[tuple[Provision, str]] = []
    if lead is not first:
        shown.append((first, ROLE_SEE_ALSO))
    for p in near:
        if p is not lead and len([r for _, r in shown if r == ROLE_OTHER]) < MAX_OTHERS:
            shown.append((p, ROLE_OTHER))
    return lead, shown


def same_region(documents: Mapping[str, Document], one: Provision, other: Provision) -> bool:
    """Both national, or both of one region. A question naming no place does not say
    whether a regional rule applies to it, so it is not weighed against a national one
    there: such a question is answered as the provisions rank."""
    here = document_place(legal(documents.get(one.doc_id)))
    there = document_place(legal(documents.get(other.doc_id)))
    return (here.name if here else "") == (there.name if there else "")


def is_law(documents: Mapping[str, Document], provision: Provision) -> bool:
    return legal(documents.get(provision.doc_id)).get("kind") == "law"


def law_fields(document: Document | None, article: str) -> dict:
    """The Citation fields that say what a cited law is (all empty for other documents)."""
    metadata = legal(document)
    if document is None or not metadata.get("rank"):
        return {}
    return {
        "label": citation_label(document.title, metadata, article),
        "version": version_label(metadata),
        "jurisdiction": metadata.get("jurisdiction", ""),
        "place": metadata.get("place", ""),
        "rank": metadata.get("rank", ""),
        "passed": metadata.get("passed", ""),
        "amended": metadata.get("amended", ""),
        "effective": metadata.get("effective", ""),
        "in_force": metadata.get("in_force", "true") != "false",
    }


def describe(citations: list[Citation], documents: Mapping[str, Document]) -> list[Citation]:
    """Citations with their laws' place, rank and dates, an official document's 文号 and date
    of issue, and whether the passage was read from a scan."""
    return [replace(c, **law_fields(documents.get(c.doc_id), c.article), **source_fields(documents.get(c.doc_id), c.page))
            for c in citations]


def source_fields(document: Document | None, page: int | None) -> dict:
    if document is None:
        return {}
    metadata = document.metadata
    fields = {"doc_number": metadata.get("doc_number", ""), "issued": metadata.get("issued", "")}
    scanned = ocr_page_numbers(metadata)
    fields["scanned"] = bool(scanned) and (page in scanned or page is None)
    return fields


def with_note(text: str, citations: list[Citation], note: str) -> tuple[str, list[Citation]]:
    """The answer text opened by a note on its own line, the markers moved along."""
    shift = len(note) + 1
    return f"{note}\n{text}", [replace(c, markers=[m + shift for m in c.markers]) for c in citations]
