"""Approved answers (bot/curated.py) on the fake embedder: the store and its atomic writes,
citation checks, suspension when a cited document changes, serving through the Bot, and
the `unionqa curated` commands (export and import between two index folders)."""

from __future__ import annotations

import json
import os
import random
import shutil
from dataclasses import asdict, replace
from pathlib import Path

import pytest

from bot.bot import Bot
from bot.curated import (
    ACTIVE,
    REMOVED,
    SUSPENDED,
    CitedSpan,
    CuratedAnswer,
    CuratedError,
    check_span,
    find_excerpt,
    make_span,
    text_hash,
)
from bot.curated_match import CuratedMatcher, load_threshold
from bot.curated_reply import curated_reply, from_bot_answer
from bot.curated_store import CuratedStore, curated_path
from bot.records import CURATED
from index.store.folder import IndexStore
from index.update import add_paths, remove_documents
from ui.api import AnswerOut
from ui.cli import main

from .conftest import SETTINGS

DOCS = {
    "dues.txt": "工会会费\n会员按月缴纳会费，标准为本人工资收入的千分之五。会费主要用于会员活动和困难职工帮扶。",
    "library.txt": "职工书屋\n职工书屋每周开放六天，图书借阅期限为三十天，逾期可以续借一次。",
    "canteen.txt": "职工食堂\n职工食堂早餐七点开始供应，午餐十一点半开始供应，晚餐五点半开始供应。",
}
QUESTION = "会费按什么标准缴纳？"


@pytest.fixture
def index(tmp_path, embedder) -> Path:
    (tmp_path / "seed").mkdir()
    for name, text in DOCS.items():
        (tmp_path / "seed" / name).write_text(text, encoding="utf-8")
    add_paths(tmp_path / "index", [tmp_path / "seed"], SETTINGS, embedder, progress=False)
    return tmp_path / "index"


def documents_of(index_dir: Path) -> dict:
    return IndexStore.load(index_dir, expected=SETTINGS).documents


def doc_with(documents: dict, text: str) -> str:
    return next(d for d, doc in documents.items() if text in doc.text)


def approved(documents: dict, excerpt: str, question: str = QUESTION, answer_id: str = "a1") -> CuratedAnswer:
    span = find_excerpt(documents, doc_with(documents, excerpt), excerpt)
    return CuratedAnswer(answer_id, question, f"{excerpt}[1]", (span,), approved_at="2026-12-01")


def test_store_round_trip_and_atomic_write(tmp_path, index, monkeypatch):
    documents = documents_of(index)
    store = CuratedStore(curated_path(index))
    assert store.path.parent == index  # beside the versions, not inside one: a rebuild keeps it
    saved = store.add(approved(documents, "标准为本人工资收入的千分之五"), documents)
    assert store.load() == [saved]
    assert saved.citations[0].doc_hash == text_hash(documents[saved.citations[0].doc_id].text)
    before = store.path.read_bytes()

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        store.add(approved(documents, "图书借阅期限为三十天", "借书能借多久？", "a2"), documents)
    monkeypatch.undo()
    assert store.path.read_bytes() == before  # the old file, whole
    assert [p.name for p in index.iterdir() if ".tmp-" in p.name] == []  # no half-written file left


def test_a_broken_store_file_is_reported_not_overwritten(index):
    store = CuratedStore(curated_path(index))
    store.path.write_text("{not json", encoding="utf-8")
    with pytest.raises(CuratedError, match="无法读取审核回答文件"):
        store.load()
    with pytest.raises(CuratedError):
        store.update(lambda answers: answers)
    assert store.path.read_text(encoding="utf-8") == "{not json"


def test_every_citation_is_checked_against_the_index(index):
    documents = documents_of(index)
    dues = doc_with(documents, "千分之五")
    text = documents[dues].text
    start = text.index("千分之五")
    good = make_span(documents, dues, start, start + 4)
    assert good.text == "千分之五" and check_span(documents, good) == ""
    assert "不在当前索引中" in check_span(documents, replace(good, doc_id="added/nothing"))
    assert "不一致" in check_span(documents, replace(good, start=start + 1, end=start + 5))
    assert "超出" in check_span(documents, replace(good, end=len(text) + 10))
    with pytest.raises(CuratedError, match="找不到这段原文"):
        find_excerpt(documents, dues, "千分之六")
    store = CuratedStore(curated_path(index))
    with pytest.raises(CuratedError, match="至少要有一处引用|至少要引用一处"):
        store.add(CuratedAnswer("x", QUESTION, "答", ()), documents)
    with pytest.raises(CuratedError, match="第 1 处引用"):
        store.add(CuratedAnswer("x", QUESTION, "答", (replace(good, text="千分之六"),)), documents)
    assert store.load() == []


def test_answers_citing_a_changed_or_removed_document_are_suspended(tmp_path, index, embedder):
    """100 % of the approved answers citing a changed document: many answers with random
    spans, two documents changed in different ways (edited, removed), the third untouched."""
    documents = documents_of(index)
    store = CuratedStore(curated_path(index))
    rng = random.Random(19)
    answers = []
    for i in range(30):
        doc_id = rng.choice(sorted(documents))
        text = documents[doc_id].text
        start = rng.randrange(0, len(text) - 6)
        span = make_span(documents, doc_id, start, start + rng.randrange(2, 6))
        answers.append(store.add(CuratedAnswer(f"r{i}", f"问题{i}", "回答[1]", (span,)), documents))
    library = doc_with(documents, "职工书屋")
    dues = doc_with(documents, "千分之五")
    # the library's file changes (one character), the dues document is removed
    (tmp_path / "seed" / "library.txt").write_text(DOCS["library.txt"].replace("三十天", "四十天"), encoding="utf-8")
    add_paths(index, [tmp_path / "seed" / "library.txt"], SETTINGS, embedder, progress=False)
    remove_documents(index, [dues], SETTINGS)
    new_documents = documents_of(index)

    matcher = CuratedMatcher(store, threshold=0.5)
    bot = Bot(IndexStore.load(index, expected=SETTINGS), embedder, curated=matcher)  # a version load syncs
    after = {a.id: a for a in store.load()}
    touched = [a.id for a in answers if a.citations[0].doc_id in (library, dues)]
    untouched = [a.id for a in answers if a.id not in touched]
    assert touched and untouched
    assert all(after[i].state == SUSPENDED for i in touched)  # 100 %
    assert all(after[i].state == ACTIVE for i in untouched)
    removed = next(after[i] for i in touched if after[i].citations[0].doc_id == dues)
    assert removed.changes[0].removed and removed.changes[0].current_text == ""
    edited = next(after[i] for i in touched if after[i].citations[0].doc_id == library)
    assert "四十天" in edited.changes[0].current_text or edited.changes[0].current_text in new_documents[library].text
    # none of them is served, whatever is asked
    for i in touched:
        reply = bot.ask(f"问题{i}")
        assert reply.status != CURATED or reply.curated_id not in touched
    assert bot.ask(f"问题{untouched[0]}").curated_id == untouched[0]  # the others still are
    # confirming re-attaches the spans where their text still is; a removed document cannot be confirmed
    with pytest.raises(CuratedError, match="已被移除"):
        store.set_state(removed.id, new_documents, ACTIVE)
    still_there = [after[i] for i in touched if after[i].citations[0].doc_id == library
                   and after[i].citations[0].text in new_documents[library].text]
    if still_there:
        confirmed = store.set_state(still_there[0].id, new_documents, ACTIVE)
        assert confirmed.state == ACTIVE and confirmed.changes == ()
        assert check_span(new_documents, confirmed.citations[0]) == ""
    assert store.set_state(removed.id, new_documents, REMOVED).state == REMOVED


def test_a_changed_source_is_not_served_even_before_the_file_says_so(tmp_path, index, embedder):
    """The live check: an answer still marked active in the file is not served when the
    document it cites differs from the approved text (another process changed the index)."""
    documents = documents_of(index)
    store = CuratedStore(curated_path(index))
    store.add(approved(documents, "图书借阅期限为三十天", "借书能借多久？"), documents)
    bot = Bot(IndexStore.load(index, expected=SETTINGS), embedder, curated=CuratedMatcher(store, threshold=0.95))
    served = bot.ask("借书能借多久？")
    assert served.status == CURATED and served.approved_at == "2026-12-01"
    assert served.citations[0].text == "图书借阅期限为三十天" and served.citations[0].markers == [len("图书借阅期限为三十天")]
    # the index changes, the file is left alone: a Bot on the new version without its sync
    (tmp_path / "seed" / "library.txt").write_text(DOCS["library.txt"] + "\n新增：寒暑假延长开放时间。",
                                                   encoding="utf-8")
    add_paths(index, [tmp_path / "seed" / "library.txt"], SETTINGS, embedder, progress=False)
    unsynced = Bot(IndexStore.load(index, expected=SETTINGS), embedder)
    unsynced.curated = CuratedMatcher(store, threshold=0.95)
    assert store.load()[0].state == ACTIVE
    assert unsynced.ask("借书能借多久？").status != CURATED


def test_matching_serves_close_questions_only(index, embedder):
    documents = documents_of(index)
    store = CuratedStore(curated_path(index))
    store.add(replace(approved(documents, "标准为本人工资收入的千分之五"), phrasings=("工会会费交多少？",)), documents)
    bot = Bot(IndexStore.load(index, expected=SETTINGS), embedder, curated=CuratedMatcher(store, threshold=0.97))
    assert bot.ask(QUESTION).status == CURATED
    assert bot.ask("工会会费交多少？").status == CURATED  # an approved phrasing
    assert bot.ask("职工食堂几点开饭？").status != CURATED
    # a removed answer is no longer served: the matcher re-reads the changed file
    store.set_state(store.load()[0].id, documents, REMOVED)
    assert bot.ask(QUESTION).status != CURATED
    # no fitted threshold for a model: nothing is served
    assert load_threshold("fake:hash-384") is None
    assert CuratedMatcher(store, None).match(QUESTION, documents, embedder) is None


def test_the_bots_answer_can_be_taken_with_its_citations(bot):
    reply = bot.ask("试用期最长多久？")
    text, spans = from_bot_answer(reply, bot.documents)
    assert text == reply.text and spans
    assert all(check_span(bot.documents, s) == "" for s in spans)
    answer = CuratedAnswer("b1", "试用期最长多久？", text, tuple(spans), approved_at="2026-12-02")
    served = curated_reply(answer, bot.documents, "试用期最多几个月？", 0.97)
    assert served.status == CURATED and served.to_dict()["status"] == "curated"
    api = AnswerOut.model_validate(asdict(served)).model_dump()  # what /api/ask sends
    assert api["status"] == "curated" and api["approved_at"] == "2026-12-02" and api["curated_id"] == "b1"
    assert [c.n for c in served.citations] == list(range(1, len(spans) + 1))
    assert all(served.text.startswith(f"[{c.n}]", m) for c in served.citations for m in c.markers)


def cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_add_list_export_import_remove(tmp_path, index, capsys, monkeypatch):
    monkeypatch.setenv("UNIONQA_EMBEDDING_MODEL", SETTINGS.embedding_model)
    documents = documents_of(index)
    dues = doc_with(documents, "千分之五")
    code, out, err = cli(capsys, "curated", "add", "--index", str(index), "--question", QUESTION,
                         "--answer", "按本人工资收入的千分之五。[1]", "--excerpt", f"{dues}:标准为本人工资收入的千分之五",
                         "--phrasing", "会费交多少？", "--by", "张三")
    assert code == 0, err
    code, out, err = cli(capsys, "curated", "add", "--index", str(index), "--question", "没有引用",
                         "--answer", "答")
    assert code == 2 and "至少" in err and "Traceback" not in err
    code, out, err = cli(capsys, "curated", "add", "--index", str(index), "--question", "错位",
                         "--answer", "答", "--cite", f"{dues}:0-99999")
    assert code == 2 and "超出" in err
    code, out, _ = cli(capsys, "curated", "list", "--index", str(index), "--json")
    listed = json.loads(out)
    assert [a["question"] for a in listed] == [QUESTION] and listed[0]["approved_by"] == "张三"

    # export from this server, import into another with the same documents, and into one without them
    for fmt in ("json", "csv"):
        exported = tmp_path / f"export.{fmt}"
        assert cli(capsys, "curated", "export", "--index", str(index), "--format", fmt, "--out", str(exported))[0] == 0
        other = tmp_path / f"other-{fmt}"
        shutil.copytree(index, other)
        curated_path(other).unlink()
        code, out, err = cli(capsys, "curated", "import", str(exported), "--index", str(other))
        assert code == 0, err
        assert [(a.question, a.citations, a.phrasings) for a in CuratedStore(curated_path(other)).load()] == \
               [(a.question, a.citations, a.phrasings) for a in CuratedStore(curated_path(index)).load()]
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(index, elsewhere)
    curated_path(elsewhere).unlink()
    remove_documents(elsewhere, [dues], SETTINGS)
    code, out, err = cli(capsys, "curated", "import", str(tmp_path / "export.json"), "--index", str(elsewhere))
    assert code == 2 and "不在当前索引中" in err and "未导入任何一条" in err
    assert not curated_path(elsewhere).exists()
    bad = tmp_path / "bad.json"
    bad.write_text('{"answers": [{"question": "问", "answer": "答", "citations": []}]}', encoding="utf-8")
    code, out, err = cli(capsys, "curated", "import", str(bad), "--index", str(index))
    assert code == 2 and "第 1 条" in err and "至少" in err

    answer_id = listed[0]["id"]
    assert cli(capsys, "curated", "remove", answer_id, "--index", str(index))[0] == 0
    assert CuratedStore(curated_path(index)).load()[0].state == REMOVED
    code, out, err = cli(capsys, "curated", "remove", "nonexistent", "--index", str(index))
    assert code == 2 and "没有编号" in err


def test_cli_remove_of_a_cited_document_suspends_its_answers(index, capsys, monkeypatch):
    monkeypatch.setenv("UNIONQA_EMBEDDING_MODEL", SETTINGS.embedding_model)
    documents = documents_of(index)
    store = CuratedStore(curated_path(index))
    store.add(approved(documents, "标准为本人工资收入的千分之五"), documents)
    code, out, err = cli(capsys, "remove", "--index", str(index), doc_with(documents, "千分之五"))
    assert code == 0, err
    assert "需复核" in err
    assert store.load()[0].state == SUSPENDED


def test_cited_span_json_round_trip():
    span = CitedSpan("laws/x", "文字", 3, 5, "abc")
    answer = CuratedAnswer("i", "问", "答", (span,), ("另一问",), "王", "2026-12-03")
    from bot.curated import answer_from_json

    assert answer_from_json(json.loads(json.dumps(answer.to_json(), ensure_ascii=False))) == answer
