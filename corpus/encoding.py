"""Decoding text files whose encoding nobody told us: UTF-8 (with or without BOM),
UTF-16/32 with BOM, GB18030/GBK/GB2312 and Big5."""

from __future__ import annotations

import codecs
import re
import unicodedata

from corpus.errors import LoadError
from corpus.hanzi import COMMON_HANZI

# Longest BOMs first: the UTF-32-LE BOM starts with the UTF-16-LE one.
_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
    (b"\x84\x31\x95\x33", "gb18030"),
)

# cp950 is Big5 as Windows writes it (Big5 plus a few extra characters).
_CJK_CANDIDATES = ("gb18030", "cp950")

def _level_one_hanzi() -> frozenset[str]:
    """The "frequently used" character tiers of GB2312 (level 1, 3755 characters)
    and Big5 (常用字, 5401 characters): a weaker, broader frequency signal than
    COMMON_HANZI that settles short samples."""
    chars: set[str] = set()
    for lead, trails, encoding in (
        (range(0xB0, 0xD8), range(0xA1, 0xFF), "gb2312"),
        (range(0xA4, 0xC7), [*range(0x40, 0x7F), *range(0xA1, 0xFF)], "big5"),
    ):
        for hi in lead:
            for lo in trails:
                ch = bytes((hi, lo)).decode(encoding, errors="ignore")
                if len(ch) == 1 and "\u4e00" <= ch <= "\u9fff":
                    chars.add(ch)
    return frozenset(chars)


_LEVEL_ONE_HANZI = _level_one_hanzi()

_COMMON_PUNCTUATION = frozenset("，。、；：？！“”‘’（）《》〈〉「」『』【】…—·～　")

# Magic numbers of formats that are sometimes given a .txt name by mistake.
_BINARY_MAGIC = (b"%PDF", b"PK\x03\x04", b"\x89PNG", b"GIF8", b"\xff\xd8\xff", b"\xd0\xcf\x11\xe0")

_SAMPLE_CHARS = 20_000
_MAX_REPLACED = 0.01  # share of undecodable characters beyond which a file is not text


def decode_bytes(data: bytes) -> str:
    """The text of `data`, whatever of the supported encodings it is in.

    Raises LoadError for binary or undecodable data.
    """
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(encoding)
            except UnicodeDecodeError as exc:
                raise LoadError(f"文件以 {encoding} 的字节序标记开头，但内容无法按 {encoding} 解码") from exc
    if data.startswith(_BINARY_MAGIC) or b"\x00" in data:
        raise LoadError("不是文本文件（看起来是二进制数据）")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        _refuse_utf7(text)
        return text
    decoded = [text for text in (_strict(data, enc) for enc in _CJK_CANDIDATES) if text is not None]
    if decoded:
        # max() keeps the first of equal scores: GB18030, the mainland default. A
        # sample decides as well as the whole of a long file, and much faster.
        return _plausible(max(decoded, key=lambda text: cjk_plausibility(text[:_SAMPLE_CHARS])))
    return _plausible(_lenient(data))


# A decoding whose CJK-range characters are mostly not common Chinese is mojibake: the
# bytes were in an encoding we do not read (Shift-JIS, EBCDIC …) and GB18030, which takes
# almost any pair of bytes, or the sniffer made characters of them. Measured (issue 22):
# the bundled and shared corpora and the 256 CMRC paragraphs, as UTF-8, GBK and Big5, have
# at least 91 % of such characters common (COMMON_HANZI, GB2312 level 1, Big5 常用字,
# Chinese punctuation, full-width forms); Shift-JIS read as GB18030 has 15-19 %, short
# EBCDIC text 0-8 %. Below MIN_CJK_CHARS of them the sample is too small to tell.
MIN_COMMON_SHARE = 0.6
MIN_CJK_CHARS = 8
IMPLAUSIBLE = ("文件编码无法识别：解码后不像中文（CJK 字符中常用汉字和标点只占 {share:.0%}），"
               "可能是 Shift-JIS、EBCDIC 等不支持的编码。请另存为 UTF-8 后重新上传。")
_UTF7_RUN = re.compile(rb"\+[A-Za-z0-9+/]{3,}-?")


def common_share(text: str) -> tuple[float, int]:
    """(share of common Chinese among the text's CJK-range characters, their number),
    on a sample. CJK-range: from U+2E80 on (ideographs, kana, CJK punctuation, private
    use, full-width forms) and control characters; Latin letters with accents and other
    scripts are left out, so a correctly decoded Western text is not judged by them."""
    chars = [ch for ch in text[:_SAMPLE_CHARS]
             if not ch.isspace() and (ch >= "\u2e80" or unicodedata.category(ch) == "Cc") and not ch.isascii()]
    if not chars:
        return 1.0, 0
    common = sum(1 for ch in chars if ch in COMMON_HANZI or ch in _LEVEL_ONE_HANZI or ch in _COMMON_PUNCTUATION
                 or "\uff01" <= ch <= "\uff5e")
    return common / len(chars), len(chars)


def _plausible(text: str) -> str:
    share, count = common_share(text)
    if count >= MIN_CJK_CHARS and share < MIN_COMMON_SHARE:
        raise LoadError(IMPLAUSIBLE.format(share=share))
    return text


def _refuse_utf7(text: str) -> None:
    """Plain ASCII that UTF-7 would make Chinese of (`+XeVPGg-` …) is a UTF-7 file: as
    UTF-8 it would be indexed as those letters."""
    if not text.isascii() or "+" not in text:
        return
    data = text.encode("ascii")
    if len(_UTF7_RUN.findall(data[: _SAMPLE_CHARS])) < 1:
        return
    try:
        as_utf7 = data.decode("utf-7")
    except UnicodeDecodeError:
        return
    share, count = common_share(as_utf7)
    if count >= 2 and share >= MIN_COMMON_SHARE:
        raise LoadError("文件编码无法识别：看起来是 UTF-7 编码（不支持）。请另存为 UTF-8 后重新上传。")


def cjk_plausibility(text: str) -> int:
    """How much `text` looks like real Chinese: frequent characters and ordinary
    punctuation score, rare characters, odd symbols and private-use code points
    (what a wrong GBK/Big5 guess produces) cost."""
    score = 0
    for ch in text:
        if ch.isascii():
            continue
        if ch in COMMON_HANZI or ch in _COMMON_PUNCTUATION:
            score += 3
        elif ch in _LEVEL_ONE_HANZI:
            score += 1
        elif "\u4e00" <= ch <= "\u9fff":
            score -= 1  # a real but rare character
        elif "\u3400" <= ch <= "\u4dbf" or ch >= "\U00020000":
            score -= 2  # extension blocks: almost never in ordinary text
        elif unicodedata.category(ch) in ("Co", "Cc", "Cn", "Cs"):
            score -= 5
        else:
            score -= 1  # bopomofo, Greek, box drawing, vertical forms ...
    return score


def _strict(data: bytes, encoding: str) -> str | None:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError:
        return None


def _lenient(data: bytes) -> str:
    """The best effort for data no candidate decodes cleanly: a few broken bytes
    (a truncated download) are tolerated, anything worse is not text."""
    # Imported here because it is only needed for the rare file that gets this far.
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is not None and best.encoding:
        text = str(best)
        if text.strip() and _control_share(text) < _MAX_REPLACED:
            return text
    for encoding in ("utf-8", *_CJK_CANDIDATES):
        text = data.decode(encoding, errors="replace")
        if text.count("\ufffd") / max(1, len(text)) < _MAX_REPLACED:
            return text.replace("\ufffd", "")
    raise LoadError("无法识别文本编码（不是 UTF-8、GBK/GB18030 或 Big5 文本）")


def _control_share(text: str) -> float:
    controls = sum(1 for ch in text if unicodedata.category(ch) == "Cc" and ch not in "\t\n\r\f")
    return (controls + text.count("\ufffd")) / max(1, len(text))
