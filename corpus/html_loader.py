"""HTML pages: the article, not the page around it."""

from __future__ import annotations

import codecs
import re

from bs4 import BeautifulSoup, Comment, NavigableString, PageElement, Tag
from bs4.element import Declaration, Doctype, ProcessingInstruction, Script, Stylesheet, TemplateString

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
    tree = _Tree(soup)
    blocks = tree.blocks(tree.main_content())
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


class _Tree:
    """The page read in passes that each visit every node once, so that parsing time
    grows linearly with the page, however deeply it nests (bs4's find_parent, find
    and extract per tag made a page of 100k nested <div>s take quadratic time).
    The tree is never changed: removed furniture is a set of node ids, skipped."""

    def __init__(self, soup: BeautifulSoup):
        self.soup = soup
        self.nodes = [soup, *soup.descendants]  # document order: a parent before its children
        self.removed: set[int] = set()
        self._remove_noise()

    def _remove_noise(self) -> None:
        noise = {id(n) for n in self.nodes if isinstance(n, Tag) and n.name in _NOISE_TAGS}
        # Text length and whether an <article>/<main> is inside, bottom-up, without the
        # noise tags (as if they were already gone, which is what the checks below expect).
        chars = self._text_lengths(noise)
        has_article: dict[int, bool] = {}
        for node in reversed(self.nodes):
            if isinstance(node, Tag) and id(node) not in noise and node.parent is not None:
                below = has_article.get(id(node), False) or node.name in ("article", "main")
                if below:
                    has_article[id(node.parent)] = True
        body = self.soup.body or self.soup
        body_chars = chars.get(id(body), 0)
        in_article: dict[int, bool] = {}
        removed = set()
        for node in self.nodes:
            if not isinstance(node, Tag):
                continue
            parent = node.parent
            if parent is not None:
                in_article[id(node)] = in_article.get(id(parent), False) or parent.name in ("article", "main")
                if id(parent) in removed:
                    removed.add(id(node))
                    continue
            if id(node) in noise or self._is_noise(node, in_article.get(id(node), False),
                                                    has_article.get(id(node), False), chars, body_chars):
                removed.add(id(node))
        self.removed = removed

    @staticmethod
    def _is_noise(tag: Tag, in_article: bool, has_article: bool, chars: dict[int, int], body_chars: int) -> bool:
        attrs = tag.attrs or {}
        return bool(
            str(attrs.get("role", "")).lower() in _NOISE_ROLES
            or "hidden" in attrs
            or str(attrs.get("aria-hidden", "")).lower() == "true"
            or _HIDDEN_STYLE.search(str(attrs.get("style", "")))
            or (tag.name == "header" and not in_article)
            or _is_named_furniture(tag, in_article, has_article, chars.get(id(tag), 0), body_chars)
        )

    def _text_lengths(self, skipped: set[int]) -> dict[int, int]:
        """Characters of get_text(strip=True) per tag, leaving out the `skipped` subtrees."""
        chars: dict[int, int] = {}
        for node in reversed(self.nodes):
            parent = node.parent
            if parent is None or id(node) in skipped:
                continue
            if isinstance(node, Tag):
                own = chars.get(id(node), 0)
            elif _is_text(node):
                own = len(node.strip())
            else:
                continue
            if own:
                chars[id(parent)] = chars.get(id(parent), 0) + own
        return chars

    def main_content(self) -> Tag:
        """<main> (or role=main), else the longest <article>, else the body."""
        tags = [n for n in self._kept() if isinstance(n, Tag)]
        main = next((t for t in tags if t.name == "main"), None) or next(
            (t for t in tags if t.get("role") == "main"), None
        )
        if main is not None:
            return main
        articles = [t for t in tags if t.name == "article"]
        if articles:
            chars = self._text_lengths(self.removed)
            return max(articles, key=lambda a: chars.get(id(a), 0))
        return self.soup.body or self.soup

    def _kept(self) -> list[PageElement]:
        return [n for n in self.nodes if id(n) not in self.removed]

    def blocks(self, content: Tag) -> list[Block]:
        lines = "".join(self._pieces(content)).split("\n")
        blocks: list[Block] = []
        for line in lines:
            if line.startswith(_HEADING_MARK):
                _, level, text = line.split(_HEADING_MARK, 2)
                blocks.append(Block(text, int(level)))
            elif line.strip():
                blocks.append(Block(line))
        return [b for b in blocks if b.text.strip()]

    def _pieces(self, content: Tag) -> list[str]:
        """The page's text with line breaks around blocks, headings marked and data
        tables as rows, in one walk with an explicit stack (no recursion limit)."""
        data_tables = self._data_tables(content)
        pieces: list[str] = []
        stack: list[tuple[PageElement, bool, bool]] = [(content, False, False)]  # node, in <pre>, leaving
        while stack:
            node, in_pre, leaving = stack.pop()
            if leaving:
                pieces.append("\n")
                continue
            if id(node) in self.removed:
                continue
            if not isinstance(node, Tag):
                if _is_text(node):
                    pieces.append(str(node) if in_pre else _collapse(str(node)))
                continue
            name = node.name
            if name in _SECTION_HEADINGS and node is not content:
                text = clean_line("".join(self._strings(node)))
                pieces.append(f"\n{_HEADING_MARK}{_SECTION_HEADINGS[name]}{_HEADING_MARK}{text}\n")
                continue
            if name == "table" and id(node) in data_tables:
                rows = [self._row_text(row) for row in self._own_rows(node)]
                pieces.append("\n" + "\n".join(r for r in rows if r) + "\n")
                continue
            if name == "br":
                pieces.append("\n")
                continue
            block = name in _BLOCK_TAGS and node is not content
            if block:
                pieces.append("\n")
                stack.append((node, in_pre, True))
            child_pre = in_pre or name in ("pre", "textarea")
            stack.extend((child, child_pre, False) for child in reversed(node.contents))
        return pieces

    def _data_tables(self, content: Tag) -> set[int]:
        """Tables holding no table, paragraph, list or heading (see _is_data_table),
        bottom-up; an inner data table, read as rows, does not count for its parent."""
        inside = {id(n) for n in [content, *content.descendants]}
        has_block: dict[int, bool] = {}
        tables: set[int] = set()
        for node in reversed(self.nodes):
            if id(node) not in inside or id(node) in self.removed or not isinstance(node, Tag):
                continue
            blocky = has_block.get(id(node), False)
            counts = node.name in _DATA_TABLE_BREAKERS or blocky
            if node.name == "table" and not blocky:
                tables.add(id(node))
                counts = False
            if counts and node.parent is not None:
                has_block[id(node.parent)] = True
        return tables

    def _strings(self, tag: Tag) -> list[str]:
        return [
            _collapse(str(n)) for n in tag.descendants
            if _is_text(n) and not any(id(p) in self.removed for p in (n, n.parent))
        ]

    def _own_rows(self, table: Tag) -> list[Tag]:
        """The table's own rows, not those of tables inside its cells: a cell's text already
        holds an inner table's text. Walking every row of the subtree, each with the whole
        text of its cells, read the text of nested tables once per level: 10,000 nested
        tables took 28 s (issue 22). Now every node is visited once by this walk or by one
        cell's text, so the time is linear in the page."""
        rows: list[Tag] = []
        stack = list(reversed(table.contents))
        while stack:
            node = stack.pop()
            if not isinstance(node, Tag) or id(node) in self.removed or node.name == "table":
                continue
            if node.name == "tr":
                rows.append(node)
                continue
            if node.name in ("td", "th"):  # a cell outside a row (broken markup): it holds no rows of its own
                continue
            stack.extend(reversed(node.contents))
        return rows

    def _row_text(self, row: Tag) -> str:
        cells = [
            clean_line("".join(self._strings(cell)))
            for cell in row.children
            if isinstance(cell, Tag) and cell.name in ("td", "th") and id(cell) not in self.removed
        ]
        return " | ".join(cells) if any(cells) else ""


_DATA_TABLE_BREAKERS = {"table", "p", "div", "br", "ul", "ol", "h1", "h2", "h3"}
_NOT_TEXT = (Comment, Declaration, Doctype, ProcessingInstruction, Script, Stylesheet, TemplateString)


def _is_text(node: PageElement) -> bool:
    return isinstance(node, NavigableString) and not isinstance(node, _NOT_TEXT)


def _collapse(text: str) -> str:
    return _HTML_SPACE.sub(" ", _WRAP_BETWEEN_CJK.sub("", text))


def _is_named_furniture(tag: Tag, in_article: bool, has_article: bool, chars: int, body_chars: int) -> bool:
    """A div or table cell called "nav", "footer" ... outside the article, unless
    it is in fact the wrapper of most of the page (templates misname those too)."""
    if tag.name in ("html", "body", "main", "article") or in_article:
        return False
    names = " ".join([str(tag.get("id") or ""), *(str(c) for c in tag.get_attribute_list("class") if c)])
    if not _NOISE_NAME.search(names) or has_article:
        return False
    return chars <= body_chars / 2
