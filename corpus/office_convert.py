"""Old Word (.doc) and WPS (.wps) files, converted to .docx by LibreOffice headless and
read as .docx. LibreOffice is a separate program (Debian's libreoffice-writer-nogui,
`bash scripts/install-libreoffice.sh`); it runs inside the parse worker, so the worker's
memory cap and time limit hold for it too, plus a timeout of its own here."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from corpus.docx_loader import parse_docx
from corpus.errors import LoadError
from corpus.structure import Parsed

CONVERT_TIMEOUT_S = 50.0  # below the worker's 60 s per file, so the reason given is this one
INSTALL_HINT = "读取 .doc/.wps 需要 LibreOffice：请安装 libreoffice-writer-nogui（bash scripts/install-libreoffice.sh），或将文件另存为 .docx"


def soffice() -> str | None:
    return shutil.which("soffice") or shutil.which("libreoffice")


def parse_legacy_word(data: bytes, suffix: str) -> Parsed:
    program = soffice()
    if program is None:
        raise LoadError(INSTALL_HINT)
    with tempfile.TemporaryDirectory(prefix="unionqa-soffice-") as work:
        folder = Path(work)
        source = folder / f"input{suffix}"
        source.write_bytes(data)
        # its own profile: no lock against a desktop LibreOffice or another conversion
        profile = (folder / "profile").as_uri()
        command = [program, f"-env:UserInstallation={profile}", "--headless", "--norestore", "--nologo",
                   "--convert-to", "docx:MS Word 2007 XML", "--outdir", str(folder / "out"), str(source)]
        try:
            # a session of its own: soffice starts soffice.bin, and a timeout must end both
            process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL, cwd=work, start_new_session=True)
        except OSError as exc:
            raise LoadError(f"无法运行 LibreOffice（{exc.strerror or exc}）；{INSTALL_HINT}") from exc
        try:
            process.wait(timeout=CONVERT_TIMEOUT_S)
        except subprocess.TimeoutExpired as exc:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            raise LoadError(f"LibreOffice 转换超时（超过 {CONVERT_TIMEOUT_S:g} 秒），文件可能已损坏，已跳过") from exc
        converted = folder / "out" / "input.docx"
        if not converted.is_file() or converted.stat().st_size == 0:
            raise LoadError(f"LibreOffice 无法转换此 {suffix} 文件（文件已损坏，或不是 Word/WPS 文档）")
        parsed = parse_docx(converted.read_bytes())
    parsed.metadata["format"] = suffix.lstrip(".")
    return parsed
