"""The question log (ui/questionlog.py): what is kept, what never is, retention, purge,
several writing processes, and its tie to the answers and the feedback; the console's
CSV export and grouping without a browser (tests/test_console.py has the browser)."""

from __future__ import annotations

import csv
import io
import multiprocessing
import os
import sqlite3
import stat
import time
from pathlib import Path

import httpx
import pytest

from bot.records import Answer
from tests.fixtures.questionlog_writer import write_many
from ui.asking import Asker
from ui.cli import main
from ui.config import Config, ConfigError, from_env
from ui.csvexport import csv_lines, safe_cell
from ui.feedback import FeedbackLog
from ui.questiongroups import group_questions
from ui.questionlog import DB_NAME, SALT_NAME, QuestionLog, QuestionLogError, answer_key
from ui.server import bind_socket, create_app, running

ADDRESS = "203.0.113.77"
TOKEN = "console-口令"


def rows(path: Path) -> list[sqlite3.Row]:
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute("SELECT * FROM questions ORDER BY id").fetchall()
    finally:
        conn.close()


def test_a_row_keeps_what_the_readme_says_and_a_salted_hash_not_the_address(tmp_path):
    qlog = QuestionLog(tmp_path / DB_NAME)
    qlog.record("会费怎么交？", "answered", ["a", "b", "a"], 12.345, client=ADDRESS, key="k1")
    qlog.flush()
    (row,) = rows(qlog.path)
    assert (row["question"], row["outcome"], row["docs"], row["latency_ms"]) == ("会费怎么交？", "answered",
                                                                                  '["a", "b"]', 12.3)
    assert row["client"] and row["client"] != ADDRESS and len(row["client"]) == 16
    assert row["client"] == qlog.client_hash(ADDRESS) != qlog.client_hash("203.0.113.78")
    salt = tmp_path / SALT_NAME
    assert stat.S_IMODE(salt.stat().st_mode) == 0o600 and len(salt.read_bytes()) == 32
    # the same salt after a restart: the same address hashes the same way
    assert QuestionLog(qlog.path).client_hash(ADDRESS) == row["client"]
    # the address is nowhere on disk: not in the database, not in its WAL
    for f in tmp_path.iterdir():
        assert ADDRESS.encode() not in f.read_bytes(), f.name


def test_retention_drops_old_rows_at_start_and_keeps_recent_ones(tmp_path):
    path = tmp_path / DB_NAME
    qlog = QuestionLog(path, days=90)
    now = time.time()
    qlog.record("很久以前的问题", "refused", [], 5, asked_at=now - 91 * 86400)
    qlog.record("上个月的问题", "answered", [], 5, asked_at=now - 30 * 86400)
    qlog.flush()
    assert len(rows(path)) == 2
    QuestionLog(path, days=90)  # a server start
    assert [r["question"] for r in rows(path)] == ["上个月的问题"]
    assert QuestionLog(path, days=10).count() == 0  # a shorter retention applies at once
    with pytest.raises(ValueError):
        QuestionLog(path, days=0)


def test_retention_runs_again_a_day_later_while_serving(tmp_path):
    qlog = QuestionLog(tmp_path / DB_NAME, days=1)
    qlog.record("前天的问题", "answered", [], 5, asked_at=time.time() - 2 * 86400)
    qlog.flush()
    assert qlog.count() == 1  # written after the start's pass
    qlog._retained_at -= 86400  # a day has gone by since that pass
    qlog.record("今天的问题", "answered", [], 5)
    qlog.flush()
    assert [r["question"] for r in rows(qlog.path)] == ["今天的问题"]


def test_purge_command(tmp_path, capsys):
    feedback = tmp_path / "feedback.jsonl"
    qlog = QuestionLog(tmp_path / DB_NAME)
    qlog.record("二〇二〇年的问题", "answered", [], 5, asked_at=time.mktime((2020, 6, 1, 12, 0, 0, 0, 0, -1)))
    qlog.record("今天的问题", "answered", [], 5)
    qlog.flush()
    assert main(["log", "purge", "--before", "2021-01-01", "--feedback-log", str(feedback)]) == 0
    assert "已删除 1 条" in capsys.readouterr().out
    assert [r["question"] for r in rows(qlog.path)] == ["今天的问题"]
    assert main(["log", "purge", "--before", "2021-13-01", "--feedback-log", str(feedback)]) == 2
    assert "YYYY-MM-DD" in capsys.readouterr().err
    assert main(["log", "purge", "--feedback-log", str(feedback)]) == 2
    assert "--all" in capsys.readouterr().err
    assert main(["log", "purge", "--all", "--feedback-log", str(feedback)]) == 0
    assert rows(qlog.path) == []
    for f in tmp_path.iterdir():  # the purged text is gone from the WAL file as well
        assert "今天的问题".encode() not in f.read_bytes(), f.name


def test_two_processes_write_at_once_and_no_row_is_lost(tmp_path):
    path = tmp_path / DB_NAME
    QuestionLog(path)  # the salt made once, before the race
    context = multiprocessing.get_context("spawn")
    writers = [context.Process(target=write_many, args=(str(path), tag, 1000)) for tag in ("甲", "乙")]
    for w in writers:
        w.start()
    for w in writers:
        w.join(60)
        assert w.exitcode == 0
    kept = rows(path)
    assert len(kept) == 2000
    assert {r["question"].split()[0] for r in kept} == {"甲", "乙"}


def test_config_turns_the_log_on_and_sets_its_days():
    assert Config().log_questions is False and Config().log_days == 90
    config = from_env({"UNIONQA_LOG_QUESTIONS": "1", "UNIONQA_LOG_DAYS": "30"})
    assert (config.log_questions, config.log_days) == (True, 30)
    assert config.question_log_path() == config.feedback_log.parent / DB_NAME
    with pytest.raises(ConfigError):
        from_env({"UNIONQA_LOG_DAYS": "0"})


@pytest.fixture(scope="module")
def logged_server(bot, tmp_path_factory):
    home = tmp_path_factory.mktemp("qlog")
    config = Config(feedback_log=home / "feedback.jsonl", log_questions=True, admin_token=TOKEN)
    asker = Asker(bot, config.max_question_chars)
    with running(create_app(config, bot, asker=asker), bind_socket()) as url:
        yield url, home, asker


def test_answers_from_every_route_are_logged_with_their_outcome(logged_server):
    url, home, asker = logged_server
    qlog = asker.question_log
    before = qlog.last_id()
    with httpx.Client(base_url=url, timeout=60) as client:
        answered = client.post("/api/ask", json={"question": "劳模精神的内涵是什么？"}).json()
        refused = client.post("/api/ask", json={"question": "今天天气怎么样？"}).json()
        streamed = client.post("/api/ask", json={"question": "劳模精神的内涵是什么？", "stream": True})
        v1 = client.post("/v1/chat/completions", json={"model": "unionqa", "messages": [
            {"role": "user", "content": "今天天气怎么样？"}]})
    assert streamed.status_code == 200 and v1.status_code == 200
    qlog.flush()
    new = [r for r in rows(home / DB_NAME) if r["id"] > before]
    assert [(r["question"], r["outcome"]) for r in new] == [
        ("劳模精神的内涵是什么？", answered["status"]), ("今天天气怎么样？", "refused"),
        ("劳模精神的内涵是什么？", answered["status"]), ("今天天气怎么样？", "refused")]
    assert answered["status"] in ("answered", "related") and refused["status"] == "refused"
    cited = sorted({c["doc_id"] for c in answered["citations"]})
    assert sorted(eval(new[0]["docs"])) == cited and new[1]["docs"] == "[]"
    assert all(r["latency_ms"] > 0 and r["client"] and r["client"] != "127.0.0.1" for r in new)
    assert new[0]["answer_key"] == answer_key("劳模精神的内涵是什么？", answered["text"])


def test_feedback_is_tied_to_the_logged_question(tmp_path):
    qlog = QuestionLog(tmp_path / DB_NAME)
    answer = Answer(text="会费按工资的百分之零点五交纳。", refused=False, question="会费怎么交？")
    for _ in range(2):  # asked twice, the same answer: the vote goes to the latest
        qlog.record(answer.question, "answered", [], 3, key=answer_key(answer.question, answer.text))
    qlog.record("别的问题", "refused", [], 3, key=answer_key("别的问题", "无"))
    feedback = FeedbackLog(tmp_path / "feedback.jsonl", qlog)
    feedback.record(answer, "down", "没说清楚按哪部分工资")
    qlog.flush()
    kept = rows(qlog.path)
    assert [(r["rating"], r["comment"]) for r in kept] == [(None, None), ("down", "没说清楚按哪部分工资"), (None, None)]
    assert feedback.read()[0]["comment"] == "没说清楚按哪部分工资"


def test_a_broken_log_never_breaks_an_answer(bot, tmp_path, caplog):
    config = Config(feedback_log=tmp_path / "feedback.jsonl", log_questions=True)
    asker = Asker(bot, config.max_question_chars)
    app = create_app(config, bot, asker=asker)

    def broken(*args, **kwargs):
        raise sqlite3.OperationalError("disk I/O error")

    asker.question_log.record = broken
    with running(app, bind_socket()) as url:
        r = httpx.post(url + "api/ask", json={"question": "劳模精神的内涵是什么？"}, timeout=60)
    assert r.status_code == 200 and r.json()["text"]
    assert "could not log the question" in caplog.text


def test_nothing_is_logged_by_default(bot, tmp_path):
    config = Config(feedback_log=tmp_path / "feedback.jsonl", admin_token=TOKEN)
    app = create_app(config, bot)
    with running(app, bind_socket()) as url:
        assert httpx.post(url + "api/ask", json={"question": "劳模精神的内涵是什么？"}, timeout=60).status_code == 200
        page = httpx.get(url + "admin/console", headers={"Authorization": f"Bearer {TOKEN}".encode()})
    assert page.status_code == 200 and "未开启提问记录" in page.text
    assert not (tmp_path / DB_NAME).exists()


def test_csv_cells_that_look_like_formulas_are_made_text():
    assert [safe_cell(v) for v in ("=1+1", "+86", "-3", "@SUM(A1)", "\t=x", "普通", 5, None)] == [
        "'=1+1", "'+86", "'-3", "'@SUM(A1)", "'\t=x", "普通", "5", ""]
    text = "".join(csv_lines(["问题", "次数"], [['=HYPERLINK("http://x","点我")', 3], ['带"引号",和逗号\n换行', 1]]))
    assert text.startswith("\ufeff")
    parsed = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert parsed == [["问题", "次数"], ['\'=HYPERLINK("http://x","点我")', "3"], ['带"引号",和逗号\n换行', "1"]]


def test_console_exports_and_page_over_http(logged_server):
    url, home, asker = logged_server
    qlog = asker.question_log
    qlog.record("=cmd|' /C calc'!A0", "refused", [], 2, client="198.51.100.1")
    qlog.flush()
    auth = {"Authorization": f"Bearer {TOKEN}".encode()}
    with httpx.Client(base_url=url, timeout=60) as client:
        assert client.get("/admin/console").status_code == 401
        assert client.get("/admin/console/log.csv").status_code == 401
        page = client.get("/admin/console", headers=auth)
        raw = client.get("/admin/console/log.csv", headers=auth)
        groups = client.get("/admin/console/groups.csv", headers=auth)
    assert page.status_code == 200 and "<svg" in page.text and "写审核回答" in page.text
    assert "style-src 'unsafe-inline'" in page.headers["content-security-policy"]  # site.css, inline
    assert "script-src" not in page.headers["content-security-policy"]
    assert "/admin/curated/new?question=%3Dcmd%7C" in page.text
    assert raw.headers["content-type"].startswith("text/csv")
    log_rows = list(csv.reader(io.StringIO(raw.text.lstrip("\ufeff"))))
    assert log_rows[0][:4] == ["编号", "时间", "问题", "结果"]
    assert ["'=cmd|' /C calc'!A0", "未能回答"] in [r[2:4] for r in log_rows]
    assert "198.51.100.1" not in raw.text
    group_rows = list(csv.reader(io.StringIO(groups.text.lstrip("\ufeff"))))
    assert any(r[3] == "'=cmd|' /C calc'!A0" and r[1] == "未回答" for r in group_rows)


def test_grouping_puts_rephrasings_together_and_keeps_topics_apart(embedder):
    def item(text, n, outcome="answered", down=0):
        return {"question": text, "count": n, "outcomes": {outcome: n}, "up": 0, "down": down, "docs": {}}

    distinct = [item("工会会费怎么交纳？", 40, down=2), item("工会会费怎么交纳", 12), item("请问工会会费怎么交纳？", 7),
                item("职工疗休养为期几天？", 20, "refused"), item("职工疗休养为期几天", 3, "refused")]
    groups = group_questions(distinct, embedder.encode_queries, 0.08)  # the fake embedder: rephrasings within 0.08
    assert [(g.example, g.count) for g in groups] == [("工会会费怎么交纳？", 59), ("职工疗休养为期几天？", 23)]
    assert groups[0].down == 2 and groups[1].main_outcome == "refused"


def test_grouping_beyond_the_clustered_head_joins_near_groups(embedder):
    distinct = [{"question": q, "count": n, "outcomes": {"answered": n}, "up": 0, "down": 0, "docs": {}}
                for q, n in [("工会会费怎么交纳？", 9), ("职工疗休养为期几天？", 8), ("工会会费怎么交纳", 2),
                             ("劳模精神的内涵是什么？", 1)]]
    groups = group_questions(distinct, embedder.encode_queries, 0.08, clustered=2)
    assert sorted((g.example, g.count) for g in groups) == [
        ("劳模精神的内涵是什么？", 1), ("工会会费怎么交纳？", 11), ("职工疗休养为期几天？", 8)]


def test_salt_made_by_two_starts_at_once_is_one_salt(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    from ui.questionlog import load_salt

    with ThreadPoolExecutor(8) as pool:
        salts = set(pool.map(lambda _: load_salt(tmp_path / SALT_NAME), range(16)))
    assert len(salts) == 1 and not [p for p in os.listdir(tmp_path) if p.startswith(".")]


def test_the_console_groups_in_the_background_and_at_most_every_few_minutes(bot, tmp_path, monkeypatch):
    import ui.console as console

    qlog = QuestionLog(tmp_path / DB_NAME)
    for text, n in [("工会会费怎么交纳？", 5), ("工会会费怎么交纳", 2), ("职工疗休养为期几天？", 3), ("劳模精神的内涵是什么？", 1)]:
        for _ in range(n):
            qlog.record(text, "refused", [], 3)
    qlog.flush()
    monkeypatch.setattr(console, "SYNC_ROWS", 5)  # this log counts as a large one
    monkeypatch.setattr(console, "MAX_DISTINCT", 2)  # and only its two most asked texts are grouped
    grouper = console.Grouper(qlog, Asker(bot, 500), 0.08)
    assert grouper.current() is None and grouper.running  # the page does not wait
    grouper._thread.join(60)
    grouping = grouper.current()
    assert (grouping.questions, grouping.covered) == (11, 8)
    assert [(g.example, g.count) for g in grouping.groups] == [("工会会费怎么交纳？", 5), ("职工疗休养为期几天？", 3)]
    assert grouping.missing[0].closest and all(title for _, title in grouping.missing[0].closest)
    qlog.record("新的问题", "answered", [], 3)
    qlog.flush()
    assert grouper.current() is grouping and not grouper.running  # not again within REGROUP_SECONDS
    monkeypatch.setattr(console, "REGROUP_SECONDS", 0)
    grouper.current()
    grouper._thread.join(60)
    assert grouper.latest.questions == 12


def test_calibrate_from_log_reports_the_held_out_effect_before_writing(tmp_path, monkeypatch, capsys):
    """`unionqa calibrate --from-log`: the log's votes join the tune side only; the held-out
    figures without and with them are printed; nothing is written without --write."""
    import json
    import shutil

    from bot.eval.qa_data import is_holdout
    from tests.fake_embedder import FAKE_MODEL

    root = Path(__file__).resolve().parents[1]
    corpus = tmp_path / "corpus"
    shutil.copytree(root / "corpus" / "default" / "laws", corpus)
    # the slice is all tune questions: rephrasings of them that the hash puts on the held-out side
    qa = json.loads((root / "tests" / "data" / "laws_dev_slice.json").read_text(encoding="utf-8"))
    held = [{**item, "q": f"{prefix}{item['q']}"} for item in qa["answerable"]
            for prefix in ("请问", "想问一下，", "我想知道", "咨询一下：", "你好，")
            if is_holdout(f"{prefix}{item['q']}")]
    held_refuse = [f"{p}{q}" for q in qa["refuse"] for p in ("请问", "想问一下，", "我想知道", "咨询一下：", "你好，")
                   if is_holdout(f"{p}{q}")]
    assert held and held_refuse
    qa_file = tmp_path / "dev.json"
    qa_file.write_text(json.dumps({**qa, "answerable": qa["answerable"] + held, "refuse": qa["refuse"] + held_refuse},
                                  ensure_ascii=False), encoding="utf-8")
    home = tmp_path / "home"
    monkeypatch.setenv("UNIONQA_HOME", str(home))
    qlog = QuestionLog(home / DB_NAME)
    votes = [("劳动合同应当以什么形式订立？", "answered", "up"), ("用人单位可以扣押劳动者的证件吗", "answered", "up"),
             ("试用期最长可以约定多久？", "answered", "down"), ("公司食堂的菜价怎么定？", "refused", "up"),
             ("单位的停车位怎么分配？", "refused", "up"), ("工会主席怎么选？", "refused", "down"),
             (held[0]["q"], "answered", "up")]  # a held-out question: never fitted on
    for text, outcome, rating in votes:
        qlog.record(text, outcome, [], 5, key=text)
        qlog.rate(text, rating)
    qlog.flush()
    args = ["calibrate", "--from-log", "--qa", str(qa_file), "--corpus", str(corpus), "--model", FAKE_MODEL]
    assert main(args) == 0
    out, err = capsys.readouterr()
    assert "5 个有反馈的问题（可回答 3 个，其中答对 2 个；范围外 2 个）" in err
    assert "可回答问题答对" in out and "不用记录" in out and "加入记录" in out and "dev" in out
    assert "未写入校准文件" in out and not (home / "calibration").exists()

    written = tmp_path / "calibration.json"
    assert main(args + ["--write", "--out", str(written)]) == 0
    fitted = json.loads(written.read_text(encoding="utf-8"))
    assert fitted["fitted"]["from_log"] == 5 and fitted["fitted"]["command"].endswith("--from-log")
    assert main(args + ["--whole"]) == 2
    assert "--whole" in capsys.readouterr().err


def test_serve_with_workers_logs_questions_and_a_purge_runs_beside_it(bundled_index, tmp_path, capsys):
    """`unionqa serve --workers 2 --log-questions`: the answering processes are forked, the web
    process writes the log, the console reads it, and `unionqa log purge` (another process
    on the same file) runs while the server is up."""
    import shutil

    from tests.test_workers import _serving

    index = tmp_path / "index"
    shutil.copytree(bundled_index, index)
    with _serving(tmp_path, "--index", str(index), "--log-questions", "--log-days", "30",
                  "--admin-token", TOKEN) as (url, _):
        with httpx.Client(base_url=url, timeout=60) as client:
            for question in ("劳模精神的内涵是什么？", "今天天气怎么样？"):
                assert client.post("/api/ask", json={"question": question}).status_code == 200
            deadline = time.monotonic() + 10
            while len(rows(tmp_path / DB_NAME)) < 2:
                assert time.monotonic() < deadline, "the questions were not logged"
                time.sleep(0.1)
            page = client.get("/admin/console", headers={"Authorization": f"Bearer {TOKEN}".encode()})
            assert page.status_code == 200 and "今天天气怎么样？" in page.text and "保留 30 天" in page.text
            assert main(["log", "purge", "--all", "--feedback-log", str(tmp_path / "feedback.jsonl")]) == 0
            assert "已删除 2 条" in capsys.readouterr().out
            assert client.post("/api/ask", json={"question": "工匠精神是什么？"}).status_code == 200
            deadline = time.monotonic() + 10
            while [r["question"] for r in rows(tmp_path / DB_NAME)] != ["工匠精神是什么？"]:
                assert time.monotonic() < deadline, "the server stopped logging after the purge"
                time.sleep(0.1)


def test_a_broken_log_file_is_a_clear_error_not_a_traceback(tmp_path, capsys):
    (tmp_path / DB_NAME).write_bytes(b"this is not a database" * 100)
    with pytest.raises(QuestionLogError, match="无法打开提问记录"):
        QuestionLog(tmp_path / DB_NAME)
    assert main(["log", "purge", "--all", "--feedback-log", str(tmp_path / "feedback.jsonl")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("错误：无法打开提问记录") and "Traceback" not in err


def test_the_grouping_distance_is_fitted_per_model_and_read_from_its_file(tmp_path, embedder):
    from ui.questiongroups import (
        DEFAULT_MODEL,
        FITTED_DISTANCES,
        DistanceError,
        fit_distance,
        fitted_distance,
    )

    bundled = fitted_distance(DEFAULT_MODEL)
    assert 0 < bundled < 1
    assert fitted_distance("fake:never-fitted") == bundled  # a model never fitted: the default model's
    (tmp_path / "bad.json").write_text("{", encoding="utf-8")
    with pytest.raises(DistanceError, match="无法读取分组距离文件"):
        fitted_distance(DEFAULT_MODEL, tmp_path / "bad.json")
    assert FITTED_DISTANCES.is_file()
    # rephrasings of two questions, and a third alone: the fit finds a distance that groups them so
    texts = ["工会会费怎么交纳？", "工会会费怎么交纳", "请问工会会费怎么交纳？", "职工疗休养为期几天？", "职工疗休养为期几天",
             "劳模精神的内涵是什么？"]
    fit = fit_distance(texts, ["dues", "dues", "dues", "rest", "rest", "model"], embedder.encode_queries)
    assert fit.ari == 1.0 and fit.precision == 1.0 and fit.recall == 1.0
    assert fit.table[0][1] < 1.0  # the smallest distance does not: the fit chose among them
    with pytest.raises(DistanceError):
        fit_distance(texts[:2], ["a", "a"], embedder.encode_queries)
