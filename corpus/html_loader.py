"""HTML pages: the article, not the page around it."""

from __future__ import annotations

import codecs
import re

from bs4 import BeautifulSoup, Comment, NavigableString, Tag

from corpus.encoding import decode_bytes
from corpus.structure import Block, Parsed, clean_line, pop_title

# Page furniture: never part of the article. <header> is handled apart, because
# inside an <article> it usually holds the article's own title.
_NOISE_TAGS = (
    "script", "style", "noscript", "template", "nav", "footer", "aside", "form",
    "iframe", "svg", "canvas", "button", "input", "select", "textarea", "object", "embed",
)  # fmt: skip
_NOISE_ROLES = {"navigation", "banner", "contentinfo", "complementary", "search", "menu", "menubar"}
_BLOCK_TAGS = (
    "p", "div", "section", "article", "main", "li", "ul", "ol", "dl", "dt", "dd", "blockquote",
    "pre", "table", "thead", "tbody", "tfoot", "tr", "td", "th", "caption", "figure", "figcaption",
    "address", "center", "hr", "h4", "h5", "h6", "header",
)  # fmt: skip
_SECTION_HEADINGS = {"h1": 1, "h2": 2, "h3": 3}
# Private-use characters mark heading lines through get_text(); real pages do not contain them.
_HEADING_MARK = "\ue000"
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_\-]+)""", re.IGNORECASE)
_CJK = "\u3000-\u303f\u4e00-\u9fff\uff00-\uffef"
_WRAP_BETWEEN_CJK = re.compile(f"(?<=[{_CJK}])[ \t\r\n]*\n[ \t\r\n]*(?=[{_CJK}])")
_HTML_SPACE = re.compile(r"[ \t\r\n\f]+")
# id/class words of page furniture on sites without semantic tags (old CMS
# templates of Chinese government and union sites are tables and divs).
_NOISE_NAME = re.compile(
    r"(?:^|[\s_-])(?:nav|navbar|menu|header|footer|sidebar|breadcrumbs?|crumbs?|copyright|share|"
    r"related|comments?|advert|ads|banner|toolbar|topbar)(?:$|[\s_-])",
    re.IGNORECASE,
)
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.IGNORECASE)
# Pages that declare a legacy Chinese charset are decoded with its superset.
_BOMS = (codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
_SINGLE_BYTE_DEFAULTS = {"iso-8859-1", "latin1", "latin-1", "windows-1252", "cp1252", "us-ascii", "ascii"}
_CHARSET_SUPERSETS = {"gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030", "big5": "cp950"}


def decode_html(data: bytes) -> str:
    """The page's text. Valid UTF-8 wins even over a <meta charset> that says
    otherwise (pages re-saved as UTF-8 often keep their old declaration; GBK bytes
    are almost never valid UTF-8); then the declared charset; then sniffing."""
    if data.startswith(_BOMS):
        return decode_bytes(data)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    match = _META_CHARSET.search(data[:4096])
    declared = match.group(1).decode("ascii").lower() if match else ""
    # A Western single-byte declaration decodes any bytes, so it can never be
    # found wrong; on a Chinese corpus it is far more often a template default.
    if declared and declared not in _SINGLE_BYTE_DEFAULTS:
        try:
            return data.decode(_CHARSET_SUPERSETS.get(declared, declared))
        except (LookupError, UnicodeDecodeError):
            pass  # a wrong or unknown declaration is common; sniff instead
    return decode_bytes(data)


def parse_html(data: bytes) -> Parsed:
    soup = BeautifulSoup(decode_html(data), "lxml")
    metadata = {"format": "html", **_meta(soup)}
    page_title = clean_line(soup.title.get_text()) if soup.title else ""
    _remove_noise(soup)
    blocks = _blocks(_main_content(soup))
    title, rest = pop_title(blocks)
    if title:
        blocks = rest
    og_title = metadata.pop("og_title", "")
    title = title or og_title or page_title
    return Parsed(blocks, title, metadata)


def _meta(soup: BeautifulSoup) -> dict[str, str]:
    wanted = {
        "author": "author",
        "article:author": "author",
        "date": "date",
        "pubdate": "date",
        "publishdate": "date",
        "article:published_time": "date",
        "og:url": "source_url",
        "og:title": "og_title",
        "description": "description",
    }
    metadata: dict[str, str] = {}
    for tag in soup.find_all("meta"):
        key = str(tag.get("name") or tag.get("property") or "").lower()
        content = clean_line(str(tag.get("content") or ""))
        if key in wanted and content:
            metadata.setdefault(wanted[key], content)
    canonical = soup.find("link", rel="canonical")
    if canonical and canonical.get("href"):
        metadata.setdefault("source_url", str(canonical["href"]))
    return metadata


def _remove_noise(soup: BeautifulSoup) -> None:
    for comment in soup.find_all(string=lambda s: isinstance(s, Comment)):
        comment.extract()
    for tag in soup.find_all(_NOISE_TAGS):
        tag.decompose()
    body_chars = len((soup.body or soup).get_text(strip=True))
    for tag in soup.find_all(True):
        if tag.decomposed:
            continue
        attrs = tag.attrs or {}
        if (
            str(attrs.get("role", "")).lower() in _NOISE_ROLES
            or "hidden" in attrs
            or str(attrs.get("aria-hidden", "")).lower() == "true"
            or _HIDDEN_STYLE.search(str(attrs.get("style", "")))
            or (tag.name == "header" and not tag.find_parent(["article", "main"]))
            or _is_named_furniture(tag, body_chars)
        ):
            tag.decompose()


def _is_named_furniture(tag: Tag, body_chars: int) -> bool:
    """A div or table cell called "nav", "footer" ... outside the article, unless
    it is in fact the wrapper of most of the page (templates misname those too)."""
    if tag.name in ("html", "body", "main", "article") or tag.find_parent(["article", "main"]):
        return False
    names = " ".join([str(tag.get("id") or ""), *(str(c) for c in tag.get_attribute_list("class") if c)])
    if not _NOISE_NAME.search(names) or tag.find(["article", "main"]):
        return False
    return len(tag.get_text(strip=True)) <= body_chars / 2


def _main_content(soup: BeautifulSoup) -> Tag:
    """<main> (or role=main), else the longest <article>, else the body."""
    main = soup.find("main") or soup.find(attrs={"role": "main"})
    if isinstance(main, Tag):
        return main
    articles = soup.find_all("article")
    if articles:
        return max(articles, key=lambda a: len(a.get_text(strip=True)))
    return soup.body or soup


def _blocks(content: Tag) -> list[Block]:
    for string in list(content.find_all(string=True)):
        if not string.find_parent(["pre", "textarea"]):
            collapsed = _HTML_SPACE.sub(" ", _WRAP_BETWEEN_CJK.sub("", str(string)))
            string.replace_with(NavigableString(collapsed))
    for table in reversed(content.find_all("table")):
        if _is_data_table(table):
            rows = [_row_text(row) for row in table.find_all("tr")]
            table.replace_with(NavigableString("\n" + "\n".join(r for r in rows if r) + "\n"))
    for heading in content.find_all(list(_SECTION_HEADINGS)):
        level = _SECTION_HEADINGS[heading.name]
        text = clean_line(heading.get_text())
        heading.replace_with(NavigableString(f"\n{_HEADING_MARK}{level}{_HEADING_MARK}{text}\n"))
    for br in content.find_all("br"):
        br.replace_with(NavigableString("\n"))
    for tag in content.find_all(_BLOCK_TAGS):
        tag.insert_before(NavigableString("\n"))
        tag.insert_after(NavigableString("\n"))
    blocks: list[Block] = []
    for line in content.get_text().split("\n"):
        if line.startswith(_HEADING_MARK):
            _, level, text = line.split(_HEADING_MARK, 2)
            blocks.append(Block(text, int(level)))
        elif line.strip():
            blocks.append(Block(line))
    return [b for b in blocks if b.text.strip()]


def _is_data_table(table: Tag) -> bool:
    """A table of data (rows worth reading as "a | b | c"), as opposed to the
    layout tables old sites wrap their whole article in."""
    return table.find(["table", "p", "div", "br", "ul", "ol", "h1", "h2", "h3"]) is None


def _row_text(row: Tag) -> str:
    cells = [clean_line(cell.get_text()) for cell in row.find_all(["td", "th"], recursive=False)]
    return " | ".join(cells) if any(cells) else ""
