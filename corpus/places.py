"""Places of China, from the gazetteer `corpus/places.txt`: which province or city
a law's title or a question names, and which province a city lies in.

The gazetteer is general reference data (every provincial-level division and its
prefecture-level ones), not a list fitted to questions. The corpus reads it for the
jurisdiction of a regulation (「上海市工会条例」→ 上海市); the bot reads it for the
place a question names (「杭州的企业…」→ 杭州市, in 浙江省).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

PLACES_FILE = Path(__file__).with_name("places.txt")
PROVINCE = "province"  # a provincial-level division, municipalities such as 重庆市 included
CITY = "city"  # a prefecture-level division

# Suffixes that name the kind of division, longest first: dropped for the short name.
_SUFFIXES = ("特别行政区", "自治区", "自治州", "地区", "林区", "省", "市", "盟")
# The peoples that autonomous divisions are named after (广西壮族自治区 → 广西).
_PEOPLES = re.compile(
    r"(?:壮族|回族|维吾尔|藏族|朝鲜族|土家族|苗族|羌族|彝族|布依族|侗族|哈尼族|傣族|景颇族|傈僳族|白族"
    r"|蒙古族|蒙古|柯尔克孜|哈萨克)+$"
)


@dataclass(frozen=True)
class Place:
    """A division by its full name; `province` is the provincial-level division it
    lies in (itself for one)."""

    name: str
    level: str
    province: str

    def within(self, other: Place) -> bool:
        """Whether this place is `other` or lies inside it."""
        return self.name == other.name or (other.level == PROVINCE and self.province == other.name)


def short_name(full: str) -> str:
    """杭州市 → 杭州, 延边朝鲜族自治州 → 延边, 内蒙古自治区 → 内蒙古."""
    name = full
    for suffix in _SUFFIXES:
        if name.endswith(suffix) and len(name) - len(suffix) >= 2:
            name = name[: -len(suffix)]
            break
    stripped = _PEOPLES.sub("", name)
    return stripped if len(stripped) >= 2 else name


class Gazetteer:
    """Full and short names → places; `find` reads them in a text, longest first."""

    def __init__(self, places: list[Place], full_only: set[str], english: dict[str, str] | None = None):
        self.places = {p.name: p for p in places}
        self.names: dict[str, str] = {}  # a written form → the full name
        for place in places:
            self.names[place.name] = place.name
        # English names match whole words only, in any case (Shanghai, SHANGHAI; not "Shanghaied")
        self.english = {name.lower(): full for name, full in (english or {}).items() if full in self.places}
        words = sorted(self.english, key=len, reverse=True)
        self._english = re.compile(r"\b(?:" + "|".join(map(re.escape, words)) + r")\b", re.I) if words else None
        for place in places:
            short = short_name(place.name)
            # a province's short name wins over a city's of the same form (吉林 is the province)
            if place.name not in full_only and short != place.name and short not in self.names:
                self.names[short] = place.name
        forms = sorted(self.names, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, forms))) if forms else None

    def get(self, name: str) -> Place | None:
        """The place of a full or short name, or None."""
        full = self.names.get(name.strip())
        return self.places.get(full) if full else None

    def find(self, text: str) -> list[Place]:
        """The places named in `text`, in order of first mention, each once."""
        if self._pattern is None:
            return []
        found: dict[int, Place] = {}
        for match in self._pattern.finditer(text):
            found.setdefault(match.start(), self.places[self.names[match.group(0)]])
        if self._english is not None:
            for match in self._english.finditer(text):
                found.setdefault(match.start(), self.places[self.english[match.group(0).lower()]])
        ordered = [found[at] for at in sorted(found)]
        return list({p.name: p for p in ordered}.values())  # each once, at its first mention

    def at_start(self, text: str) -> Place | None:
        """The place that `text` opens with (a regulation's title: 上海市工会条例)."""
        if self._pattern is None:
            return None
        match = self._pattern.match(text.strip())
        return self.places[self.names[match.group(0)]] if match else None


def parse_places(text: str) -> Gazetteer:
    """A gazetteer from lines `省级: 地级 地级*…` (see corpus/places.txt)."""
    places: list[Place] = []
    full_only: set[str] = set()
    english: dict[str, str] = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or ":" not in line:
            continue
        if line.startswith("="):
            name, _, full = line[1:].partition(":")
            english[name.strip()] = full.strip()
            continue
        head, _, rest = line.partition(":")
        province = head.strip()
        places.append(Place(province, PROVINCE, province))
        for item in rest.split():
            name = item.rstrip("*")
            if item.endswith("*"):
                full_only.add(name)
            places.append(Place(name, CITY, province))
    return Gazetteer(places, full_only, english)


@lru_cache(maxsize=4)
def load_gazetteer(path: Path = PLACES_FILE) -> Gazetteer:
    return parse_places(Path(path).read_text(encoding="utf-8"))
