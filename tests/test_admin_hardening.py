"""The admin page under attack and under failure (issue 11): sign-in throttling,
random expiring session ids revoked on logout, the Secure flag behind HTTPS,
staged uploads, orphans cleaned at start, clear storage errors, hostile files."""

from __future__ import annotations

import errno
import threading
import time
from pathlib import Path

import httpx
import pytest

from bot.bot import Bot
from index.store.folder import IndexStore
from index.store.versions import writer_lock
from index.update import add_paths
from ui.config import Config
from ui.server import bind_socket, create_app, running
from ui.sessions import LoginThrottle, SessionStore

from .conftest import SETTINGS

TOKEN = "another-s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
GOOD = "会员活动\n工会每季度组织一次会员健步走活动，报名截止到活动前三天。"
QUESTION = "会员健步走活动的报名截止到什么时候？"


@pytest.fixture
def index_dir(tmp_path, embedder) -> Path:
    (tmp_path / "seed").mkdir()
    (tmp_path / "seed" / "dues.txt").write_text("工会会费\n会员按月缴纳会费，标准为本人工资收入的千分之五。", encoding="utf-8")
    add_paths(tmp_path / "index", [tmp_path / "seed"], SETTINGS, embedder, progress=False)
    return tmp_path / "index"


def serve(index_dir: Path, embedder):
    bot = Bot(IndexStore.load(index_dir, expected=SETTINGS), embedder)
    config = Config(index_dir=index_dir, admin_token=TOKEN, max_upload_mb=10,
                    feedback_log=index_dir.parent / "feedback.jsonl")
    return running(create_app(config, bot), bind_socket())


def upload(client: httpx.Client, *files: tuple[str, bytes]) -> httpx.Response:
    return client.post("/admin/upload", files=[("files", (n, d, "application/octet-stream")) for n, d in files],
                       headers=AUTH)


# ----- sign-in ----------------------------------------------------------------------------


def test_wrong_tokens_are_throttled_with_429_and_retry_after(index_dir, embedder):
    with serve(index_dir, embedder) as url, httpx.Client(base_url=url) as c:
        statuses = [c.post("/admin/login", data={"token": f"guess{i}"}).status_code for i in range(6)]
        assert statuses[:3] == [403, 403, 403]
        assert set(statuses[3:]) == {429}
        blocked = c.post("/admin/login", data={"token": TOKEN})  # even the right token waits
        assert blocked.status_code == 429
        assert int(blocked.headers["retry-after"]) >= 1
        assert "秒后再试" in blocked.text
        assert c.get("/admin", headers={"Authorization": "Bearer wrong"}).status_code == 429


def test_throttle_backs_off_exponentially_and_forgets_after_success():
    now = [0.0]
    throttle = LoginThrottle(clock=lambda: now[0])
    waits = [throttle.failed("1.2.3.4") for _ in range(7)]
    assert waits == [0, 0, 0, 1, 2, 4, 8]
    assert throttle.retry_after("1.2.3.4") == 8 and throttle.retry_after("5.6.7.8") == 0
    now[0] += 8
    assert throttle.retry_after("1.2.3.4") == 0
    throttle.succeeded("1.2.3.4")
    assert throttle.failed("1.2.3.4") == 0


def test_sessions_are_random_expire_and_are_revoked_on_logout(index_dir, embedder):
    with serve(index_dir, embedder) as url:
        cookies = []
        for _ in range(2):
            with httpx.Client(base_url=url) as c:
                r = c.post("/admin/login", data={"token": TOKEN})
                assert r.status_code == 303
                cookies.append(c.cookies["uq_admin"])
                assert "Max-Age=" in r.headers["set-cookie"] and "Secure" not in r.headers["set-cookie"]
        assert cookies[0] != cookies[1] and len(cookies[0]) >= 40
        with httpx.Client(base_url=url) as c:
            c.cookies.set("uq_admin", cookies[0], path="/admin")
            assert c.get("/admin").status_code == 200
            assert c.post("/admin/logout").status_code == 303
        with httpx.Client(base_url=url) as c:  # the old cookie, replayed after logout
            assert c.get("/admin", headers={"Cookie": f"uq_admin={cookies[0]}"}).status_code == 403
            assert c.get("/admin", headers={"Cookie": f"uq_admin={cookies[1]}"}).status_code == 200

    now = [0.0]
    store = SessionStore(lifetime=60, clock=lambda: now[0])
    session = store.create()
    assert store.valid(session)
    now[0] = 61
    assert not store.valid(session)


def test_cookie_is_secure_behind_an_https_proxy(index_dir, embedder):
    with serve(index_dir, embedder) as url, httpx.Client(base_url=url) as c:
        r = c.post("/admin/login", data={"token": TOKEN}, headers={"X-Forwarded-Proto": "https"})
        assert r.status_code == 303
        assert "Secure" in r.headers["set-cookie"]


# ----- uploads ----------------------------------------------------------------------------


def test_a_failed_reupload_keeps_the_stored_original(index_dir, embedder):
    with serve(index_dir, embedder) as url, httpx.Client(base_url=url, timeout=120) as c:
        assert "已加入" in upload(c, ("x.txt", GOOD.encode())).text
        stored = index_dir / "uploads" / "x.txt"
        assert stored.read_text(encoding="utf-8") == GOOD
        r = upload(c, ("x.txt", b"   "))  # empty: cannot be indexed
        assert "未能加入" in r.text
        assert stored.read_text(encoding="utf-8") == GOOD
        assert "added/x" in {d["id"] for d in c.get("/api/documents").json()}
        assert not any((index_dir / "uploads" / ".staging").glob("*/*"))


def test_leftovers_are_removed_after_a_save_never_at_start_and_uploads_never(index_dir, embedder):
    """A start removes nothing (the index may be a fallback, or an upload may be staged);
    the first successful save removes staging leftovers and hidden half-written files,
    and keeps a stored upload that no version refers to (listed on the admin page)."""
    uploads = index_dir / "uploads"
    (uploads / ".staging" / "abc").mkdir(parents=True)
    (uploads / ".staging" / "abc" / "half.txt").write_text("半个文件")
    (uploads / ".old.txt.part").write_text("旧版本留下的")
    (uploads / "orphan.txt").write_text("索引中没有的文件")
    before = sorted(p.name for p in uploads.rglob("*"))
    with serve(index_dir, embedder) as url, httpx.Client(base_url=url, timeout=120) as c:
        assert sorted(p.name for p in uploads.rglob("*")) == before
        page = upload(c, ("kept.txt", GOOD.encode())).text
        assert "已加入" in page and "不在当前索引中" in page and "<li>orphan.txt</li>" in page
    with serve(index_dir, embedder):
        assert sorted(p.name for p in uploads.iterdir()) == ["kept.txt", "orphan.txt"]


# ----- storage failures --------------------------------------------------------------------


@pytest.mark.parametrize("code, cause", [(errno.EACCES, "没有写入权限"), (errno.ENOSPC, "磁盘空间已满")])
def test_storage_failure_is_a_chinese_message_and_nothing_is_lost(index_dir, embedder, monkeypatch, code, cause):
    with serve(index_dir, embedder) as url, httpx.Client(base_url=url, timeout=120) as c:
        assert "已加入" in upload(c, ("x.txt", GOOD.encode())).text

        def failing_save(self, folder):
            raise OSError(code, "simulated", str(folder / "v9"))

        monkeypatch.setattr(IndexStore, "save", failing_save)
        r = upload(c, ("x.txt", (GOOD + "\n新增一段内容，报名请联系工会办公室。").encode()))
        assert r.status_code == 503
        assert "索引未能更新" in r.text and cause in r.text and "Traceback" not in r.text
        assert (index_dir / "uploads" / "x.txt").read_text(encoding="utf-8") == GOOD
        removed = c.post("/admin/remove", data={"doc_id": "added/x"}, headers=AUTH)
        assert removed.status_code == 503 and cause in removed.text
        monkeypatch.undo()
        assert "added/x" in {d["id"] for d in c.get("/api/documents").json()}
        assert c.get("/api/health").status_code == 200


def test_a_lock_held_too_long_is_a_clear_error(index_dir, embedder, monkeypatch):
    import index.store.versions

    monkeypatch.setattr(index.store.versions, "LOCK_TIMEOUT", 0.5)
    held, release = threading.Event(), threading.Event()

    def hold():
        with writer_lock(index_dir):
            held.set()
            release.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(10)
    try:
        with serve(index_dir, embedder) as url, httpx.Client(base_url=url, timeout=120) as c:
            r = upload(c, ("x.txt", GOOD.encode()))
            assert r.status_code == 503 and "等待写入锁超过 0.5 秒" in r.text
    finally:
        release.set()
        holder.join()


# ----- hostile files ---------------------------------------------------------------------------


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def test_hostile_uploads_are_refused_quickly_and_the_server_stays_healthy(index_dir, embedder, hostile_files):
    with serve(index_dir, embedder) as url, httpx.Client(base_url=url, timeout=120) as c:
        rss = _rss_mb()
        for name in ("docx", "html"):
            path = hostile_files[name]
            started = time.monotonic()
            r = upload(c, (path.name, path.read_bytes()), ("good.txt", GOOD.encode()))
            assert time.monotonic() - started < 30  # the file itself in under 10 s; the good one is embedded too
            assert r.status_code == 200
            assert "good.txt" in r.text
            if name == "docx":
                assert "炸弹.docx" in r.text and "压缩炸弹" in r.text
        assert _rss_mb() - rss < 500  # the server process never held the 1 GiB
        assert c.get("/api/health").json()["status"] == "ok"
        answer = c.post("/api/ask", json={"question": QUESTION}).json()
        assert "added/good" in {x["doc_id"] for x in answer["citations"]}


@pytest.mark.parametrize("code, cause", [(errno.EACCES, "没有写入权限"), (errno.ENOSPC, "磁盘空间已满")])
def test_cli_storage_failure_is_one_line_and_exit_2(index_dir, monkeypatch, capsys, code, cause):
    from ui.cli import main

    def failing_save(self, folder):
        raise OSError(code, "simulated", str(folder / "v9"))

    monkeypatch.setattr(IndexStore, "save", failing_save)
    new = index_dir.parent / "new.txt"
    new.write_text(GOOD, encoding="utf-8")
    assert main(["add", str(new), "--index", str(index_dir), "--model", SETTINGS.embedding_model, "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("错误：") and cause in err[-1] and "Traceback" not in "\n".join(err)
    monkeypatch.undo()
    assert "added/new" not in IndexStore.load(index_dir, expected=SETTINGS).documents
