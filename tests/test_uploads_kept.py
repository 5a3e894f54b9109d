"""Uploaded documents survive a broken index (issue 23): a garbage, empty or dangling
CURRENT and a damaged live version make the server answer from the newest complete
version, with a warning on /api/ready and the admin page, and delete no upload; with
no complete version `unionqa serve` refuses in one Chinese line; an upload a killed
server left in staging after indexing it is moved into place at the next start."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from index.store.versions import CURRENT_FILE, live_version, version_folders
from index.update import add_paths

from .conftest import SETTINGS
from .test_admin_hardening import AUTH, TOKEN, serve, upload

A = "职工书屋\n工会职工书屋每周二、周四晚上开放，每人可借阅图书两本。"
B = "爱心驿站\n爱心驿站为户外劳动者提供热水、休息座椅和手机充电。"
C = "法律援助\n工会法律援助窗口每周三下午为职工提供免费咨询。"


@pytest.fixture(scope="module")
def with_two_uploads(tmp_path_factory, embedder) -> Path:
    """An index whose last two versions came from two uploads on the admin page."""
    root = tmp_path_factory.mktemp("uploads-kept")
    (root / "seed").mkdir()
    (root / "seed" / "dues.txt").write_text("工会会费\n会员按月缴纳会费，标准为本人工资收入的千分之五。", encoding="utf-8")
    add_paths(root / "index", [root / "seed"], SETTINGS, embedder, progress=False)
    with serve(root / "index", embedder) as url, httpx.Client(base_url=url, timeout=120) as c:
        assert "已加入" in upload(c, ("uploaded-a.txt", A.encode())).text
        assert "已加入" in upload(c, ("uploaded-b.txt", B.encode())).text
    return root / "index"


def break_index(index_dir: Path, how: str) -> None:
    live = live_version(index_dir)
    if how == "garbage":
        (index_dir / CURRENT_FILE).write_bytes(b"\xff\xfe garbage \x00")
    elif how == "empty":
        (index_dir / CURRENT_FILE).write_text("", encoding="utf-8")
    elif how == "deleted":
        shutil.rmtree(live)
    elif how == "truncated":
        path = live / "chunks.jsonl"
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


@pytest.mark.parametrize("how, falls_back_to_previous", [
    ("garbage", False), ("empty", False), ("deleted", True), ("truncated", True)])
def test_a_broken_index_keeps_every_upload_and_answers_from_the_newest_complete_version(
        with_two_uploads, tmp_path, embedder, how, falls_back_to_previous):
    index_dir = tmp_path / "index"
    shutil.copytree(with_two_uploads, index_dir)
    uploads = index_dir / "uploads"
    live = live_version(index_dir)
    [previous] = [p for p in version_folders(index_dir) if p != live]
    expected = previous if falls_back_to_previous else live
    break_index(index_dir, how)
    with serve(index_dir, embedder) as url, httpx.Client(base_url=url, timeout=120) as c:
        assert sorted(p.name for p in uploads.iterdir()) == ["uploaded-a.txt", "uploaded-b.txt"]
        c.post("/api/ask", json={"question": "职工书屋什么时候开放？"})  # warm: /api/ready says ready
        public = c.get("/api/ready").json()
        assert "已改用" not in str(public) and "正在使用此前的完整版本" in public["warning"]
        details = c.get("/api/ready", headers=AUTH).json()
        assert details["index_version"] == expected.name and "已改用最近的完整版本" in details["index_warning"]
        documents = {d["id"] for d in c.get("/api/documents").json()}
        assert ("added/uploaded-b" in documents) is not falls_back_to_previous
        answer = c.post("/api/ask", json={"question": "职工书屋什么时候开放？"}).json()
        assert answer["status"] == "answered" and answer["citations"][0]["doc_id"] == "added/uploaded-a"
        page = c.get("/admin", headers=AUTH).text
        assert "已改用最近的完整版本" in page
        assert ("<li>uploaded-b.txt</li>" in page) is falls_back_to_previous
        # the next upload writes a whole new version from the one answering; b's file stays
        assert "已加入" in upload(c, ("uploaded-c.txt", C.encode())).text
        assert sorted(p.name for p in uploads.iterdir()) == ["uploaded-a.txt", "uploaded-b.txt", "uploaded-c.txt"]
    with serve(index_dir, embedder) as url, httpx.Client(base_url=url, timeout=120) as c:
        assert "warning" not in c.get("/api/ready").json()  # CURRENT is whole again
        assert {"added/uploaded-a", "added/uploaded-c"} <= {d["id"] for d in c.get("/api/documents").json()}
    assert sorted(p.name for p in uploads.iterdir()) == ["uploaded-a.txt", "uploaded-b.txt", "uploaded-c.txt"]


def test_serve_refuses_in_one_chinese_line_when_no_version_is_complete(with_two_uploads, tmp_path):
    index_dir = tmp_path / "index"
    shutil.copytree(with_two_uploads, index_dir)
    for folder in version_folders(index_dir):
        (folder / "dense.faiss").write_bytes(b"")
    (index_dir / CURRENT_FILE).write_text("", encoding="utf-8")
    done = subprocess.run(
        [str(Path(sys.executable).with_name("unionqa")), "serve", "--index", str(index_dir), "--port", "1",
         "--admin-token", TOKEN],
        capture_output=True, text=True, timeout=300, env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "没有可用的完整版本" in done.stderr and "dense.faiss" in done.stderr and "unionqa build" in done.stderr
    assert "正在建立索引" not in done.stderr  # never rebuilt from the corpus over the uploads
    assert sorted(p.name for p in (index_dir / "uploads").iterdir()) == ["uploaded-a.txt", "uploaded-b.txt"]


def test_an_upload_indexed_before_a_kill_is_moved_out_of_staging_at_start(with_two_uploads, tmp_path, embedder):
    """The server died after CURRENT named the new version, before the file was moved into
    uploads/: the staged copy is the only one of the indexed text."""
    index_dir = tmp_path / "index"
    shutil.copytree(with_two_uploads, index_dir)
    staged = index_dir / "uploads" / ".staging" / "killed" / "uploaded-a.txt"
    staged.parent.mkdir(parents=True)
    newer = A.replace("两本", "三本")
    staged.write_text(newer, encoding="utf-8")
    add_paths(index_dir, [staged], SETTINGS, embedder, progress=False)  # what the upload had done
    never_indexed = staged.parent / "uploaded-z.txt"
    never_indexed.write_text("没有建立索引的上传", encoding="utf-8")
    with serve(index_dir, embedder):
        assert (index_dir / "uploads" / "uploaded-a.txt").read_text(encoding="utf-8") == newer
        assert never_indexed.exists()  # nothing is removed at start
