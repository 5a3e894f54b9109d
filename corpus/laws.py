"""What makes a law or regulation more than generic Markdown: its articles, its
short title, its date, its preamble, its appendix."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import date

from corpus.places import CITY, PROVINCE, Place, load_gazetteer
from corpus.structure import Block

# Markdown law files keep the promulgation history above this marker.
PREAMBLE_MARKER = "<!-- INFO END -->"

# The number must be followed by whitespace (or end the paragraph): prose such as
# "第三条规定，……" opening a news paragraph is not an article.
_ARTICLE = re.compile(r"第[零〇一二两三四五六七八九十百千]+条(?:之[一二三四五六七八九十]+)?(?=\s|$)")
_MIN_ARTICLES = 3
_STATE_PREFIX = "中华人民共和国"
_FILE_DATE = re.compile(r"[(（](\d{4}-\d{2}-\d{2})[)）]")
_CHINESE_DATE = re.compile(r"(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日")
_NUMBER_PREFIX = re.compile(r"^(第[零〇一二两三四五六七八九十百千\d]+[编章节])\s*(.*)$")
_APPENDIX = re.compile(r"^(附\s*[录件])\s*[一二三四五六七八九十\d]*\s*[：:]?$")
_SPACE_BETWEEN_HANZI = re.compile(r"(?<=[\u4e00-\u9fff])[ \u3000]+(?=[\u4e00-\u9fff])")


def article_number(paragraph_text: str) -> str:
    """ "第十九条" if the paragraph opens that article of a law, else ""."""
    match = _ARTICLE.match(paragraph_text.lstrip())
    return match.group(0) if match else ""


def is_article(text: str) -> bool:
    """Whether a paragraph opens an article (第十九条 followed by a space)."""
    return bool(article_number(text))


def is_law(blocks: Sequence[Block]) -> bool:
    return sum(1 for b in blocks if not b.heading_level and is_article(b.text)) >= _MIN_ARTICLES


def short_title(title: str) -> str:
    """劳动合同法 for 中华人民共和国劳动合同法: the name people actually use."""
    rest = title.removeprefix(_STATE_PREFIX)
    return rest if rest else title


def law_date(file_name: str, preamble: str) -> str:
    """The version date (YYYY-MM-DD): from the file name such as
    「劳动合同法(2012-12-28).md」, else the latest date in the preamble."""
    if match := _FILE_DATE.search(file_name):
        return match.group(1)
    dates = [f"{y}-{int(m):02d}-{int(d):02d}" for y, m, d in _CHINESE_DATE.findall(preamble)]
    return max(dates, default="")


def law_metadata(title: str, file_name: str, preamble: str = "", body: str = "",
                 given: Mapping[str, str] | None = None, today: date | None = None) -> dict[str, str]:
    """What a lawyer reads of a law before its articles: short title, version date,
    jurisdiction and place, rank, the dates of its history, and whether it is in force.

    Args:
        title: the law's full title (its `#` heading).
        file_name: the file's name, which may carry the version date.
        preamble: the promulgation history above `<!-- INFO END -->`.
        body: the text of the articles, read for 「自…起施行」 when the preamble has no 施行 line.
        given: front-matter keys (see `legal_metadata`), which win over what is read.
        today: the date that decides whether the law is in force yet (default: today).

    Returns:
        A str → str dict: kind, short_title, date, and the keys of `legal_metadata`.
    """
    metadata = {"kind": "law", "short_title": short_title(title)}
    if version := law_date(file_name, preamble):
        metadata["date"] = version
    metadata.update(legal_metadata(title, preamble, body, given, today))
    return metadata


# ----- place, rank, dates --------------------------------------------------------------

NATIONAL = "national"
RANKS = ("法律", "行政法规", "地方性法规", "规章", "文件")
# Front-matter keys a user may set, with the Chinese names people will write.
_GIVEN_KEYS = {
    "jurisdiction": "jurisdiction", "层级": "jurisdiction",
    "place": "place", "地区": "place", "地方": "place",
    "rank": "rank", "效力级别": "rank", "级别": "rank",
    "passed": "passed", "通过日期": "passed", "通过": "passed",
    "promulgated": "promulgated", "公布日期": "promulgated", "公布": "promulgated",
    "amended": "amended", "修订日期": "amended", "修正日期": "amended",
    "effective": "effective", "施行日期": "effective", "施行": "effective",
    "in_force": "in_force", "是否有效": "in_force", "时效性": "in_force",
    "repealed": "repealed", "废止日期": "repealed",
}
GIVEN_KEYS = frozenset(_GIVEN_KEYS)
# The keys `legal_metadata` sets.
LEGAL_KEYS = frozenset(("jurisdiction", "place", "rank", "passed", "promulgated", "amended", "amendment",
                        "effective", "repealed", "in_force"))
_FALSE = {"false", "no", "0", "否", "失效", "已废止", "废止", "尚未生效", "尚未施行"}
_ISO_DATE = re.compile(r"(\d{4})[-./年](\d{1,2})[-./月](\d{1,2})")
_NATIONAL_CONGRESS = re.compile(r"全国人民代表大会")
_STATE_COUNCIL = re.compile(r"国务院")
_LOCAL_CONGRESS = re.compile(r"人民代表大会")
_GOVERNMENT_ORDER = re.compile(r"人民政府令|人民政府第.{1,8}次?常务会议|[部委局署]令|[部委局署]第.{1,8}次?(?:部|委)?务会议")
_EFFECTIVE_IN_BODY = re.compile(r"自\s*(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日\s*起施行")


def legal_metadata(title: str, preamble: str = "", body: str = "",
                   given: Mapping[str, str] | None = None, today: date | None = None) -> dict[str, str]:
    """jurisdiction (national / province / city), place (上海市, "" for national), rank
    (法律 … 文件), passed / promulgated / amended (with amendment: 修正 or 修订) /
    effective / repealed dates (YYYY-MM-DD, absent when unknown) and in_force
    ("true" / "false"), read from the title and the preamble's enacting bodies;
    front-matter keys in `given` (English or Chinese names) win."""
    given = {_GIVEN_KEYS[k]: v.strip() for k, v in (given or {}).items() if k in _GIVEN_KEYS and v.strip()}
    gazetteer = load_gazetteer()
    place = None
    if "place" in given:
        place = gazetteer.get(given["place"]) or gazetteer.at_start(given["place"])
    elif not title.startswith(_STATE_PREFIX):
        # the title names the region (上海市工会条例); else the enacting body does
        # (北京市人民代表大会常务委员会 above 「实施办法」 titles that do not)
        place = gazetteer.at_start(title) or _enacting_place(preamble)
    metadata: dict[str, str] = {}
    if place is not None:
        metadata["jurisdiction"], metadata["place"] = place.level, place.name
    elif "place" in given:
        metadata["jurisdiction"], metadata["place"] = given.get("jurisdiction", "city"), given["place"]
    else:
        metadata["jurisdiction"], metadata["place"] = NATIONAL, ""
    if given.get("jurisdiction") in (NATIONAL, PROVINCE, CITY):
        metadata["jurisdiction"] = given["jurisdiction"]
        if given["jurisdiction"] == NATIONAL:
            metadata["place"] = ""
    metadata["rank"] = given["rank"] if given.get("rank") in RANKS else _rank(title, preamble, bool(metadata["place"]))
    metadata.update(history_dates(preamble))
    if "effective" not in metadata and (match := _EFFECTIVE_IN_BODY.search(body)):
        metadata["effective"] = _iso(*match.groups())
    for key in ("passed", "promulgated", "amended", "effective", "repealed"):
        if key in given and (match := _ISO_DATE.search(given[key])):
            metadata[key] = _iso(*match.groups())
    if "in_force" in given:
        metadata["in_force"] = "false" if given["in_force"].lower() in _FALSE else "true"
    else:
        metadata["in_force"] = "true" if is_in_force(metadata, today) else "false"
    return metadata


def _enacting_place(preamble: str) -> Place | None:
    for line in preamble.splitlines():
        if _LOCAL_CONGRESS.search(line) or "人民政府" in line:
            places = load_gazetteer().find(line)
            if places:
                return places[0]
    return None


def _rank(title: str, preamble: str, local: bool) -> str:
    """The rank by the enacting body: 全国人大(常委会) 法律, 国务院 行政法规, a local
    人大常委会 地方性法规, a government's or ministry's order 规章, anything else 文件."""
    if _GOVERNMENT_ORDER.search(preamble):
        return "规章"
    if _NATIONAL_CONGRESS.search(preamble):
        return "法律"
    if _STATE_COUNCIL.search(preamble):
        return "行政法规"
    if local and _LOCAL_CONGRESS.search(preamble):
        return "地方性法规"
    if not preamble.strip() and title.startswith(_STATE_PREFIX) and title.endswith("法"):
        return "法律"
    return "文件"


def history_dates(preamble: str) -> dict[str, str]:
    """The dates of a law's history, each read from the words that follow it up to the
    next date: 通过 (passed, the first), 公布 (promulgated, the first), 修正 / 修订 /
    修改 (amended, the latest, with `amendment` saying which), 施行 (effective, the
    latest), 废止 (repealed)."""
    found: dict[str, str] = {}
    matches = list(_CHINESE_DATE.finditer(preamble))
    for i, match in enumerate(matches):
        day = _iso(*match.groups())
        words = preamble[match.end() : matches[i + 1].start() if i + 1 < len(matches) else len(preamble)]
        if "废止" in words:
            found["repealed"] = day
        elif "修订" in words or "修正" in words or "修改" in words:
            if day >= found.get("amended", ""):
                found["amended"] = day
                found["amendment"] = "修订" if "修订" in words else "修正"
        elif "通过" in words:
            found.setdefault("passed", day)
        elif "公布" in words or "发布" in words:
            found.setdefault("promulgated", day)
        if "施行" in words and day >= found.get("effective", ""):
            found["effective"] = day
    return found


def _iso(year: str, month: str, day: str) -> str:
    return f"{int(year):04d}-{int(month):02d}-{int(day):02d}"


def is_in_force(metadata: Mapping[str, str], today: date | None = None) -> bool:
    """In force unless repealed, or its 施行 date is still to come."""
    if metadata.get("repealed"):
        return False
    effective = metadata.get("effective", "")
    return not effective or effective <= (today or date.today()).isoformat()


def enacted(metadata: Mapping[str, str]) -> str:
    """The date that orders two laws, newer over older: the law's own passing (or,
    failing that, promulgation) date, not its latest amendment's."""
    return metadata.get("passed") or metadata.get("promulgated") or metadata.get("date", "")


def version_label(metadata: Mapping[str, str]) -> str:
    """「2011 年修正」 for an amended law, 「2013 年」 for one passed that year, with
    「已废止」 or 「尚未施行」 when it is not in force; "" when nothing is known."""
    if metadata.get("amended"):
        label = f"{metadata['amended'][:4]} 年{metadata.get('amendment', '修正')}"
    elif year := (metadata.get("promulgated") or metadata.get("passed") or metadata.get("date", ""))[:4]:
        label = f"{year} 年"
    else:
        label = ""
    if metadata.get("in_force") == "false":
        state = "已废止" if metadata.get("repealed") else "尚未施行"
        label = f"{label}，{state}" if label else state
    return label


def citation_label(title: str, metadata: Mapping[str, str], article: str = "") -> str:
    """《重庆市工会条例》（2011 年修正）第十三条: how a lawyer cites a provision."""
    version = version_label(metadata)
    # a title quoting another law nests its marks: 《北京市实施〈中华人民共和国工会法〉办法》
    title = title.replace("《", "〈").replace("》", "〉")
    return f"《{title}》" + (f"（{version}）" if version else "") + article


def tidy_heading(text: str) -> str:
    """「第一章 总 则」→「第一章 总则」: the spaces that typesetting puts between the
    characters of a short chapter name would stop a search for 总则."""
    match = _NUMBER_PREFIX.match(text)
    if not match:
        return text
    name = _SPACE_BETWEEN_HANZI.sub("", match.group(2))
    return f"{match.group(1)} {name}" if name else match.group(1)


def law_blocks(blocks: Sequence[Block]) -> list[Block]:
    """The blocks of a law with chapter headings tidied and an appendix line
    (「附录：」) made a heading, so that its items are not cited as part of the
    last chapter."""
    top = min((b.heading_level for b in blocks if b.heading_level), default=2)
    result: list[Block] = []
    for block in blocks:
        if block.heading_level:
            result.append(replace(block, text=tidy_heading(block.text)))
        elif match := _APPENDIX.match(block.text):
            result.append(replace(block, text=match.group(1).replace(" ", ""), heading_level=top))
        else:
            result.append(block)
    return result


def legal_of(title: str, source: str, metadata: Mapping[str, str]) -> Mapping[str, str]:
    """A document's metadata with its legal keys: as stored, or, for a law indexed by
    an older version that did not store them, read again from its title and preamble."""
    if metadata.get("kind") != "law" or "rank" in metadata:
        return metadata
    return {**metadata, **legal_metadata(title, metadata.get("preamble", ""), given=metadata)}
