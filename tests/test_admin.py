"""The admin page, over HTTP on a real server: token checks, uploads, removals,
and the live chat answering from the changed index at once."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from bot.bot import Bot
from index.store.folder import IndexStore
from index.update import add_paths
from ui.admin import safe_filename
from ui.config import Config
from ui.server import bind_socket, create_app, running

from .conftest import SETTINGS

TOKEN = "s3cret-admin-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SEED = "工会会费\n会员按月缴纳会费，标准为本人工资收入的千分之五。会费主要用于会员活动和困难职工帮扶。"
LIBRARY = "# 职工书屋管理办法\n\n职工书屋每周开放六天，图书借阅期限为三十天，逾期可以续借一次。\n"
LIBRARY_QUESTION = "职工书屋的图书借阅期限是多久？"


@pytest.fixture(scope="module")
def seeded(tmp_path_factory, embedder) -> Path:
    """A small index of its own, so that these tests never wait for the bundled corpus."""
    root = tmp_path_factory.mktemp("admin")
    (root / "seed").mkdir()
    (root / "seed" / "dues.txt").write_text(SEED, encoding="utf-8")
    add_paths(root / "index", [root / "seed"], SETTINGS, embedder, progress=False)
    return root / "index"


@pytest.fixture(scope="module")
def server(seeded, embedder):
    """A server with the admin page on (1 MB upload limit); yields its URL and index folder."""
    bot = Bot(IndexStore.load(seeded, expected=SETTINGS), embedder)
    config = Config(index_dir=seeded, admin_token=TOKEN, max_upload_mb=1, feedback_log=seeded.parent / "feedback.jsonl")
    with running(create_app(config, bot), bind_socket()) as url:
        yield url, seeded


@pytest.fixture(scope="module")
def client(server):
    with httpx.Client(base_url=server[0], timeout=120) as c:
        yield c


def upload(client: httpx.Client, *files: tuple[str, bytes], headers=AUTH) -> httpx.Response:
    return client.post("/admin/upload", files=[("files", (name, data, "application/octet-stream")) for name, data in files],
                       headers=headers)


def cited(client: httpx.Client, question: str) -> set[str]:
    answer = client.post("/api/ask", json={"question": question}).json()
    return {c["doc_id"] for c in answer["citations"]}


def test_admin_is_off_without_a_token(seeded, embedder):
    bot = Bot(IndexStore.load(seeded, expected=SETTINGS), embedder)
    config = Config(admin_token="", feedback_log=seeded.parent / "feedback-off.jsonl")
    with running(create_app(config, bot), bind_socket()) as url, httpx.Client(base_url=url) as c:
        assert c.get("/admin").status_code == 404
        assert c.get("/admin", headers={"Authorization": "Bearer anything"}).status_code == 404
        assert c.get("/admin/admin.js").status_code == 404
        assert c.post("/admin/upload", files={"files": ("a.txt", b"x")}).status_code == 404
        assert c.post("/admin/login", data={"token": ""}).status_code == 404


def test_missing_or_wrong_token_is_refused(client, server):
    assert client.get("/admin").status_code == 401
    assert "管理口令" in client.get("/admin").text
    assert client.get("/admin", headers={"Authorization": "Bearer wrong"}).status_code == 403
    assert client.get("/admin", headers={"Cookie": "uq_admin=forged"}).status_code == 403
    refused = upload(client, ("sneaky.txt", "工会\n未经授权的上传。".encode()), headers={"Authorization": "Bearer wrong"})
    assert refused.status_code == 403
    assert not (server[1] / "uploads" / "sneaky.txt").exists()
    assert client.post("/admin/remove", data={"doc_id": "added/dues"}).status_code == 401
    assert client.post("/admin/login", data={"token": "wrong"}).status_code == 403


def test_login_form_sets_an_http_only_cookie(server):
    with httpx.Client(base_url=server[0]) as c:
        r = c.post("/admin/login", data={"token": TOKEN})
        assert r.status_code == 303
        cookie = r.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and TOKEN not in cookie
        page = c.get("/admin")
        assert page.status_code == 200 and "added/dues" in page.text
        # A form posted from another site's page is refused even with the cookie.
        forged = c.post("/admin/remove", data={"doc_id": "added/dues"}, headers={"Origin": "http://evil.example"})
        assert forged.status_code == 403


def test_uploaded_document_is_listed_and_answered_then_removed(client, server):
    r = upload(client, ("职工书屋管理办法.md", LIBRARY.encode("utf-8")))
    assert r.status_code == 200
    assert "职工书屋管理办法.md" in r.text and "已加入" in r.text
    assert (server[1] / "uploads" / "职工书屋管理办法.md").is_file()
    page = client.get("/admin", headers=AUTH)
    assert "added/职工书屋管理办法" in page.text and "正在建立索引" in page.text
    answer = client.post("/api/ask", json={"question": LIBRARY_QUESTION}).json()
    assert not answer["refused"] and "三十天" in answer["text"]
    assert "added/职工书屋管理办法" in {c["doc_id"] for c in answer["citations"]}
    assert "added/职工书屋管理办法" in {d["id"] for d in client.get("/api/documents").json()}

    # The same name again with the same content: skipped.
    assert "未变化" in upload(client, ("职工书屋管理办法.md", LIBRARY.encode("utf-8"))).text

    removed = client.post("/admin/remove", data={"doc_id": "added/职工书屋管理办法"}, headers=AUTH)
    assert removed.status_code == 200 and "已移除" in removed.text
    assert "added/职工书屋管理办法" not in cited(client, LIBRARY_QUESTION)
    assert not (server[1] / "uploads" / "职工书屋管理办法.md").exists()
    assert "找不到" in client.post("/admin/remove", data={"doc_id": "added/职工书屋管理办法"}, headers=AUTH).text


def test_upload_names_are_sanitized(client, server):
    index = server[1]
    r = upload(client, ("../../evil.txt", "工会活动通知\n本周六组织职工登山活动。".encode()))
    assert r.status_code == 200 and "evil.txt" in r.text
    assert (index / "uploads" / "evil.txt").is_file()
    assert not (index.parent / "evil.txt").exists() and not (index / "evil.txt").exists()
    assert [p.name for p in index.parent.iterdir() if "evil" in p.name] == []
    assert "文件名无效" in upload(client, ("..", b"x")).text


@pytest.mark.parametrize(
    "given, stored",
    [
        ("../../evil.txt", "evil.txt"),
        ("..\\..\\windows\\evil.md", "evil.md"),
        ("/etc/passwd", "passwd"),
        ("a\x00b<>:|?*.txt", "ab.txt"),
        (".hidden.md", "hidden.md"),
        ("工会 章程.docx", "工会 章程.docx"),
        ("..", ""),
        ("/", ""),
        ("", ""),
    ],
)
def test_safe_filename(given, stored):
    assert safe_filename(given) == stored


def test_disallowed_type_and_oversize_files_are_refused(client, server):
    uploads = server[1] / "uploads"
    r = upload(client, ("tool.exe", b"MZ\x90\x00"), ("big.txt", "工会".encode() * 300_000))
    assert r.status_code == 200
    assert "不支持的文件类型 .exe" in r.text
    assert "文件太大（超过 1 MB）" in r.text
    assert not (uploads / "tool.exe").exists() and not (uploads / "big.txt").exists()
    empty = upload(client, ("empty.txt", b"   "))
    assert "文件是空的" in empty.text and not (uploads / "empty.txt").exists()


def test_titles_are_escaped_on_the_admin_page(client):
    text = "---\ntitle: <script>alert(1)</script>通知\n---\n\n请各分会于月底前上报职工名册。\n"
    assert upload(client, ("notice.md", text.encode("utf-8"))).status_code == 200
    page = client.get("/admin", headers=AUTH)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;通知" in page.text
    assert "<script>alert" not in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]


def test_an_add_by_another_process_is_seen_without_restart(client, server, embedder, tmp_path):
    """`unionqa add` writes a new version and CURRENT; the server notices it before answering."""
    question = "职工食堂几点开始供应午餐？"
    (tmp_path / "canteen.txt").write_text("职工食堂\n职工食堂每天十一点开始供应午餐，职工凭工卡就餐。", encoding="utf-8")
    add_paths(server[1], [tmp_path / "canteen.txt"], SETTINGS, embedder, progress=False)
    deadline = time.monotonic() + 10
    while "added/canteen" not in cited(client, question):
        assert time.monotonic() < deadline, "the server still answers from the old index"
        time.sleep(0.5)


def test_page_script_is_served_from_the_server(client):
    r = client.get("/admin/admin.js")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/javascript")
    assert "uq-busy-form" in r.text
