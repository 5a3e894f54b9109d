"""The answer-shaping constants as one settings object (bot/settings.py): each documented,
and each reaching the step it shapes when a Bot is given other values. On the fake embedder."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest

from bot.bot import Bot
from bot.settings import DEFAULTS, AnswerSettings
from bot.spans import article_span
from index.build import build_index
from index.update import add_paths
from ui.asking import Asker

from .conftest import SETTINGS

SOURCE = Path(__file__).resolve().parents[1] / "bot" / "settings.py"
QUESTION = "用人单位解除劳动合同需要支付经济补偿吗？"


def _bot(bot: Bot, **values) -> Bot:
    return Bot(bot.store, bot.embedder, calibration=bot.calibration, lexicon=bot.lexicon,
               settings=AnswerSettings(**values))


def test_every_setting_says_why():
    text = SOURCE.read_text(encoding="utf-8")
    tree, lines = ast.parse(text), text.splitlines()
    body = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "AnswerSettings").body
    fields = [n for n in body if isinstance(n, ast.AnnAssign)]
    assert {f.target.id for f in fields} == {f.name for f in dataclasses.fields(AnswerSettings)}
    for field in fields:
        above = lines[field.lineno - 2].strip()
        assert above.startswith("# ") and len(above) > 20, f"{field.target.id} has no comment saying why"


def test_settings_are_frozen_and_the_bot_keeps_its_own(bot):
    with pytest.raises(dataclasses.FrozenInstanceError):
        DEFAULTS.top_k = 3  # type: ignore[misc]
    assert Bot(bot.store, bot.embedder, lexicon=bot.lexicon).settings == AnswerSettings()
    # an explicit top_k (the CLI's --top-k, the eval's) overrides the settings' one
    given = Bot(bot.store, bot.embedder, top_k=3, lexicon=bot.lexicon, settings=AnswerSettings(top_k=7, pool=9))
    assert (given.top_k, given.settings.top_k, given.settings.pool) == (3, 3, 9)


def test_retrieval_depths_reach_the_retriever(bot):
    _, hits, evidence = bot.retrieve(QUESTION)
    assert len(hits) == DEFAULTS.top_k
    assert len(evidence.more) == DEFAULTS.pool - DEFAULTS.top_k
    assert len(evidence.dense) == DEFAULTS.candidates  # the bundled index has more chunks than that

    shallow = _bot(bot, top_k=2, pool=6, candidates=8)
    _, hits, evidence = shallow.retrieve(QUESTION)
    assert len(hits) == 2
    assert len(evidence.more) == 4
    assert len(evidence.dense) == 8 and len(evidence.lexical) <= 8
    assert shallow.retriever.candidates == 8 and shallow.retriever.pool == 6


def _claim(bot: Bot, **values):
    shaped = _bot(bot, **values)
    query, hits, evidence = shaped.retrieve(QUESTION)
    _, candidates, _ = shaped.assess(hits, evidence)
    return shaped.claim(QUESTION, query, candidates, evidence)


def test_quote_limits_reach_the_composer(bot):
    """The best sentence's article is quoted whole exactly when it is no longer than
    whole_unit_chars; below that, max_sentences, max_chars and keep_probability decide."""
    lead = _claim(bot).citations[0]
    span = article_span(bot.store.documents[lead.doc_id], lead.quotes[0][0])
    assert span is not None
    length = span[1] - span[0]
    whole = _claim(bot, whole_unit_chars=length)
    assert (whole.citations[0].start, whole.citations[0].end) == span
    cut = _claim(bot, whole_unit_chars=length - 1)
    assert len(cut.text) < len(whole.text)
    one = _claim(bot, whole_unit_chars=0, max_sentences=1)
    more = _claim(bot, whole_unit_chars=0, max_sentences=3, max_chars=10_000, keep_probability=0.0)
    assert one.text.count("[") < more.text.count("[")


def test_a_reloaded_bot_keeps_its_settings(tmp_path, embedder):
    """A new index version picked up by the server (ui/asking.py) is answered with the
    settings the old bot had, not the defaults."""
    docs, index = tmp_path / "docs", tmp_path / "index"
    docs.mkdir()
    (docs / "rules.md").write_text("# 规定\n\n职工每年享受带薪年休假。\n\n工会会员按月缴纳会费。\n", encoding="utf-8")
    build_index(docs, index, SETTINGS, embedder, progress=False)
    shaped = AnswerSettings(top_k=2, pool=4, max_sentences=1)
    asker = Asker(Bot.load(index, expected=SETTINGS, embedder=embedder, settings=shaped), 500, index_dir=index)
    (tmp_path / "new").mkdir()
    (tmp_path / "new" / "handbook.md").write_text("# 手册\n\n新职工在一个月内办理入会手续。\n", encoding="utf-8")
    report = add_paths(index, [tmp_path / "new" / "handbook.md"], SETTINGS, embedder, progress=False)
    old = asker.bot
    asker.reload()
    assert asker.version == report.version and asker.bot is not old
    assert asker.bot.settings == shaped and asker.bot.retriever.pool == 4
