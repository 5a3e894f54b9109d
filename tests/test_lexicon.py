"""The domain dictionary: its file format, merging, query expansion, and the bundled file's rules."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from index.lexicon import BUNDLED_FILE, EXPANSION_WEIGHT, LexiconError, load_lexicon
from index.tokens import tokenize, tokenize_query


def write(tmp_path: Path, text: str, name: str = "union.txt") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def group_of(lexicon, word: str) -> tuple[str, ...]:
    return next(g.words for g in lexicon.groups if word in g.words)


# ---- the file format --------------------------------------------------------------------------


def test_comments_blank_lines_and_both_separators(tmp_path):
    lexicon = load_lexicon(
        write(
            tmp_path,
            "# 本单位补充\n\n职工书屋 | 职工图书室   读书角  # 行尾注释\n职工之家|工会活动中心\u3000职工活动室\n",
        )
    )
    assert group_of(lexicon, "职工书屋") == ("职工书屋", "职工图书室", "读书角")
    assert group_of(lexicon, "职工之家") == ("职工之家", "工会活动中心", "职工活动室")


def test_words_are_normalized_like_the_text_they_are_matched_in(tmp_path):
    lexicon = load_lexicon(write(tmp_path, "職工書屋 | 職工圖書室\n"))
    assert group_of(lexicon, "职工书屋") == ("职工书屋", "职工图书室")
    assert lexicon.synonyms("職工書屋") == ["职工图书室"]


def test_a_union_file_adds_a_group_a_word_and_extends_a_bundled_group(tmp_path):
    bundled = load_lexicon()
    lexicon = load_lexicon(write(tmp_path, "加班费 | 加班补贴\n职工书屋 | 职工图书室\n+ 职工之家\n"))
    assert len(lexicon.groups) == len(bundled.groups) + 1
    # 加班费 is a bundled word: the new word joins its group, which keeps its terms
    assert group_of(lexicon, "加班费") == (*group_of(bundled, "加班费"), "加班补贴")
    assert "延长工作时间" in lexicon.synonyms("加班补贴")
    assert {"职工书屋", "职工图书室", "职工之家"} <= lexicon.user_words
    assert "职工之家" not in bundled.user_words


def test_groups_that_share_a_word_are_joined(tmp_path):
    lexicon = load_lexicon(write(tmp_path, "甲乙丙 | 丁戊\n己庚 | 辛壬\n丁戊 | 辛壬 癸子\n"))
    assert group_of(lexicon, "甲乙丙") == ("甲乙丙", "丁戊", "己庚", "辛壬", "癸子")
    assert sum("己庚" in g.words for g in lexicon.groups) == 1


def test_the_right_of_an_arrow_is_reached_one_way(tmp_path):
    lexicon = load_lexicon(write(tmp_path, "职工书屋 图书角 > 职工文化阵地 文化设施\n"))
    assert lexicon.synonyms("图书角") == ["职工书屋", "职工文化阵地", "文化设施"]
    assert lexicon.synonyms("职工文化阵地") == []
    assert "职工文化阵地" in lexicon.user_words


@pytest.mark.parametrize(
    ("text", "line", "says"),
    [
        ("职工书屋 | 职工书屋\n", 1, "两个不同的词"),
        ("# 注释\n\n职工书屋\n", 3, "两个不同的词"),
        ("职工书屋，职工图书室\n", 1, "“，”"),
        ("职工书屋 | 书\n", 1, "一个字"),
        ("书屋 > 图书室 > 文化设施\n", 1, "一个 “>”"),
        ("书屋 图书室 >\n", 1, "两边都要有词"),
        ("+ 书屋 > 图书室\n", 1, "“+” 行"),
    ],
)
def test_a_malformed_line_names_the_file_and_the_line(tmp_path, text, line, says):
    path = write(tmp_path, text)
    with pytest.raises(LexiconError) as caught:
        load_lexicon(path)
    assert caught.value.path == path and caught.value.line == line
    assert str(caught.value).startswith(f"{path}:{line}: ")
    assert says in str(caught.value)


def test_a_file_not_in_utf8_says_so(tmp_path):
    path = tmp_path / "gbk.txt"
    path.write_bytes("# 注释\n职工书屋 | 职工图书室\n".encode("gbk"))
    with pytest.raises(LexiconError, match="UTF-8"):
        load_lexicon(path)


def test_a_byte_order_mark_is_not_part_of_the_first_word(tmp_path):
    path = tmp_path / "bom.txt"
    path.write_bytes("职工书屋 | 职工图书室\n".encode("utf-8-sig"))
    assert group_of(load_lexicon(path), "职工书屋") == ("职工书屋", "职工图书室")


def test_the_bundled_lexicon_is_read_once():
    assert load_lexicon() is load_lexicon()


# ---- expansion ---------------------------------------------------------------------------------


def test_expansion_weights_the_question_first_and_its_related_words_lower():
    lexicon = load_lexicon()
    question = "老板不给交社保能辞职吗"
    tokens = tokenize_query(question)
    weights = lexicon.expand_question(question, tokens)
    assert 0 < EXPANSION_WEIGHT < 1
    assert list(weights)[: len(set(tokens))] == list(dict.fromkeys(tokens))
    assert all(weights[t] == 1.0 for t in tokens)
    # the law's words: 用人单位未依法为劳动者缴纳社会保险费的，劳动者可以解除劳动合同
    for token in ("用人单位", "缴纳", "社会保险费", "解除劳动合同", "劳动合同"):
        assert weights[token] == EXPANSION_WEIGHT
    # quitting is not being dismissed, though both are 解除劳动合同
    assert "辞退" not in weights and "开除" not in weights


def test_a_token_of_the_question_keeps_its_full_weight():
    lexicon = load_lexicon()
    weights = lexicon.expand_question("辞职要解除劳动合同吗", tokenize_query("辞职要解除劳动合同吗"))
    assert weights["解除劳动合同"] == weights["劳动合同"] == 1.0
    assert weights["离职"] == EXPANSION_WEIGHT


def test_the_longest_word_is_read_first_and_not_again_inside():
    lexicon = load_lexicon()
    assert lexicon.find_words("加班费怎么算") == ["加班费"]
    assert lexicon.find_words("周末加班有加班费吗") == ["加班费", "加班", "周末"]
    # 事业单位 only goes to jieba, but it still hides the 单位 inside it
    assert lexicon.find_words("事业单位的员工") == ["事业单位", "员工"]
    weights = lexicon.expand_question("加班费怎么算", tokenize_query("加班费怎么算"))
    assert weights["加班工资"] == weights["延长工作时间"] == weights["工资报酬"] == EXPANSION_WEIGHT
    assert "超时工作" not in weights  # 加班's own group: 加班 was not read


def test_a_question_in_the_documents_own_words_is_not_widened_to_everyday_ones():
    lexicon = load_lexicon()
    question = "用人单位解除劳动合同应当支付经济补偿"
    weights = lexicon.expand_question(question, tokenize_query(question))
    assert not {"辞职", "跳槽", "开除", "炒鱿鱼"} & set(weights)
    assert "辞职" not in lexicon.synonyms("解除劳动合同")


def test_expand_looks_tokens_up_as_words():
    lexicon = load_lexicon()
    weights = lexicon.expand(["年假", "天"])
    assert weights["年假"] == weights["天"] == 1.0
    assert weights["年休假"] == EXPANSION_WEIGHT
    assert lexicon.expand([]) == {}


def test_synonyms():
    lexicon = load_lexicon()
    assert "年休假" in lexicon.synonyms("年假") and "年假" not in lexicon.synonyms("年假")
    assert lexicon.synonyms("辞退")[-1] == "解除劳动合同"
    assert lexicon.synonyms("劳模精神") == []


# ---- the bundled dictionary ---------------------------------------------------------------------

# An amount: a digit, or a numeral with a unit ("三十日", "六个月", "二倍", "百分之").
_AMOUNT = re.compile(r"[0-9０-９]|[零〇一二两三四五六七八九十百千万半]+个?(?:日|天|周|月|年|岁|倍|次|小时|元)|倍|百分之")
# "一天" is the everyday word for 每日 ("一天干几个小时"), not an amount.
_PER_UNIT = {"一天"}


def bundled_lines() -> list[str]:
    lines = (line.split("#", 1)[0].strip() for line in BUNDLED_FILE.read_text(encoding="utf-8").splitlines())
    return [line for line in lines if line]


def test_every_bundled_line_is_a_group_of_its_own():
    # A word repeated on another line would silently join two groups into one.
    lines = [line for line in bundled_lines() if not line.startswith("+")]
    assert len(load_lexicon().groups) == len(lines)


def test_every_bundled_group_relates_at_least_two_distinct_words():
    for group in load_lexicon().groups:
        assert len(set(group.words) | set(group.terms)) >= 2, group


def test_bundled_entries_are_words_not_restated_answers():
    for word in load_lexicon().user_words:
        assert word in _PER_UNIT or not _AMOUNT.search(word), word
        assert 2 <= len(word) <= 10, word
    assert _AMOUNT.search("提前三十日") and _AMOUNT.search("六个月") and _AMOUNT.search("二倍工资")


def test_bundled_size():
    lexicon = load_lexicon()
    assert 100 <= len(lexicon.groups) <= 150
    assert {"用人单位", "劳动者", "解除劳动合同", "劳动报酬", "社会保险", "职工代表大会"} <= lexicon.user_words


def test_every_bundled_word_is_a_whole_token():
    assert [w for w in load_lexicon().user_words if w not in tokenize(w)] == []


def test_an_english_line_maps_english_phrases_to_the_documents_words(tmp_path):
    # words the bundled glossary does not have, so that only this file's lines are read
    lexicon = load_lexicon(write(tmp_path, "gizmo leave | widget leave = 小器假 工具假\ngizmo = 小器件\n"))
    # the longest phrase wins, plurals find their singular, unlisted words are skipped
    assert lexicon.read_english("How many days of gizmo leave?") == [("小器假", "工具假")]
    assert lexicon.read_english("Two widget leaves and three gizmos") == [("小器假", "工具假"), ("小器件",)]
    assert lexicon.read_english("qwerty zxcv") == []


def test_a_phrasal_verb_is_read_with_its_object_between_verb_and_particle(tmp_path):
    lexicon = load_lexicon(write(tmp_path, "zork off = 佐克\n"))
    assert lexicon.read_english("they zorked him off") == []  # only the listed form
    assert lexicon.read_english("they zork the team off") == [("佐克",)]
    assert lexicon.read_english("they zork the whole team off") == []  # an object of at most two words
    assert lexicon.read_english("they zork off") == [("佐克",)]


def test_a_unions_english_line_adds_to_a_bundled_phrase(tmp_path):
    bundled = load_lexicon().read_english("maternity leave")
    assert bundled, "the bundled glossary knows maternity leave"
    extended = load_lexicon(write(tmp_path, "maternity leave = 生育假\n")).read_english("maternity leave")
    assert extended[0][: len(bundled[0])] == bundled[0] and "生育假" in extended[0]


@pytest.mark.parametrize(
    "line, message",
    [
        ("annual leave = 年\n", "只有一个字"),
        ("年休假 = 年假\n", "英文"),
        ("annual leave = \n", "两边都要有词"),
        ("a = b = 年休假\n", "一行只有一个"),
    ],
)
def test_a_malformed_english_line_is_named_by_file_and_line(tmp_path, line, message):
    with pytest.raises(LexiconError, match=message) as error:
        load_lexicon(write(tmp_path, "# 注释\n" + line))
    assert error.value.line == 2


def test_the_bundled_glossary_restates_no_rule():
    # The glossary says how a thing is named, never what the rule is: no amounts.
    # 百年奋斗目标 (the centenary goals) is a name that holds a numeral, not an amount.
    words = {w for gloss in load_lexicon().glosses for w in gloss.words}
    assert len(words) > 300
    for word in words - {"百年奋斗目标"}:
        assert not _AMOUNT.search(word), word
