"""What a file's first bytes say it is, checked against its extension before any parser
sees it: a program renamed 通知.xlsx or 会费.doc is refused with that reason, not handed
to a spreadsheet reader or to LibreOffice."""

from __future__ import annotations

from corpus.errors import LoadError

# (signature at offset 0, kind, what to call it in a message)
_SIGNATURES = (
    (b"MZ", "program", "Windows 可执行程序（.exe/.dll）"),
    (b"\x7fELF", "program", "Linux 可执行程序"),
    (b"\xcf\xfa\xed\xfe", "program", "macOS 可执行程序"),
    (b"PK\x03\x04", "zip", "ZIP 压缩包或 Office 2007 文档"),
    (b"PK\x05\x06", "zip", "ZIP 压缩包或 Office 2007 文档"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "ole", "Office 97-2003 文档（.doc/.xls/.ppt/.wps）"),
    (b"%PDF", "pdf", "PDF 文件"),
    (b"\x89PNG\r\n\x1a\n", "image", "PNG 图片"),
    (b"\xff\xd8\xff", "image", "JPEG 图片"),
    (b"II*\x00", "image", "TIFF 图片"),
    (b"MM\x00*", "image", "TIFF 图片"),
    (b"GIF8", "image", "GIF 图片"),
    (b"Rar!", "archive", "RAR 压缩包"),
    (b"7z\xbc\xaf\x27\x1c", "archive", "7z 压缩包"),
    (b"\x1f\x8b", "archive", "gzip 压缩包"),
)
# The kinds each extension may hold; None: any content that is no program or archive (text).
_EXPECTED: dict[str, frozenset[str] | None] = {
    ".docx": frozenset({"zip"}), ".xlsx": frozenset({"zip"}), ".pptx": frozenset({"zip"}),
    ".doc": frozenset({"ole"}), ".wps": frozenset({"ole"}), ".xls": frozenset({"ole"}),
    ".pdf": frozenset({"pdf"}),
    ".png": frozenset({"image"}), ".jpg": frozenset({"image"}), ".jpeg": frozenset({"image"}),
    ".tif": frozenset({"image"}), ".tiff": frozenset({"image"}),
}


def content_kind(data: bytes) -> tuple[str, str] | None:
    """(kind, description) of the content by its signature; None for anything else (text)."""
    for signature, kind, description in _SIGNATURES:
        if data.startswith(signature):
            return kind, description
    return None


def check_content(data: bytes, suffix: str) -> None:
    """LoadError when the content is plainly not what the extension says."""
    found = content_kind(data)
    expected = _EXPECTED.get(suffix)
    if found is None:
        if expected is not None and suffix in (".docx", ".xlsx", ".pptx", ".doc", ".wps", ".xls"):
            raise LoadError(f"文件内容与扩展名 {suffix} 不符（不是 Office 文档），文件可能已损坏，已拒绝")
        return
    kind, description = found
    if expected is None:
        if kind in ("program", "archive"):
            raise LoadError(f"文件内容是{description}，与扩展名 {suffix} 不符，已拒绝")
        if kind != "zip" or suffix not in (".txt", ".md", ".csv", ".html", ".htm", ".markdown"):
            return
        raise LoadError(f"文件内容是{description}，与扩展名 {suffix} 不符，已拒绝")
    if kind not in expected:
        raise LoadError(f"文件内容是{description}，与扩展名 {suffix} 不符，已拒绝")
