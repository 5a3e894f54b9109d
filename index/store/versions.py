"""The versions of an index folder: which are complete, which one to answer from,
and what a killed writer left behind.

A version folder is complete when its seal, `checksums.json`, lists every file of
the folder with its size and SHA-256 and the files match. The seal is written
last, after every other file is on disk, so a folder a writer died in has none;
a file changed or cut short afterwards (a disk error, a careless copy, a test
that injects faults) no longer matches it.

`CURRENT` names the live version, but it is only a hint: empty, garbage, naming a
folder that is gone or one whose files no longer match, the reader falls back to
the newest complete version instead, and says so (`Choice.warning`). A version
written before seals existed has only its manifest; it is taken as complete when
its files load (the store checks them as it reads).

Why hash on every load: the store reads every byte of the version anyway, and
SHA-256 runs at several hundred MB/s, so for the bundled corpus (a few MB) it adds
milliseconds (docs/benchmark.md has the figures); a size check alone would miss a
file overwritten in place.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from index.store.errors import IndexCorruptError, IndexMissingError, StoreLockedError

CURRENT_FILE = "CURRENT"
LOCK_FILE = ".lock"
SEAL_FILE = "checksums.json"
MANIFEST_FILE = "manifest.json"
VERSION_PREFIX = "v-"
TEMP_PREFIX = ".tmp-"
# a version name is one plain folder name: a CURRENT holding "../x" or "/etc" names nothing
LOCK_TIMEOUT = 600.0
KEEP_VERSIONS = 2  # the live one and the one before, for readers still loading it
_VERSION_NAME = re.compile(r"v-[A-Za-z0-9_.-]{1,120}")
_HASH_BLOCK = 1 << 20


@dataclass(frozen=True)
class Choice:
    """The version to read, and, when it is not the one CURRENT names, why (in Chinese)."""

    folder: Path
    warning: str = ""


def current_name(index_dir: Path) -> str:
    """What CURRENT says, stripped ("" if it is missing or unreadable)."""
    try:
        return (Path(index_dir) / CURRENT_FILE).read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return ""


def is_version_name(name: str) -> bool:
    return bool(_VERSION_NAME.fullmatch(name)) and name not in ("v-.", "v-..")


def version_folders(index_dir: Path) -> list[Path]:
    """Every version folder (complete or not), newest first: by the time its seal (or
    manifest) was written, then by name."""
    index_dir = Path(index_dir)
    if not index_dir.is_dir():
        return []
    folders = [p for p in index_dir.iterdir() if p.is_dir() and is_version_name(p.name)]

    def written(folder: Path) -> float:
        for name in (SEAL_FILE, MANIFEST_FILE):
            try:
                return (folder / name).stat().st_mtime
            except OSError:
                continue
        return 0.0

    return sorted(folders, key=lambda p: (written(p), p.name), reverse=True)


def has_versions(index_dir: Path) -> bool:
    """Whether the folder holds an index at all (a CURRENT or any version), complete or not:
    only a folder without either is new, and only a new one may be built from the corpus alone."""
    return bool(current_name(index_dir)) or bool(version_folders(index_dir))


def candidates(index_dir: Path) -> list[Path]:
    """The versions to try, in order: the one CURRENT names, then the others newest first."""
    named = current_name(index_dir)
    folders = version_folders(index_dir)
    first = [p for p in folders if p.name == named] if is_version_name(named) else []
    return first + [p for p in folders if p.name != named]


# ----- the seal ------------------------------------------------------------------------


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(_HASH_BLOCK):
            h.update(block)
    return h.hexdigest()


def write_seal(folder: Path) -> None:
    """List every file of a fully written version folder with its size and SHA-256, as the
    very last file: a folder without a seal is one a writer did not finish."""
    files = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        files[path.relative_to(folder).as_posix()] = {"size": path.stat().st_size, "sha256": file_digest(path)}
    tmp = folder / f".{SEAL_FILE}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump({"files": files}, f, ensure_ascii=False, indent=1)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, folder / SEAL_FILE)


def seal_problem(folder: Path, hashes: bool = True) -> str:
    """Why a version folder is not complete, in Chinese ("" if it is). Sizes are always
    compared; with `hashes`, every file's SHA-256 too. A folder with a manifest and no
    seal was written before seals existed: "" (its files are checked as they load)."""
    folder = Path(folder)
    if not folder.is_dir():
        return "文件夹不存在"
    seal = folder / SEAL_FILE
    if not seal.is_file():
        return "" if (folder / MANIFEST_FILE).is_file() else "没有写完（缺少 manifest.json）"
    try:
        files = json.loads(seal.read_text(encoding="utf-8"))["files"]
        listed = {str(name): (int(v["size"]), str(v["sha256"])) for name, v in files.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return f"{SEAL_FILE} 无法读取"
    if MANIFEST_FILE not in listed:
        return f"{SEAL_FILE} 中没有 {MANIFEST_FILE}"
    for name, (size, digest) in listed.items():
        path = folder / name
        if ".." in Path(name).parts or not path.is_file():
            return f"缺少文件 {name}"
        if path.stat().st_size != size:
            return f"文件 {name} 大小不符（应为 {size} 字节，实为 {path.stat().st_size} 字节）"
        if hashes and file_digest(path) != digest:
            return f"文件 {name} 内容已损坏（校验和不符）"
    return ""


def choose(index_dir: Path, hashes: bool = True, skip: Mapping[str, str] | None = None) -> Choice | None:
    """The version to read: the one CURRENT names if it is complete, else the newest
    complete one, with a warning saying why; None if no version is complete. `skip`
    maps versions their reader found unreadable to why."""
    named = current_name(index_dir)
    skip = skip or {}
    problems = []
    for folder in candidates(index_dir):
        if folder.name in skip:
            problems.append(f"{folder.name}：{skip[folder.name]}")
            continue
        problem = seal_problem(folder, hashes)
        if problem:
            problems.append(f"{folder.name}：{problem}")
            continue
        if folder.name == named:
            return Choice(folder)
        return Choice(folder, fallback_warning(named, folder.name, problems))
    return None


def fallback_warning(named: str, used: str, problems: list[str]) -> str:
    if not named:
        why = "索引的 CURRENT 文件缺失或为空"
    elif not is_version_name(named):
        why = f"索引的 CURRENT 文件内容无效（{named[:40]!r}）"
    else:
        why = f"CURRENT 指向的版本 {named} 不可用"
    detail = "；".join(problems)
    return f"{why}{('（' + detail + '）') if detail else ''}，已改用最近的完整版本 {used}。下次更新索引时会修复。"


def no_complete_version(index_dir: Path, problems: list[str]) -> str:
    """The message of a server that refuses to start: nothing complete to answer from."""
    detail = "；".join(problems) or "没有任何版本"
    uploads = Path(index_dir) / "uploads"
    return (
        f"索引没有可用的完整版本（{detail}）：{index_dir}。"
        f"请运行 `unionqa build` 重建索引；管理页面上传的文件仍保存在 {uploads}，"
        f"可在重建后用 `unionqa add {uploads}` 重新加入。"
    )


def problems_of(index_dir: Path, hashes: bool = True) -> list[str]:
    return [f"{p.name}：{seal_problem(p, hashes) or '无法载入'}" for p in candidates(index_dir)]


# ----- leftovers of killed writers -------------------------------------------------------


def remove_leftovers(index_dir: Path, locked: bool = False) -> list[str]:
    """Remove the half-written `.tmp-v-…` folders (and CURRENT's temporary files) of
    writers that were killed, whatever their age. Safe only while no writer is at work:
    with `locked` the caller holds the writer lock; otherwise the lock is tried without
    waiting, and if a writer holds it nothing is removed. Returns the names removed."""
    index_dir = Path(index_dir)
    if not index_dir.is_dir():
        return []
    if locked:
        return _remove_temporary(index_dir)
    try:
        handle = open(index_dir / LOCK_FILE, "a")
    except OSError:
        return []
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return []  # a writer is saving: its .tmp- folder is not a leftover
        try:
            return _remove_temporary(index_dir)
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _remove_temporary(index_dir: Path) -> list[str]:
    removed = []
    for path in index_dir.iterdir():
        if path.name.startswith(TEMP_PREFIX) and path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path.name)
        elif path.name.startswith(f".{CURRENT_FILE}.tmp-") and path.is_file():
            path.unlink(missing_ok=True)
            removed.append(path.name)
    return removed


def version_name(index_dir: Path) -> str:
    """What CURRENT names ("" if there is none): one small read, cheap enough for a server
    to check for a new version before answering. Garbage in it (even bytes that are not
    UTF-8) is returned as read, for the caller to compare; `IndexStore.load` falls back."""
    return current_name(Path(index_dir))


def live_version(index_dir: Path) -> Path:
    """The folder of the version to read: the one CURRENT names if it is complete, else the
    newest complete one (see `IndexStore.load`); IndexMissingError with what to do if none."""
    index_dir = Path(index_dir)
    choice = choose(index_dir)
    if choice is not None:
        return choice.folder
    if not has_versions(index_dir):
        raise IndexMissingError(f"找不到索引：{index_dir}。请先运行 `unionqa build` 建立索引。")
    raise IndexCorruptError(no_complete_version(index_dir, problems_of(index_dir)))


@contextmanager
def writer_lock(index_dir: Path, timeout: float | None = None) -> Iterator[None]:
    """Hold the index folder's writer lock for a whole load-change-save, so two
    writers (a build, `unionqa add`, the admin page) cannot lose each other's
    changes. Readers need no lock: versions are immutable. The kernel drops the
    lock when the process dies, so a killed writer never leaves the index locked.
    A lock held by another writer for longer than `timeout` seconds (default
    LOCK_TIMEOUT) is a StoreError that says so, instead of a wait without end."""
    index_dir = Path(index_dir)
    index_dir.mkdir(parents=True, exist_ok=True)
    timeout = LOCK_TIMEOUT if timeout is None else timeout
    with open(index_dir / LOCK_FILE, "a") as handle:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise StoreLockedError(
                        f"索引正被另一个程序更新（等待写入锁超过 {timeout:g} 秒）：{index_dir / LOCK_FILE}。"
                        "请等它完成后重试。"
                    ) from None
                time.sleep(0.1)
        # Every save runs under this lock, so with it held any .tmp- folder is a killed writer's.
        remove_leftovers(index_dir, locked=True)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def write_atomic(path: Path, text: str) -> None:
    """Replace a small text file whole: a reader sees the old content or the new, never part."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync(path.parent)


def fsync(path: Path) -> None:
    """Flush a file, or a folder's entries (so a rename in it survives a crash), to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_old_versions(index_dir: Path, keep: str) -> None:
    """Keep the new version and the newest complete ones before it (KEEP_VERSIONS in all),
    for readers still loading them and for falling back to; incomplete or damaged versions
    (sizes checked: cheap) are removed, so that they never push out a good one."""
    kept = 1
    for folder in version_folders(index_dir):
        if folder.name == keep:
            continue
        if kept < KEEP_VERSIONS and not seal_problem(folder, hashes=False):
            kept += 1
            continue
        shutil.rmtree(folder, ignore_errors=True)
    for p in index_dir.iterdir():
        # leftovers of builds that were killed half-way (a save outside the writer lock
        # cannot tell them from another writer's, so only old ones; writer_lock removes all)
        if p.name.startswith(".tmp-") and time.time() - p.stat().st_mtime > 3600:
            shutil.rmtree(p, ignore_errors=True)
