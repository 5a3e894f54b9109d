"""The Milvus store (index/store/milvus.py) against the FAISS + bm25s one, on milvus-lite in
this process: the same index answers the same questions the same way; builds, adds,
removes and restarts behave alike; a failed save leaves the previous version live.

The bundled corpus is embedded once (the session's `bundled_index`) and copied into
milvus-lite with `MilvusStore.from_store`; the build, add and remove paths themselves run
on small corpora here and in tests/test_incremental.py (parametrized by engine)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bot.bot import Bot
from bot.eval.evaluate import build_store, load_squad, score_items, summarize
from corpus.records import Document, Paragraph
from index.build import build_index
from index.store.errors import StoreError
from index.store.folder import IndexStore
from index.store.milvus import MilvusStore, bm25_query_text
from index.store.milvus_client import client_for, close_clients, live_collection, version_collections
from index.store.spec import StoreSpecError, has_index, live_name, load_store, parse_store, read_manifest
from index.store.versions import KEEP_VERSIONS
from index.update import add_paths, remove_documents
from ui import config as cfg
from ui.asking import Asker

from .conftest import SETTINGS

ROOT = Path(__file__).resolve().parents[1]
SLICE = ROOT / "tests" / "data" / "cmrc2018_slice.json"
QUESTIONS = [
    "试用期最长多久？",
    "工会会费怎么交？",
    "工匠精神是什么？",
    "加班费怎么算？",
    "女职工产假有多少天？",
    "用人单位解除劳动合同要提前多久通知？",
    "工会主席由谁选举？",
    "今天天气怎么样？",
]


@pytest.fixture(scope="module")
def lite(tmp_path_factory) -> str:
    """One milvus-lite file for the module (opening one costs a second or two)."""
    yield str(tmp_path_factory.mktemp("milvus") / "index.db")
    close_clients()


@pytest.fixture(scope="module")
def pair(bundled_index, lite):
    """The bundled corpus's FAISS index and the same index saved into milvus-lite."""
    faiss_store = IndexStore.load(bundled_index, expected=SETTINGS)
    spec = lite + "?name=bundled"
    milvus = MilvusStore.from_store(faiss_store, parse_store(spec).milvus)
    milvus.save()
    return faiss_store, load_store(spec, bundled_index, expected=SETTINGS), spec


def test_the_store_setting_names_an_engine(tmp_path):
    assert parse_store("").milvus is None and parse_store("faiss").milvus is None
    server = parse_store("milvus://db.example:19531?name=union_a").milvus
    assert (server.uri, server.name, server.lite) == ("http://db.example:19531", "unionqa_union_a", False)
    assert parse_store("milvus://u:p%40ss@db.example").milvus.token == "u:p@ss"
    local = parse_store(f"milvus-lite://{tmp_path}/x.db").milvus
    assert (local.uri, local.name, local.lite) == (f"{tmp_path}/x.db", "unionqa_main", True)
    assert parse_store("idx.db").milvus.uri.endswith("idx.db")
    for bad in ("mysql://x", "milvus://", "milvus://h:99999", "milvus-lite://x.txt", "milvus://h?name=a-b"):
        with pytest.raises(StoreSpecError):
            parse_store(bad)
    with pytest.raises(cfg.ConfigError, match="UNIONQA_STORE.*milvus://"):
        cfg.from_env({"UNIONQA_STORE": "postgres://db"})
    assert cfg.from_env({"UNIONQA_STORE": "milvus://db:19530"}).store == "milvus://db:19530"
    assert cfg.Config().store == ""


def test_milvus_counts_a_repeated_query_term_so_weights_map_to_repetitions(pair):
    """The weighted-terms mapping rests on this: a term twice in the query scores twice."""
    _, milvus, _ = pair
    once = dict(milvus.search_bm25(["试用期"], 5))
    twice = dict(milvus.search_bm25(["试用期", "试用期"], 5))
    assert once and once.keys() == twice.keys()
    for vid, score in once.items():
        assert twice[vid] == pytest.approx(2 * score, rel=1e-5)
    text, scale = bm25_query_text({"试用期": 1.0, "期限": 0.5, "无关": 0.01})
    assert text.split().count("试用期") == 20 and text.split().count("期限") == 10 and "无关" not in text
    assert scale == pytest.approx(2.5 * 20)


def test_both_searches_score_like_faiss_and_bm25s(pair, embedder):
    faiss_store, milvus, _ = pair
    for question in QUESTIONS:
        vector = embedder.encode_queries([question])[0]
        dense, dense_m = faiss_store.search_dense(vector, 20), milvus.search_dense(vector, 20)
        assert [i for i, _ in dense] == [i for i, _ in dense_m], question
        assert [s for _, s in dense_m] == pytest.approx([s for _, s in dense], abs=1e-5)
        terms = Bot(faiss_store, embedder).retrieve(question)[2].terms
        lexical, lexical_m = faiss_store.search_bm25(terms, 10), milvus.search_bm25(terms, 10)
        assert lexical_m[0][0] == lexical[0][0], question
        assert len({i for i, _ in lexical[:5]} & {i for i, _ in lexical_m[:5]}) >= 3, question
    # Where Milvus's jieba keeps every token whole, the scores are bm25s's (weights rounded to
    # 1/20); a search-mode sub-word it cuts again ("会主" of 工会主席) shifts them (module docstring).
    terms = Bot(faiss_store, embedder).retrieve("试用期最长多久？")[2].terms
    lexical, lexical_m = dict(faiss_store.search_bm25(terms, 10)), dict(milvus.search_bm25(terms, 10))
    assert lexical.keys() == lexical_m.keys()
    assert all(lexical_m[i] == pytest.approx(lexical[i], rel=0.02) for i in lexical)


def test_the_same_questions_get_the_same_answers(pair, embedder):
    faiss_store, milvus, _ = pair
    faiss_bot, milvus_bot = Bot(faiss_store, embedder), Bot(milvus, embedder)
    for question in QUESTIONS:
        _, hits, _ = faiss_bot.retrieve(question)
        _, hits_m, _ = milvus_bot.retrieve(question)
        assert hits_m[0].chunk == hits[0].chunk, question
        answer, answer_m = faiss_bot.ask(question), milvus_bot.ask(question)
        assert answer_m.status == answer.status, question
        assert [c.title for c in answer_m.citations] == [c.title for c in answer.citations], question


def test_a_loaded_milvus_store_round_trips_the_index_exactly(pair):
    faiss_store, milvus, _ = pair
    assert milvus.chunks == faiss_store.chunks and milvus.tokens == faiss_store.tokens
    assert milvus.documents == faiss_store.documents
    assert milvus.manifest.documents == faiss_store.manifest.documents
    for vid in list(faiss_store.chunks)[:50]:
        assert milvus.sentence_spans(vid) == faiss_store.sentence_spans(vid)
        assert np.array_equal(milvus.sentence_vectors(vid), faiss_store.sentence_vectors(vid))
        assert np.array_equal(milvus.chunk_vector(vid), faiss_store.chunk_vector(vid))
    for token in ("试用期", "工会", "没有这个词"):
        assert milvus.idf(token) == faiss_store.idf(token) and milvus.knows(token) == faiss_store.knows(token)


def test_milvus_hybrid_search_fuses_in_the_server(pair, embedder):
    _, milvus, _ = pair
    bot = Bot(milvus, embedder)
    _, hits, evidence = bot.retrieve("试用期最长多久？")
    fused = milvus.search_hybrid(evidence.vector, evidence.terms, 5)
    assert len(fused) == 5 and fused[0][1] >= fused[-1][1]
    # what both searches rank high is what the server's fusion ranks high
    assert hits[0].vector_id in [i for i, _ in fused]
    weighted = milvus.search_hybrid(evidence.vector, evidence.terms, 5, ranker="weighted", weights=(0.5, 0.5))
    assert len(weighted) == 5


def test_the_bot_loads_from_milvus_and_answers_with_citations(pair, bundled_index, embedder):
    _, _, spec = pair
    bot = Bot.load(bundled_index, expected=SETTINGS, embedder=embedder, store=spec)
    assert isinstance(bot.store, MilvusStore)
    answer = bot.ask("试用期最长多久？")
    assert answer.status == "answered" and answer.citations
    assert "劳动合同法" in answer.citations[0].title or "劳动法" in answer.citations[0].title
    assert "六个月" in answer.text


def test_hybrid_hit_at_5_on_the_cmrc_slice_agrees_with_faiss(embedder, lite):
    documents, items = load_squad(SLICE)
    faiss_store, _ = build_store(documents, SETTINGS, embedder)
    milvus = MilvusStore.from_store(faiss_store, parse_store(lite + "?name=cmrc").milvus)
    milvus.save()
    rows = score_items(Bot(faiss_store, embedder), items, "faiss")
    rows_m = score_items(Bot(milvus, embedder), items, "milvus")
    faiss_metrics, milvus_metrics = summarize(rows), summarize(rows_m)
    assert abs(milvus_metrics["hit@5"] - faiss_metrics["hit@5"]) <= 0.01
    assert abs(milvus_metrics["mrr@10"] - faiss_metrics["mrr@10"]) <= 0.02
    assert milvus_metrics["hit@5"] >= 0.9


# ----- versions, add, remove, restart ----------------------------------------------------


DOCS = {
    "dues.txt": "工会会费\n会员按月缴纳会费，标准为本人工资收入的千分之五。会费主要用于会员活动和困难职工帮扶。",
    "library.txt": "职工书屋\n职工书屋每周开放六天，借阅期限为三十天。",
}
HANDBOOK = "# 新职工手册\n\n新入职职工应当在一个月内办理入会手续，并参加工会组织的入职培训。"


def small_corpus(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in DOCS.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def test_a_failed_save_leaves_the_previous_version_live(tmp_path, embedder, lite, monkeypatch):
    spec, index = lite + "?name=failing", tmp_path / "index"
    build_index(small_corpus(tmp_path / "docs"), index, SETTINGS, embedder, progress=False, store=spec)
    before = live_name(spec, index)
    client = client_for(parse_store(spec).milvus)
    collections = set(client.list_collections())

    def broken(self, name):
        raise RuntimeError("disk full")

    monkeypatch.setattr(MilvusStore, "_write_documents", broken)
    (tmp_path / "docs" / "handbook.md").write_text(HANDBOOK, encoding="utf-8")
    with pytest.raises(StoreError, match="原索引未改动"):
        build_index(tmp_path / "docs", index, SETTINGS, embedder, progress=False, store=spec)
    assert live_name(spec, index) == before
    assert set(client.list_collections()) == collections  # the half-written version was dropped
    monkeypatch.undo()
    assert set(load_store(spec, index, expected=SETTINGS).documents) == {"dues", "library"}


def test_versions_are_collections_behind_one_alias(tmp_path, embedder, lite):
    spec, index = lite + "?name=versions", tmp_path / "index"
    location = parse_store(spec).milvus
    assert not has_index(spec, index)
    names = []
    for _ in range(KEEP_VERSIONS + 2):
        build_index(small_corpus(tmp_path / "docs"), index, SETTINGS, embedder, progress=False, store=spec)
        names.append(live_collection(location))
    assert names == [f"unionqa_versions_v{n:04d}" for n in range(1, KEEP_VERSIONS + 3)]
    assert version_collections(client_for(location), location.name) == names[-KEEP_VERSIONS:]
    # a save killed half-way leaves a version nobody points at: the next save drops it
    MilvusStore(SETTINGS, embedder.dim, location)._create("unionqa_versions_v0099")
    build_index(tmp_path / "docs", index, SETTINGS, embedder, progress=False, store=spec)
    assert live_collection(location) == "unionqa_versions_v0100"
    assert version_collections(client_for(location), location.name) == [names[-1], "unionqa_versions_v0100"]
    assert read_manifest(spec, index).counts == {"documents": 2, "chunks": 2}
    assert not (index / "CURRENT").exists()  # the folder only holds the writer lock


def test_a_server_picks_up_adds_and_removes_from_milvus(tmp_path, embedder, lite):
    spec, index = lite + "?name=served", tmp_path / "index"
    build_index(small_corpus(tmp_path / "docs"), index, SETTINGS, embedder, progress=False, store=spec)
    asker = Asker(Bot.load(index, expected=SETTINGS, embedder=embedder, store=spec), 500, index_dir=index)
    first = asker.version
    assert first == live_name(spec, index)
    (tmp_path / "new").mkdir()
    (tmp_path / "new" / "handbook.md").write_text(HANDBOOK, encoding="utf-8")
    report = add_paths(index, [tmp_path / "new" / "handbook.md"], SETTINGS, embedder, progress=False, store=spec)
    assert report.count("added") == 1 and report.version == live_name(spec, index) != first
    asker.reload()
    assert asker.version == report.version and "added/handbook" in asker.bot.documents
    answer = asker.ask("新职工多久内办理入会手续？")
    assert "一个月" in answer.text and answer.citations[0].title == "新职工手册"
    remove_documents(index, ["added/handbook"], SETTINGS, store=spec)
    asker.reload()
    assert "added/handbook" not in asker.bot.documents
    assert not asker.bot.store.search_bm25(["入会"], 5)


def run_cli(*args: str, index: Path, spec: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "UNIONQA_INDEX_DIR": str(index),
           "UNIONQA_STORE": spec}
    return subprocess.run([sys.executable, "-m", "tests.fake_embedder", *args], capture_output=True, text=True, cwd=ROOT,
                          env=env, timeout=120)


def test_a_restarted_process_reads_the_same_index_and_a_locked_file_is_a_clear_error(tmp_path, embedder, lite):
    spec, index = lite + "?name=restart", tmp_path / "index"
    build_index(small_corpus(tmp_path / "docs"), index, SETTINGS, embedder, progress=False, store=spec)
    # milvus-lite lets one process open the file: while this one holds it, another is told so
    locked = run_cli("list", "--json", index=index, spec=spec)
    assert locked.returncode != 0 and "正被另一个程序使用" in locked.stderr and "Traceback" not in locked.stderr
    close_clients()  # as when the process ends
    listed = run_cli("list", "--json", index=index, spec=spec)
    assert listed.returncode == 0, listed.stderr
    assert {row["doc_id"] for row in json.loads(listed.stdout)} == {"dues", "library"}
    assert set(load_store(spec, index).documents) == {"dues", "library"}  # reopened here afterwards


def test_a_document_longer_than_a_row_round_trips(tmp_path, lite):
    """The documents are cut into pieces across rows; a long one comes back whole."""
    text = "第一条 " + "职工享有参加和组织工会的权利。" * 3000
    document = Document(doc_id="long", title="长文", source="long.txt", text=text,
                        paragraphs=(Paragraph(0, len(text)),))
    location = parse_store(lite + "?name=long").milvus
    store = MilvusStore(SETTINGS, 4, location)
    store.add(document, [], [], np.zeros((0, 4), np.float32), [])
    store.save()
    assert MilvusStore.load_from(location).documents["long"] == document


def test_admin_uploads_and_removals_go_into_milvus(tmp_path, embedder, lite):
    """The admin page over HTTP on a real server whose index is in Milvus."""
    import httpx

    from ui.config import Config
    from ui.server import bind_socket, create_app, running

    spec, index = lite + "?name=admin", tmp_path / "index"
    build_index(small_corpus(tmp_path / "docs"), index, SETTINGS, embedder, progress=False, store=spec)
    bot = Bot.load(index, expected=SETTINGS, embedder=embedder, store=spec)
    token = "milvus-admin-token"
    config = Config(index_dir=index, store=spec, admin_token=token, feedback_log=tmp_path / "feedback.jsonl")
    auth = {"Authorization": f"Bearer {token}"}
    with running(create_app(config, bot), bind_socket()) as url, httpx.Client(base_url=url, timeout=120) as client:
        r = client.post("/admin/upload", files=[("files", ("新职工手册.md", HANDBOOK.encode("utf-8"), "text/markdown"))],
                        headers=auth)
        assert r.status_code == 200 and "已加入" in r.text
        assert "added/新职工手册" in load_store(spec, index).documents
        answer = client.post("/api/ask", json={"question": "新职工多久内办理入会手续？"}).json()
        assert "一个月" in answer["text"] and "added/新职工手册" in {c["doc_id"] for c in answer["citations"]}
        removed = client.post("/admin/remove", data={"doc_id": "added/新职工手册"}, headers=auth)
        assert removed.status_code == 200 and "已移除" in removed.text
        answer = client.post("/api/ask", json={"question": "新职工多久内办理入会手续？"}).json()
        assert "added/新职工手册" not in {c["doc_id"] for c in answer["citations"]}
    assert set(load_store(spec, index).documents) == {"dues", "library"}
