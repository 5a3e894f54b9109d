"""Incremental indexing: adds, updates and removes end in the same index a full
rebuild makes; the CLI subcommands; a killed `unionqa add` loses nothing."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot.bot import Bot
from index.build import build_index
from index.embedding.embedder import Embedder
from index.sentences import answer_units
from index.store.folder import IndexStore
from index.store.spec import live_name, load_store
from index.store.versions import LOCK_FILE, version_name
from index.update import DocumentNotFoundError, add_paths, remove_documents

from .conftest import SETTINGS

ROOT = Path(__file__).resolve().parents[1]

DOCS = {
    "dues.txt": "工会会费\n会员按月缴纳会费，标准为本人工资收入的千分之五。会费主要用于会员活动和困难职工帮扶。",
    "rest.md": "# 职工疗休养\n\n工会每年组织一线职工疗休养，名额向劳模和技术工人倾斜。疗休养时间一般为五天。",
    "library.txt": "职工书屋\n职工书屋每周开放六天，借阅期限为三十天。",
}
GBK_DOC = ("mediation.txt", "劳动争议调解\n企业劳动争议调解委员会由职工代表和企业代表组成，调解应当自受理之日起十五日内结束。")
LIBRARY_CHANGED = "职工书屋\n职工书屋每周开放五天，借阅期限改为四十五天，逾期可以续借一次。"
HANDBOOK = ("handbook.md", "# 新职工手册\n\n新入职职工应当在一个月内办理入会手续，并参加工会组织的入职培训。")
QUESTIONS = [
    "职工书屋的借阅期限是多久？",
    "劳动争议调解多长时间结束？",
    "新职工多久内办理入会手续？",
    "工会会费的标准是多少？",
    "疗休养时间一般为几天？",
]


class CountingEmbedder:
    """An embedder that counts the passages it embeds."""

    def __init__(self, inner: Embedder):
        self._inner = inner
        self.name, self.backend, self.dim = inner.name, inner.backend, inner.dim
        self.passages = 0

    def encode_queries(self, texts):
        return self._inner.encode_queries(texts)

    def encode_passages(self, texts, show_progress=False, batch_size=32):
        self.passages += len(texts)
        return self._inner.encode_passages(texts, show_progress=show_progress, batch_size=batch_size)


def write_docs(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in DOCS.items():
        (folder / name).write_text(text, encoding="utf-8")
    name, text = GBK_DOC
    (folder / name).write_bytes(text.encode("gbk"))
    (folder / "empty.txt").write_bytes(b"")
    (folder / "broken.docx").write_bytes(b"PK\x03\x04 not really a zip")
    return folder


def statuses(report) -> dict[str, str]:
    return {Path(r.name).name: r.status for r in report.results}


def retrieval(store: IndexStore, embedder: Embedder, question: str):
    """What the bot retrieves, with ids as a full rebuild of the folder names them."""
    bot = Bot(store, embedder)
    _, hits, evidence = bot.retrieve(question)
    rows = [(h.chunk.doc_id.removeprefix("added/"), h.chunk.text) for h in hits]
    scores = [(h.score, h.dense or 0.0, h.bm25 or 0.0) for h in hits]
    return rows, scores, (evidence.best_dense, evidence.terms), bot.ask(question).text


@pytest.mark.parametrize("engine", ["faiss", "milvus-lite"])
def test_adds_updates_and_removes_end_where_a_full_rebuild_does(tmp_path, embedder, engine):
    """The same with either engine (index/store/spec.py): FAISS + bm25s files, or milvus-lite."""
    store = "" if engine == "faiss" else str(tmp_path / "index.db")
    full_store = "" if engine == "faiss" else str(tmp_path / "full.db")
    docs = write_docs(tmp_path / "docs")
    index = tmp_path / "index"
    counting = CountingEmbedder(embedder)

    first = add_paths(index, [docs], SETTINGS, counting, progress=False, store=store)
    assert statuses(first) == {
        "dues.txt": "added", "rest.md": "added", "library.txt": "added", "mediation.txt": "added",
        "empty.txt": "error", "broken.docx": "error",
    }
    reasons = {Path(r.name).name: r.reason for r in first.errors}
    assert "空" in reasons["empty.txt"] and reasons["broken.docx"]
    assert first.created and first.version == live_name(store, index)
    loaded = load_store(store, index, expected=SETTINGS)
    assert "调解委员会由职工代表和企业代表组成" in loaded.documents["added/mediation"].text  # GBK decoded
    vectors = len(loaded.chunks)

    # Nothing changed: everything skipped, nothing embedded, no new version.
    counting.passages = 0
    again = add_paths(index, [docs], SETTINGS, counting, progress=False, store=store)
    assert again.count("unchanged") == 4 and again.count("added") == 0 and counting.passages == 0
    assert again.version == "" and live_name(store, index) == first.version
    assert len(load_store(store, index).chunks) == vectors
    assert "未变化" in again.summary()

    # A changed file (same path) and a new one from elsewhere: only their chunks are embedded.
    (docs / "library.txt").write_text(LIBRARY_CHANGED, encoding="utf-8")
    other = tmp_path / "other"
    other.mkdir()
    (other / HANDBOOK[0]).write_text(HANDBOOK[1], encoding="utf-8")
    counting.passages = 0
    third = add_paths(index, [docs / "library.txt", other / HANDBOOK[0]], SETTINGS, counting, progress=False,
                      store=store)
    assert statuses(third) == {"library.txt": "updated", "handbook.md": "added"}
    assert sum(r.chunks for r in third.results) == 2
    changed = [c for c in load_store(store, index).chunks.values() if c.doc_id in {"added/library", "added/handbook"}]
    units = {c.text[s:e] for c in changed for s, e in answer_units(c.text)}
    # Two one-sentence documents: each chunk, and its one sentence alone.
    assert counting.passages == len(changed) + len(units) == 2 + 2

    # Remove one by id and one by the path it was added from.
    assert remove_documents(index, ["added/dues"], SETTINGS, store=store).count("removed") == 1
    assert remove_documents(index, [str(docs / "rest.md")], SETTINGS, store=store).results[0].doc_id == "added/rest"
    with pytest.raises(DocumentNotFoundError, match="no-such-doc"):
        remove_documents(index, ["added/library", "no-such-doc"], SETTINGS, store=store)
    incremental = load_store(store, index, expected=SETTINGS)
    assert set(incremental.documents) == {"added/library", "added/mediation", "added/handbook"}

    # A full rebuild of the same final files.
    final = tmp_path / "final"
    final.mkdir()
    for path in (docs / "library.txt", docs / "mediation.txt", other / "handbook.md"):
        shutil.copy(path, final / path.name)
    build_index(final, tmp_path / "full", SETTINGS, embedder, progress=False, store=full_store)
    full = load_store(full_store, tmp_path / "full", expected=SETTINGS)

    assert sorted(c.text for c in incremental.chunks.values()) == sorted(c.text for c in full.chunks.values())
    full_units = {c.text: (full.sentence_spans(vid), full.sentence_vectors(vid)) for vid, c in full.chunks.items()}
    for vid, chunk in incremental.chunks.items():
        spans, vectors = full_units[chunk.text]
        assert incremental.sentence_spans(vid) == spans
        assert incremental.sentence_vectors(vid) == pytest.approx(vectors, abs=1e-4)
    for question in QUESTIONS:
        rows, scores, evidence, answer = retrieval(incremental, embedder, question)
        full_rows, full_scores, full_evidence, full_answer = retrieval(full, embedder, question)
        assert rows == full_rows, question
        assert scores == [pytest.approx(s, abs=1e-4) for s in full_scores], question
        assert evidence[0] == pytest.approx(full_evidence[0], abs=1e-4)
        assert evidence[1] == pytest.approx(full_evidence[1])
        assert answer == full_answer
    assert "四十五天" in Bot(incremental, embedder).ask(QUESTIONS[0]).text


# ----- the command line -----------------------------------------------------------------


def run_cli(*args: str, index: Path, model_cache: Path) -> subprocess.CompletedProcess:
    env = {
        **os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONUNBUFFERED": "1",
        "UNIONQA_INDEX_DIR": str(index), "UNIONQA_MODEL_CACHE": str(model_cache),
    }
    return subprocess.run(
        [sys.executable, "-m", "tests.fake_embedder", *args], capture_output=True, text=True, cwd=ROOT, env=env, timeout=300
    )


def test_cli_add_list_remove(tmp_path, model_cache):
    docs = write_docs(tmp_path / "docs")
    index = tmp_path / "index"

    added = run_cli("add", "--quiet", str(docs), index=index, model_cache=model_cache)
    assert added.returncode == 0, added.stderr
    assert "4 篇已加入" in added.stdout and "added/library" in added.stdout
    assert "empty.txt" in added.stderr and "文件是空的" in added.stderr and "broken.docx" in added.stderr
    assert "Traceback" not in added.stderr

    listed = run_cli("list", "--json", index=index, model_cache=model_cache)
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert {r["doc_id"] for r in rows} == {"added/dues", "added/rest", "added/library", "added/mediation"}
    assert all(r["chunks"] >= 1 and r["title"] and r["source"] for r in rows)
    table = run_cli("list", index=index, model_cache=model_cache)
    assert "职工书屋" in table.stdout and "library.txt" in table.stdout

    unknown = run_cli("remove", "added/no-such-doc", index=index, model_cache=model_cache)
    assert unknown.returncode == 2
    assert "找不到" in unknown.stderr and "added/no-such-doc" in unknown.stderr
    assert "Traceback" not in unknown.stderr

    removed = run_cli("remove", "added/dues", str(docs / "rest.md"), index=index, model_cache=model_cache)
    assert removed.returncode == 0, removed.stderr
    assert "2 篇已移除" in removed.stdout
    assert set(IndexStore.load(index).documents) == {"added/library", "added/mediation"}


def test_add_loads_the_model_only_when_something_is_to_be_embedded(tmp_path, monkeypatch, capsys):
    """Refused and unchanged files need no model: `unionqa add` of only those answers at once
    (it used to wait 8-14 s for the model to give a 0.3 s refusal)."""
    import index.embedding.embedder
    from ui.cli import main

    loads: list[str] = []
    real_load = index.embedding.embedder.load_embedder
    monkeypatch.setattr(index.embedding.embedder, "load_embedder", lambda model, *a, **k: loads.append(model) or real_load(model, *a, **k))
    program, empty, good = tmp_path / "会费.exe", tmp_path / "empty.txt", tmp_path / "dues.txt"
    program.write_bytes(b"MZ\x90\x00" + bytes(200))
    empty.write_bytes(b"")
    good.write_text(DOCS["dues.txt"], encoding="utf-8")
    index_dir = tmp_path / "index"
    options = ["--index", str(index_dir), "--model", SETTINGS.embedding_model, "--quiet"]

    assert main(["add", str(program), str(empty), *options]) == 1  # nothing loadable, no index yet
    assert loads == [] and "不支持的文件类型 .exe" in capsys.readouterr().err
    assert main(["add", str(good), *options]) == 0
    assert loads == [SETTINGS.embedding_model] and "1 篇已加入" in capsys.readouterr().out
    assert main(["add", str(good), str(program), *options]) == 0  # unchanged, and refused, into an index
    assert loads == [SETTINGS.embedding_model] and "未变化" in "".join(capsys.readouterr())
    assert main(["add", str(program), *options]) == 1
    assert loads == [SETTINGS.embedding_model]
    assert set(IndexStore.load(index_dir, expected=SETTINGS).documents) == {"added/dues"}


def test_an_add_killed_half_way_leaves_the_previous_index(tmp_path, embedder, model_cache):
    index = tmp_path / "index"
    docs = write_docs(tmp_path / "docs")
    add_paths(index, [docs / "dues.txt"], SETTINGS, embedder, progress=False)
    before = version_name(index)

    many = tmp_path / "many"
    many.mkdir()
    for i in range(40):
        (many / f"notice-{i:02d}.txt").write_text(
            f"第{i}号通知\n第{i}车间工会小组本月组织职工技能比武，第{i}名以内的职工获得表彰。请各班组按时报名参加。",
            encoding="utf-8",
        )
    env = {
        **os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONUNBUFFERED": "1",
        "UNIONQA_INDEX_DIR": str(index), "UNIONQA_MODEL_CACHE": str(model_cache),
    }
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.fake_embedder", "add", str(many)], stderr=subprocess.PIPE, cwd=ROOT, env=env
    )
    assert child.stderr is not None
    seen, deadline = b"", time.monotonic() + 240
    # The progress bar redraws with "\r", never a newline, so read raw bytes.
    while "向量化".encode() not in seen and time.monotonic() < deadline and child.poll() is None:
        seen += os.read(child.stderr.fileno(), 4096)
    child.kill()  # SIGKILL, while it embeds
    child.wait(timeout=30)
    assert "向量化".encode() in seen, seen.decode(errors="replace")

    assert version_name(index) == before
    store = IndexStore.load(index, expected=SETTINGS)
    assert set(store.documents) == {"added/dues"}
    with open(index / LOCK_FILE) as lock:  # the dead writer's lock went with it
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)


def test_a_rebuild_keeps_documents_added_one_by_one_unless_told(tmp_path, embedder):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "dues.txt").write_text(DOCS["dues.txt"], encoding="utf-8")
    name, text = HANDBOOK
    extra = tmp_path / "elsewhere"
    extra.mkdir()
    (extra / name).write_text(text, encoding="utf-8")
    index = tmp_path / "index"

    build_index(corpus, index, SETTINGS, embedder, progress=False)
    add_paths(index, [extra / name], SETTINGS, embedder, progress=False)
    report = build_index(corpus, index, SETTINGS, embedder, progress=False)
    assert report.kept_added == 1
    assert set(IndexStore.load(index).documents) == {"dues", "added/handbook"}
    answer = Bot(IndexStore.load(index), embedder).ask("新职工多久内办理入会手续？")
    assert "一个月内办理入会手续" in answer.text
    assert answer.citations[0].doc_id == "added/handbook"

    build_index(corpus, index, SETTINGS, embedder, progress=False, keep_added=False)
    assert set(IndexStore.load(index).documents) == {"dues"}


def test_readers_during_updates_see_whole_versions(tmp_path, embedder):
    """A reader loading the index while a writer adds and removes a document again
    and again always gets one complete version: the old one or the new one."""
    import threading

    from index.tokens import tokenize_query

    folder = tmp_path / "docs"
    folder.mkdir()
    for name, text in DOCS.items():
        (folder / name).write_text(text, encoding="utf-8")
    extra = tmp_path / HANDBOOK[0]
    extra.write_text(HANDBOOK[1], encoding="utf-8")
    index = tmp_path / "index"
    add_paths(index, [folder], SETTINGS, embedder, progress=False)
    base = set(IndexStore.load(index).documents)
    states = {frozenset(base), frozenset(base | {"added/handbook"})}

    failures: list[BaseException] = []

    def write() -> None:
        try:
            for _ in range(8):
                add_paths(index, [extra], SETTINGS, embedder, progress=False)
                remove_documents(index, ["added/handbook"], SETTINGS)
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)

    writer = threading.Thread(target=write)
    writer.start()
    loads, seen = 0, set()
    while writer.is_alive() or loads == 0:
        store = IndexStore.load(index)
        documents = frozenset(store.documents)
        assert documents in states
        assert store.dense.ntotal == len(store.chunks) == sum(e["chunks"] for e in store.manifest.documents.values())
        assert store.search_bm25(tokenize_query("借阅期限"), 3)
        seen.add(documents)
        loads += 1
    writer.join()
    assert not failures, failures
    assert seen == states, "the reader should have seen both versions while they changed"
    print(f"\n{loads} loads during 16 updates")
