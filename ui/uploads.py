"""The admin page's uploaded files in `<index_dir>/uploads/`: never deleted but by an
explicit removal.

- An upload is staged in `uploads/.staging/<id>/`, indexed from there, and moved into
  `uploads/` once the new index version is live (ui/admin.py).
- A server killed between the switch of CURRENT and that move leaves the only copy of
  an indexed upload in its staging folder: at start, `recover_staged` finishes the move
  for every staged file whose text is what the index holds for its document.
- `clean_uploads` runs only after a successful save, and removes only what no index
  version and no upload in progress can refer to: the staging folders of uploads no
  longer in progress and hidden half-written files (an upload's stored name is never
  hidden, see ui.admin.safe_filename). A stored upload that no version refers to is
  kept: after a broken live version the server answers from the one before, which
  lacks the newest uploads, and their files are then the only copy of those documents.
  The admin page lists them (`unindexed_uploads`) so that staff can upload them again.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
from pathlib import Path

from corpus.loader import LoadError, load_document
from index.update import added_id

log = logging.getLogger(__name__)

STAGING = ".staging"


def uploads_dir(index_dir: Path) -> Path:
    return Path(index_dir) / "uploads"


def staging_dir(index_dir: Path) -> Path:
    return uploads_dir(index_dir) / STAGING


class StagingFolders:
    """The staging folders of the uploads in progress in this server, so that a clean-up
    running beside an upload leaves that upload's files alone."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.active: set[Path] = set()

    def register(self, folder: Path) -> None:
        with self.lock:
            self.active.add(folder)

    def release(self, folder: Path) -> None:
        with self.lock:
            self.active.discard(folder)


def clean_uploads(index_dir: Path, staging: StagingFolders) -> list[str]:
    """After a successful save: remove the staging folders of uploads no longer in
    progress, and hidden half-written files. Returns the names removed."""
    folder = uploads_dir(index_dir)
    removed: list[str] = []
    with staging.lock:  # no upload may start staging while its parent is being emptied
        for path in sorted(staging_dir(index_dir).iterdir()) if staging_dir(index_dir).is_dir() else []:
            if path not in staging.active:
                shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
                removed.append(f"{STAGING}/{path.name}")
        if not staging.active and staging_dir(index_dir).is_dir():
            shutil.rmtree(staging_dir(index_dir), ignore_errors=True)
    for path in sorted(folder.iterdir()) if folder.is_dir() else []:
        if path.is_file() and path.name.startswith("."):
            path.unlink(missing_ok=True)
            removed.append(path.name)
    if removed:
        log.info("", extra={"event": "uploads_cleaned", "removed": len(removed)})
    return removed


def unindexed_uploads(index_dir: Path, indexed_sources: set[str]) -> list[str]:
    """Stored uploads that the index answering now does not hold (after it fell back to
    an older version, say): kept, and listed on the admin page to be uploaded again."""
    folder = uploads_dir(index_dir)
    return sorted(p.name for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")
                  and p.name not in indexed_sources) if folder.is_dir() else []


def recover_staged(index_dir: Path, indexed_hash: dict[str, str]) -> list[str]:
    """Move into uploads/ every staged file whose document the live index holds with the
    same text (`indexed_hash`: doc_id -> content hash): a server killed after the index
    switched, before the move, would otherwise leave an indexed upload only in staging.
    Anything else stays where it is until the next clean-up. Returns the names moved."""
    moved = []
    root = staging_dir(index_dir)
    for path in sorted(root.glob("*/*")) if root.is_dir() else []:
        doc_id = added_id(path)
        if not path.is_file() or doc_id not in indexed_hash:
            continue
        try:
            document = load_document(path, path.parent)
        except (LoadError, OSError) as exc:
            log.warning("a staged upload could not be read: %s", exc, extra={"event": "upload_not_recovered"})
            continue
        if document.content_hash == indexed_hash[doc_id]:
            os.replace(path, uploads_dir(index_dir) / path.name)
            moved.append(path.name)
    if moved:
        log.warning("staged uploads of indexed documents moved into uploads/", extra={
            "event": "uploads_recovered", "files": len(moved)})
    return moved
