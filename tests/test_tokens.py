"""BM25 tokens: normalization, segmentation, stopwords, numbers, queries."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from index.tokens import normalize, stopwords, tokenize, tokenize_query

ROOT = Path(__file__).resolve().parents[1]


def test_normalize_traditional_full_width_and_case() -> None:
    assert normalize("勞動合同法") == "劳动合同法"
    assert normalize("職工帶薪年休假條例") == "职工带薪年休假条例"
    assert normalize("ＡＢＣ１２３") == "abc123"
    assert normalize("GDP增長") == "gdp增长"


def test_traditional_text_gives_simplified_tokens() -> None:
    tokens = tokenize("勞動合同")
    assert "劳动合同" in tokens and "劳动" in tokens and "合同" in tokens
    assert tokenize("勞動合同") == tokenize("劳动合同")
    assert not any(ch in "".join(tokens) for ch in "勞動")


def test_search_mode_keeps_whole_words_and_sub_words() -> None:
    tokens = tokenize("用人单位应当支付经济补偿")
    assert {"用人单位", "用人", "单位", "支付", "经济", "补偿"} <= set(tokens)


def test_domain_dictionary_words_are_kept_whole_with_their_sub_words() -> None:
    # Without the domain dictionary jieba cut these into 无 固定 期限 劳动合同, 经济 补偿,
    # 竞 业 限制 and 劳务 派遣.
    tokens = tokenize("订立无固定期限劳动合同，支付经济补偿金，约定竞业限制，劳务派遣")
    assert {"无固定期限劳动合同", "经济补偿金", "经济补偿", "竞业限制", "竞业", "劳务派遣"} <= set(tokens)
    # a domain word longer than four characters still gives the four-character words inside it
    assert {"固定", "期限", "劳动", "合同", "劳动合同", "补偿", "补偿金", "限制", "劳务", "派遣"} <= set(tokens)
    # documents and questions are cut alike
    assert set(tokenize_query("无固定期限劳动合同是什么")) == set(tokenize("无固定期限劳动合同"))


def test_punctuation_and_whitespace_are_dropped() -> None:
    tokens = tokenize("工会，职工！（劳动）“合同”……\n\u3000 《法律》、：;?  ")
    assert tokens == ["工会", "职工", "劳动", "合同", "法律"]
    assert all(t and not t.isspace() and any(ch.isalnum() for ch in t) for t in tokens)


def test_stopwords_are_removed() -> None:
    tokens = tokenize("工会的职责是维护职工的合法权益，并且和企业协商了")
    assert not {"的", "是", "并且", "和", "了"} & set(tokens)
    assert {"工会", "职责", "维护", "职工", "合法权益", "企业", "协商"} <= set(tokens)
    assert tokenize("the rights of a union") == ["rights", "union"]


def test_stopword_list_has_question_words_but_not_legal_modals() -> None:
    words = stopwords()
    assert {"什么", "哪", "哪些", "谁", "多少", "怎么", "怎样", "如何", "吗", "呢", "为什么", "是否"} <= words
    assert {"的", "了", "是", "在", "和", "与", "及", "等", "也", "都", "而", "就"} <= words
    assert not {"不", "不得", "应当", "可以", "没有"} & words


def test_question_words_do_not_reach_bm25() -> None:
    assert tokenize_query("什么是试用期？") == tokenize_query("试用期")
    assert tokenize_query("如何申请劳动仲裁呢") == tokenize_query("申请劳动仲裁")
    assert set(tokenize_query("女职工产假有多少天")) == {"女职工", "职工", "产假", "有", "天"}
    for question in ("为什么", "是否", "哪些", "谁", "怎样", "吗"):
        assert tokenize_query(f"工会{question}") == ["工会"]


def test_numbers_and_latin_words() -> None:
    tokens = tokenize("2013年4月28日，年休假30天，GDP增长3.5%，COVID-19疫情，iPhone")
    assert {"2013", "4", "28", "30", "3.5", "gdp", "covid", "19", "iphone"} <= set(tokens)
    assert "%" not in "".join(tokens)
    assert all(t == t.lower() for t in tokens)
    assert tokenize("300%") == ["300"]


def test_article_references_are_one_token_in_either_numeral_form() -> None:
    assert tokenize("第十九条 劳动合同期限")[0] == "第十九条"
    assert "第十九条" in tokenize_query("劳动合同法第19条")
    assert "第十九条" in tokenize_query("劳动合同法第１９条")
    assert "第一百零五条" in tokenize_query("第105条")
    assert "第三章" in tokenize_query("第3章")
    # No sub-words that would also match 第二十九条.
    assert not {"十九", "九条"} & set(tokenize("第十九条"))


def test_deterministic_and_empty() -> None:
    assert tokenize("") == [] and tokenize_query("  ？ ") == []
    text = "工会是职工自愿结合的工人阶级群众组织。"
    assert tokenize(text) == tokenize(text)


def test_first_use_is_quiet() -> None:
    """jieba prints "Building prefix dict..." unless its logger is turned down."""
    result = subprocess.run(
        [sys.executable, "-c", "from index.tokens import tokenize; print(tokenize('工会组织'))"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert result.stderr == ""
    assert "工会" in result.stdout

