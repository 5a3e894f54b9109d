"""End to end on the bundled corpus with the real model and real indexes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MARKER = re.compile(r"\[(\d+)\]")


@pytest.fixture(scope="module")
def bot(model_bot):
    """The answers are what this module measures: the bot on the real model (which makes a test that uses it a `model` test)."""
    return model_bot


@pytest.fixture(scope="module")
def bundled_index(model_index):
    """The real model's index, which the CLI (configured with the real model) loads."""
    return model_index


def check_citations(answer, bot) -> None:
    """Every marker points at a citation, and every citation at its exact source span."""
    numbers = {int(n) for n in MARKER.findall(answer.text)}
    own = [c for c in answer.citations if not c.role]
    assert numbers == {c.n for c in own} == set(range(1, len(own) + 1))
    # the provisions shown after the answer (另见, 其他相关规定) follow its own, unquoted
    assert [c.n for c in answer.citations] == list(range(1, len(answer.citations) + 1))
    assert all(not c.markers for c in answer.citations if c.role)
    assert all(c.role for c in answer.citations[len(own):])
    for c in answer.citations:
        doc = bot.documents[c.doc_id]
        assert doc.text[c.start : c.end] == c.text
        assert c.quotes
        for qs, qe in c.quotes:
            assert c.start <= qs < qe <= c.end
            if not c.role:
                assert doc.text[qs:qe].strip() in answer.text


def test_model_spirit_question_is_answered_and_cites_its_paragraph(bot):
    answer = bot.ask("劳模精神的内涵是什么？")
    assert not answer.refused
    assert "爱岗敬业、争创一流、艰苦奋斗、勇于创新、淡泊名利、甘于奉献" in answer.text
    check_citations(answer, bot)
    first = answer.citations[0]
    assert "爱岗敬业、争创一流、艰苦奋斗、勇于创新、淡泊名利、甘于奉献" in first.text
    assert first.doc_id == "000_caba9922321d9496"
    assert first.title.startswith("大力弘扬劳模精神劳动精神工匠精神")


def test_craftsman_spirit_question(bot):
    answer = bot.ask("工匠精神是什么？")
    assert not answer.refused
    assert "执着专注、精益求精、一丝不苟、追求卓越" in answer.text
    check_citations(answer, bot)


@pytest.mark.parametrize("question", ["今天天气怎么样？", "明天股市会涨吗？", "推荐一部好看的电影"])
def test_unrelated_questions_are_refused(bot, question):
    answer = bot.ask(question)
    assert answer.refused
    assert answer.text == "知识库中没有找到与该问题相关的内容。"
    assert answer.citations == []


@pytest.mark.parametrize(
    "question, expected",
    [
        ("劳动精神是什么？", "崇尚劳动、热爱劳动、辛勤劳动、诚实劳动"),
        ("习近平总书记哪一年在乌鲁木齐提出劳动精神？", "2014"),
        ("工匠精神是在哪里提出的？", "安徽"),
    ],
)
def test_more_questions_on_the_article(bot, question, expected):
    answer = bot.ask(question)
    assert not answer.refused, question
    assert expected in answer.text
    check_citations(answer, bot)


def test_answers_are_short_extracts(bot):
    answer = bot.ask("劳模精神的内涵是什么？")
    sentences = MARKER.split(answer.text)
    assert 1 <= len(answer.citations) <= 3
    assert len(MARKER.findall(answer.text)) <= 3
    assert len(answer.text) < 400, sentences


def run_cli(*args: str, env_extra: dict[str, str]) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", **env_extra}
    return subprocess.run(
        [sys.executable, "-m", "ui.cli", *args], capture_output=True, text=True, cwd=ROOT, env=env, timeout=300
    )


def test_cli_ask_json(bundled_index, model_cache):
    env = {"UNIONQA_INDEX_DIR": str(bundled_index), "UNIONQA_MODEL_CACHE": str(model_cache)}
    result = run_cli("ask", "--json", "工匠精神是什么？", env_extra=env)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) >= {"text", "refused", "citations"}
    assert data["refused"] is False
    assert "执着专注、精益求精、一丝不苟、追求卓越" in data["text"]
    cite = data["citations"][0]
    assert set(cite) >= {"n", "doc_id", "title", "section", "text", "start", "end", "score"}
    assert "执着专注、精益求精、一丝不苟、追求卓越" in cite["text"]

    refused = json.loads(run_cli("ask", "--json", "今天天气怎么样？", env_extra=env).stdout)
    assert refused["refused"] is True and refused["citations"] == []


def test_cli_reports_a_mismatched_index_without_traceback(bundled_index, model_cache):
    env = {"UNIONQA_INDEX_DIR": str(bundled_index), "UNIONQA_MODEL_CACHE": str(model_cache)}
    result = run_cli("ask", "--chunk-chars", "999", "工匠精神是什么？", env_extra=env)
    assert result.returncode == 2
    assert "unionqa build" in result.stderr and "Traceback" not in result.stderr
