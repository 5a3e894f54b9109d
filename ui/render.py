"""HTML for answers, cited passages and whole documents.

Every piece of text that comes from a document or a user goes through
`html.escape` first; only then is our own markup added around it. The chat
shows these strings as HTML, so this module is where injection is stopped.
The [n] markers of an answer are linked where `Citation.markers` says they are,
never found by searching the text (a document may itself contain "[3]"). The
document view is the Jinja2 template `templates/document.html` (autoescape).
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from urllib.parse import quote, urlencode

from bot.records import CURATED, MARKER, RELATED, Answer, Citation
from corpus.image_loader import ocr_page_numbers
from corpus.records import Document, Paragraph
from ui.templating import render_page

EXCERPT_CONTEXT = 30  # characters of a passage kept around its quoted sentences in the list under an answer
REFUSAL_HINT = "可以换个说法再问，或者询问与工会文件、劳动法律法规相关的问题。"
# Citations after the answer's own, by Citation.role: shown collapsed under these headings.
SHOWN_ROLES = {"see_also": "另见", "other": "其他相关规定"}
CURATED_LABEL = "工会审核的回答"
# inline: the chat's stylesheet is another module's; this is the one mark an approved answer needs
CURATED_STYLE = ("margin:0 0 .4em;padding:.1em .5em;display:inline-block;border-radius:4px;"
                 "background:#e8f3ea;color:#1a7f37;font-size:.85em;font-weight:bold")


def escape_text(text: str) -> str:
    """Escape text for HTML and keep its line breaks visible."""
    return html.escape(text).replace("\r\n", "\n").replace("\n", "<br>")


def where(citation: Citation) -> str:
    """Section, article and page of a citation, as one short line; an official document's
    文号 and date of issue, and 「扫描件识别」 for a passage read by OCR."""
    parts = [citation.doc_number, f"{citation.issued}印发" if citation.issued else "", citation.section,
             citation.article, f"第{citation.page}页" if citation.page else "", "扫描件识别" if citation.scanned else ""]
    return " · ".join(part for part in parts if part)


def document_url(doc_id: str, start: int | None = None, end: int | None = None,
                 quotes: list[tuple[int, int]] | None = None, anchor: str = "") -> str:
    """A link to the document view, relative so that it works under any mount path."""
    params: dict[str, str] = {}
    if start is not None and end is not None:
        params = {"start": str(start), "end": str(end)}
    if quotes:
        params["q"] = ",".join(f"{s}-{e}" for s, e in quotes)
    url = "doc/" + quote(doc_id, safe="/")
    if params:
        url += "?" + urlencode(params)
    return url + (f"#{anchor}" if anchor else "")


def citation_url(citation: Citation, document: Document | None) -> str:
    anchor = ""
    if document is not None:
        index = first_paragraph_index(document, citation.start, citation.end)
        anchor = f"p-{index}" if index is not None else ""
    return document_url(citation.doc_id, citation.start, citation.end, citation.quotes, anchor)


@dataclass(frozen=True)
class Segment:
    """A piece of a paragraph: its text, whether the answer quotes it, whether it
    lies in the cited span."""

    text: str
    quoted: bool = False
    in_span: bool = False

    @property
    def lines(self) -> list[str]:
        return self.text.replace("\r\n", "\n").split("\n")


def segments(text: str, offset: int, quotes: list[tuple[int, int]], span: tuple[int, int] | None = None) -> list[Segment]:
    """`text`, which starts at document offset `offset`, cut where quotes and the span begin and end."""
    end = offset + len(text)
    ranges = merge_ranges([(max(s, offset), min(e, end)) for s, e in quotes if s < end and e > offset])
    cuts = {offset, end}
    for s, e in ranges:
        cuts.update((s, e))
    if span is not None:
        cuts.update(c for c in span if offset < c < end)
    points = sorted(cuts)
    return [
        Segment(text[a - offset : b - offset], any(s <= a and b <= e for s, e in ranges),
                span is not None and span[0] <= a and b <= span[1])
        for a, b in zip(points, points[1:], strict=False)
    ]


def highlight(text: str, offset: int, quotes: list[tuple[int, int]], span: tuple[int, int] | None = None) -> str:
    """Escape `text`, which starts at document offset `offset`, wrapping the parts
    inside `quotes` in <mark> and the parts inside `span` in a highlighted span."""
    pieces = []
    for segment in segments(text, offset, quotes, span):
        piece = escape_text(segment.text)
        if segment.quoted:
            piece = f'<mark class="uq-quote">{piece}</mark>'
        if segment.in_span:
            piece = f'<span class="uq-span">{piece}</span>'
        pieces.append(piece)
    return "".join(pieces)


def merge_ranges(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for s, e in sorted(r for r in ranges if r[0] < r[1]):
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], e))
        else:
            merged.append((s, e))
    return merged


def first_paragraph_index(document: Document, start: int, end: int) -> int | None:
    for i, paragraph in enumerate(document.paragraphs):
        if paragraph.end > start and paragraph.start < end:
            return i
    return None


def cited_paragraphs(document: Document, citation: Citation) -> list[Paragraph]:
    return [p for p in document.paragraphs if p.end > citation.start and p.start < citation.end]


# ----- the chat ---------------------------------------------------------------------


def question_html(question: str) -> str:
    return f'<div class="uq-question">{escape_text(question)}</div>'


def pending_html() -> str:
    return '<div class="uq-pending">正在查找相关文件……</div>'


def error_html(message: str) -> str:
    return f'<div class="uq-error">{escape_text(message)}</div>'


GENERATED_NOTE = "以上由大模型根据所引文件归纳，每句都已核对出处，请以原文为准。"
STREAMING_NOTE = "正在生成回答：每句核对出处后才保留，灰色部分尚未核对……"


def streaming_html(checked: str, pending: str) -> str:
    """A generated answer while it is being written: the checked sentences, then the
    sentence being written, muted. Not `.uq-answer`: the answer replaces it when done."""
    # the model's markers are only styled here; the finished answer's links come from
    # its citations' offsets (answer_text_html)
    text = MARKER.sub(lambda m: f'<span class="uq-cite">{m.group(0)}</span>', escape_text(checked))
    return (
        '<div class="uq-streaming"><div class="uq-text">'
        f'{text}<span class="uq-unchecked">{escape_text(pending)}</span></div>'
        f'<p class="uq-stream-note">{escape_text(STREAMING_NOTE)}</p></div>'
    )


def answer_html(answer: Answer, documents: dict[str, Document]) -> str:
    """An answer with clickable [n] markers, the list of cited passages, and one
    hidden source panel per citation that the page script shows on click."""
    if answer.refused:
        return (
            '<div class="uq-answer uq-refused">'
            f'<p class="uq-refusal">{escape_text(answer.text)}</p>'
            f'<p class="uq-hint">{escape_text(REFUSAL_HINT)}</p>'
            "</div>"
        )
    # "related" passages are not an answer, and must not look like one
    kind = "uq-answer uq-related" if answer.status == RELATED else "uq-answer"
    kind += " uq-generated" if answer.generated else ""
    text = answer_text_html(answer)
    if answer.status == CURATED:
        kind += " uq-curated"
    parts = [f'<div class="{kind}">']
    if answer.status == CURATED:
        parts.append(curated_badge_html(answer))
    if answer.notice:  # the LLM failed: say so before the extractive answer
        parts.append(f'<p class="uq-notice">{escape_text(answer.notice)}</p>')
    parts.append(f'<div class="uq-text">{text}</div>')
    if answer.generated:
        parts.append(f'<p class="uq-generated-note">{escape_text(GENERATED_NOTE)}</p>')
    own = [c for c in answer.citations if not c.role]
    if own:
        parts.append('<div class="uq-sources"><div class="uq-sources-title">引用来源</div><ol class="uq-citations">')
        parts.extend(citation_item_html(c) for c in own)
        parts.append("</ol></div>")
    for role, heading in SHOWN_ROLES.items():
        # provisions shown after the answer, not quoted in it: collapsed, a click away
        shown = [c for c in answer.citations if c.role == role]
        if shown:
            parts.append(
                f'<details class="uq-more uq-{role}"><summary>{escape_text(heading)}（{len(shown)} 条）</summary>'
                '<ol class="uq-citations">' + "".join(citation_item_html(c) for c in shown) + "</ol></details>"
            )
    parts.extend(source_panel_html(c, documents.get(c.doc_id)) for c in answer.citations)
    parts.append("</div>")
    return "".join(parts)


def curated_badge_html(answer: Answer) -> str:
    """「工会审核的回答」 and the date it was approved, above the approved text."""
    date = f" · 审核日期 {escape_text(answer.approved_at)}" if answer.approved_at else ""
    return f'<p class="uq-curated-badge" style="{CURATED_STYLE}">{CURATED_LABEL}{date}</p>'


def answer_text_html(answer: Answer) -> str:
    """The answer text escaped, with a link for each marker at the offsets its
    citation gives (a stale offset that no longer holds "[n]" is left as text)."""
    at: dict[int, int] = {}
    for citation in answer.citations:
        label = f"[{citation.n}]"
        for offset in citation.markers:
            if answer.text.startswith(label, offset):
                at[offset] = citation.n
    pieces, last = [], 0
    for offset in sorted(at):
        n = at[offset]
        pieces.append(escape_text(answer.text[last:offset]) + marker_html(n))
        last = offset + len(f"[{n}]")
    pieces.append(escape_text(answer.text[last:]))
    return "".join(pieces)


def marker_html(n: int) -> str:
    # The href is a fallback; the page script turns a click into showing the panel.
    return f'<a class="uq-cite" href="#uq-src-{n}" title="查看出处 [{n}]">[{n}]</a>'


def title_html(citation: Citation) -> str:
    """《title》 and, for a law, its version and state (（2011 年修正）), escaped."""
    version = f'<span class="uq-version">（{html.escape(citation.version)}）</span>' if citation.version else ""
    return f'<span class="uq-doc-title">《{html.escape(citation.title)}》</span>{version}'


def citation_item_html(citation: Citation) -> str:
    location = where(citation)
    location_html = f' <span class="uq-where">{html.escape(location)}</span>' if location else ""
    return (
        f'<li class="uq-citation">{marker_html(citation.n)} '
        f'{title_html(citation)}{location_html}'
        f'<div class="uq-passage">{excerpt_html(citation)}</div></li>'
    )


def excerpt_html(citation: Citation) -> str:
    """The cited passage around its quoted sentences, so that the list stays short;
    the whole paragraphs are in the source panel."""
    quotes = [(s, e) for s, e in citation.quotes if citation.start <= s < e <= citation.end]
    if not quotes:
        return highlight(citation.text, citation.start, [])
    start = max(citation.start, min(s for s, _ in quotes) - EXCERPT_CONTEXT)
    end = min(citation.end, max(e for _, e in quotes) + EXCERPT_CONTEXT)
    text = citation.text[start - citation.start : end - citation.start]
    before = "…" if start > citation.start else ""
    after = "…" if end < citation.end else ""
    return before + highlight(text, start, quotes) + after


def source_panel_html(citation: Citation, document: Document | None) -> str:
    """The whole paragraph(s) around a citation, the cited span highlighted,
    with a link that opens the full document at that place."""
    location = where(citation)
    head = (
        f'<div class="uq-source-head"><b>[{citation.n}]</b> {title_html(citation)}'
        + (f' <span class="uq-where">{html.escape(location)}</span>' if location else "")
        + f'<a class="uq-close" href="#uq-src-{citation.n}" title="关闭">×</a></div>'
    )
    paragraphs = cited_paragraphs(document, citation) if document is not None else []
    if paragraphs:
        body = "".join(
            f'<p class="{"uq-heading" if p.is_heading else "uq-para"}">'
            f"{highlight(document.text[p.start:p.end], p.start, citation.quotes, (citation.start, citation.end))}</p>"
            for p in paragraphs
        )
    else:
        body = f'<p class="uq-para">{highlight(citation.text, citation.start, citation.quotes)}</p>'
    link = f'<a class="uq-open" href="{html.escape(citation_url(citation, document))}">在原文中查看 ›</a>'
    return (
        f'<div class="uq-source uq-src-{citation.n}" hidden>{head}'
        f'<div class="uq-source-body">{body}</div>{link}</div>'
    )


def listed_title(title: str, metadata: dict) -> str:
    """A title as the document lists show it: an official document's with its 文号 and date
    of issue, 「关于…的通知（沪工总发〔2023〕12号，2023-03-15）」."""
    extra = "，".join(metadata[key] for key in ("doc_number", "issued") if metadata.get(key))
    return f"{title}（{extra}）" if extra else title


# ----- the document view ------------------------------------------------------------

def document_page(document: Document, start: int | None = None, end: int | None = None,
                  quotes: list[tuple[int, int]] | None = None) -> str:
    """The whole document as a standalone page; paragraphs have ids p-0, p-1, …"""
    span = (start, end) if start is not None and end is not None and start < end else None
    marks = quotes or ([span] if span else [])
    meta = [f"来源：{document.source}"] + legal_lines(document) + metadata_lines(document)
    if scanned := document.metadata.get("ocr_pages"):
        meta.append(f"扫描件识别：第 {scanned} 页的文字由 OCR 识别，可能有误，请以原件为准")
    paragraphs = []
    page = None
    scans = ocr_page_numbers(document.metadata)
    # relative to /doc/<id>, so that it works under a path prefix too
    image_base = "./" + quote(document.doc_id.rsplit("/", 1)[-1], safe="") + "/page/"
    for i, p in enumerate(document.paragraphs):
        page_break = None
        if p.page is not None and p.page != page:
            page = page_break = p.page
        paragraphs.append({
            "id": i, "page_break": page_break, "css": "heading" if p.is_heading else "para",
            "page_image": f"{image_base}{page_break}.png" if page_break in scans else None,
            "segments": segments(document.text[p.start:p.end], p.start, marks, span),
        })
    if not document.paragraphs:
        paragraphs.append({"id": None, "page_break": None, "css": "para",
                           "segments": segments(document.text, 0, marks, span)})
    return render_page("document.html", title=document.title, meta=meta, paragraphs=paragraphs)


# How the document view names a law's metadata (corpus/laws.py), in this order.
LEGAL_LABELS = {"doc_number": "文号", "issuer": "发文机关", "addressees": "主送", "issued": "成文日期",
                "rank": "效力级别", "place": "地区", "passed": "通过", "promulgated": "公布", "amended": "修改",
                "effective": "施行", "repealed": "废止", "in_force": "状态", "jurisdiction": "", "amendment": ""}
JURISDICTIONS = {"national": "全国", "province": "省级", "city": "市级"}


def legal_lines(document: Document) -> list[str]:
    """「效力级别：地方性法规」, 「地区：上海市（省级）」, 「修正：2011-11-25」, 「状态：现行有效」…
    for a law; nothing for other documents. Plain text: the template escapes it."""
    metadata = document.metadata
    if not metadata.get("rank"):
        return []
    lines = []
    for key, label in LEGAL_LABELS.items():
        value = metadata.get(key, "")
        if key == "place":
            jurisdiction = JURISDICTIONS.get(metadata.get("jurisdiction", ""), "")
            value = f"{value}（{jurisdiction}）" if value and jurisdiction else (value or jurisdiction)
        elif key == "amended" and value:
            label = metadata.get("amendment") or label
        elif key == "in_force":
            value = {"true": "现行有效", "false": "已废止" if metadata.get("repealed") else "尚未施行"}.get(value, "")
        if label and value:
            lines.append(f"{label}：{value}")
    return lines


# How the document view names the other metadata the loaders record (corpus/*_loader.py, laws.py),
# in this order; a key without a name here is not shown (a reader gets no English key names).
METADATA_LABELS = {"subtitle": "副标题", "short_title": "简称", "kind": "类别", "author": "作者", "date": "日期",
                   "subject": "主题", "description": "摘要", "preamble": "题注", "pages": "页数",
                   "source_url": "原文网址", "format": "格式", "sheets": "工作表数"}
METADATA_VALUES = {"format": {"text": "纯文本", "markdown": "Markdown 文本", "html": "网页（HTML）",
                              "docx": "Word 文档", "pdf": "PDF 文件", "doc": "Word 97-2003 文档",
                              "wps": "WPS 文字文档", "xlsx": "Excel 表格", "xls": "Excel 97-2003 表格",
                              "csv": "CSV 表格", "pptx": "PowerPoint 演示文稿", "image": "图片（OCR 识别）"},
                   "kind": {"law": "法律法规", "official_document": "公文"}}


def metadata_lines(document: Document) -> list[str]:
    """「格式：Markdown 文本」, 「简称：工会法」… for the metadata that is not a law's (legal_lines)."""
    lines = []
    for key, label in METADATA_LABELS.items():
        value = document.metadata.get(key, "")
        value = METADATA_VALUES.get(key, {}).get(value, value)
        if value:
            lines.append(f"{label}：{value}")
    return lines


def parse_quotes(value: str) -> list[tuple[int, int]]:
    """Read the `q` parameter of a document link ("12-40,50-80"); ignore what does not parse."""
    quotes = []
    for part in value.split(","):
        start, _, end = part.partition("-")
        if start.strip().isdigit() and end.strip().isdigit():
            quotes.append((int(start), int(end)))
    return quotes
