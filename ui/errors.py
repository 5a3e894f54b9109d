"""One Chinese line for the storage failures a user can fix: permission denied, a
full disk, a lock held too long. Used by the command line and the admin page."""

from __future__ import annotations

import errno

from index.store.errors import StoreError

_CAUSES = {
    errno.EACCES: "没有写入权限",
    errno.EPERM: "没有写入权限",
    errno.EROFS: "磁盘是只读的",
    errno.ENOSPC: "磁盘空间已满",
    errno.EDQUOT: "磁盘配额已用完",
    errno.EFBIG: "文件超过了系统允许的大小",
    errno.EIO: "磁盘读写错误",
}


def storage_message(exc: BaseException) -> str:
    """What went wrong and where, for a user; never a traceback."""
    if isinstance(exc, StoreError):
        return str(exc)
    if isinstance(exc, OSError):
        cause = _CAUSES.get(exc.errno or 0) or exc.strerror or type(exc).__name__
        where = f"：{exc.filename}" if exc.filename else ""
        return f"无法读写文件（{cause}）{where}。请检查索引目录的权限和磁盘空间后重试。"
    return f"{type(exc).__name__}: {exc}"
