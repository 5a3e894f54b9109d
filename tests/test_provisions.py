"""Place and precedence on a small corpus of fixture laws (tests/fixtures/laws): a
national law of 1994 (甲法), a newer national law of 2007 on arbitration (乙法) and a
Shanghai regulation. Real model and index; the calibration's same-matter numbers are
set here so that the tests check the rules, not the fitted values."""

from __future__ import annotations

from dataclasses import asdict, replace
from pathlib import Path

import pytest

from bot.bot import Bot
from bot.eval.evaluate import build_store
from bot.eval.qa_data import QAItem
from bot.eval.qa_eval import answered_right, right_among_shown
from bot.provisions import NATIONAL_NOTE, is_special, subject_of
from bot.records import ANSWERED, REFUSED, ROLE_OTHER, ROLE_SEE_ALSO, Answer, Citation
from corpus.loader import document_from_bytes, load_corpus
from corpus.records import Document
from tests.conftest import MODEL_SETTINGS, SETTINGS
from ui.api import AnswerOut
from ui.cli import format_answer
from ui.render import answer_html, document_page

FIXTURES = Path(__file__).parent / "fixtures" / "laws"
OLD, NEW, SHANGHAI = "中华人民共和国职工休息甲法", "中华人民共和国劳动争议乙法", "上海市职工休假条例"


@pytest.fixture(scope="module")
def fixture_bot(model_embedder):
    """Which provision leads, and which are shown beside it, is measured: the real model."""
    store, _ = build_store(load_corpus(FIXTURES, isolated=False).documents, MODEL_SETTINGS, model_embedder)
    bot = Bot(store, model_embedder, top_k=5)
    # every passage of this tiny corpus is near, and any two sentences on the same matter
    bot.calibration = replace(bot.calibration, near_margin=10.0, same_matter=0.0)
    return bot


def titles(answer: Answer, role: str = "") -> list[str]:
    return [c.title for c in answer.citations if c.role == role]


def test_the_newer_law_leads_and_the_older_is_shown_as_see_also(fixture_bot):
    answer = fixture_bot.ask("劳动争议仲裁要在多少天内作出裁决？")
    assert answer.status == ANSWERED
    assert titles(answer) == [NEW]
    assert "四十五日" in answer.text and "六十日" not in answer.text
    see_also = [c for c in answer.citations if c.role == ROLE_SEE_ALSO]
    assert [c.title for c in see_also] == [OLD]
    # shown with its date, not quoted: no marker in the text
    assert see_also[0].label.startswith(f"《{OLD}》（2018 年修正）") and see_also[0].passed == "1994-07-05"
    assert not see_also[0].markers and f"[{see_also[0].n}]" not in answer.text
    lead = answer.citations[0]
    assert lead.label == f"《{NEW}》（2007 年）第二条" and lead.rank == "法律" and lead.jurisdiction == "national"


def test_precedence_needs_the_same_matter(fixture_bot):
    strict = Bot(fixture_bot.store, fixture_bot.embedder, top_k=5,
                 calibration=replace(fixture_bot.calibration, same_matter=1.01))
    answer = strict.ask("劳动争议仲裁要在多少天内作出裁决？")
    assert not titles(answer, ROLE_SEE_ALSO)


def test_a_question_naming_the_place_gets_its_own_rule(fixture_bot):
    answer = fixture_bot.ask("上海这边探亲假每年有几天？")
    assert answer.status == ANSWERED
    assert titles(answer) == [SHANGHAI] and "十五日" in answer.text
    assert answer.citations[0].place == "上海市" and answer.citations[0].rank == "地方性法规"
    assert not answer.text.startswith("未找到")


def test_another_region_is_not_cited_and_the_national_rule_says_so(fixture_bot):
    answer = fixture_bot.ask("杭州的职工探亲假每年有几天？")
    assert SHANGHAI not in [c.title for c in answer.citations]
    assert answer.status == ANSWERED
    assert answer.text.startswith(NATIONAL_NOTE.format(place="杭州市"))
    assert titles(answer) == [OLD]
    # the markers moved with the note
    for c in answer.citations:
        assert all(answer.text.startswith(f"[{c.n}]", m) for m in c.markers)


def test_a_rule_only_another_region_has_is_not_given_as_the_answer(fixture_bot):
    answer = fixture_bot.ask("北京的用人单位每年要组织职工疗休养几次？")
    assert SHANGHAI not in [c.title for c in answer.citations]
    assert answer.status != ANSWERED or answer.text.startswith(NATIONAL_NOTE.format(place="北京市"))
    asked_in_shanghai = fixture_bot.ask("上海的用人单位每年要组织职工疗休养几次？")
    assert titles(asked_in_shanghai) == [SHANGHAI]


def test_a_question_naming_no_place_is_answered_as_before(fixture_bot):
    # the one rule on it is regional: not displaced by a national provision, no note
    answer = fixture_bot.ask("用人单位每年要组织职工疗休养几次？")
    assert answer.status != REFUSED
    assert titles(answer) == [SHANGHAI] and not answer.text.startswith("未找到")


GENERAL, SPECIAL = "中华人民共和国职工法", "中华人民共和国职工争议仲裁法"


def law_text(title: str, passed: str, articles: list[str]) -> str:
    body = "\n\n".join(f"第{n}条 {text}" for n, text in zip("一二三四五", articles, strict=False))
    return f"# {title}\n\n{passed} 第十届全国人民代表大会常务委员会第一次会议通过\n\n<!-- INFO END -->\n\n{body}\n"


def test_the_special_law_leads_over_a_newer_general_one(model_embedder, tmp_path):
    # the general law is the newer one here: only 「特别法优于一般法」 puts the special one first
    (tmp_path / "general.md").write_text(law_text(GENERAL, "2010年1月1日", [
        "为了保障职工权利，制定本法。", "职工争议仲裁裁决一般应在收到仲裁申请的六十日内作出。", "本法自公布之日起施行。"]),
        encoding="utf-8")
    (tmp_path / "special.md").write_text(law_text(SPECIAL, "2005年1月1日", [
        "为了公正及时解决职工争议，制定本法。",
        "仲裁庭裁决职工争议案件，应当自受理仲裁申请之日起四十五日内作出裁决。", "本法自公布之日起施行。"]),
        encoding="utf-8")
    store, _ = build_store(load_corpus(tmp_path, isolated=False).documents, MODEL_SETTINGS, model_embedder)
    bot = Bot(store, model_embedder, top_k=5)
    bot.calibration = replace(bot.calibration, near_margin=10.0, same_matter=0.0)
    answer = bot.ask("职工争议仲裁要在多少天内作出裁决？")
    assert answer.status == ANSWERED
    assert titles(answer) == [SPECIAL] and "四十五日" in answer.text and "六十日" not in answer.text
    assert titles(answer, ROLE_SEE_ALSO) == [GENERAL]


def test_special_is_read_from_the_law_names():
    assert subject_of("中华人民共和国劳动合同法") == "劳动合同"
    assert subject_of("《女职工劳动保护特别规定》") == "女职工劳动保护"
    assert subject_of("职工带薪年休假条例") == "职工带薪年休假"
    assert subject_of("关于工会工作的意见") == ""  # no genre word: not weighed as a law's subject
    law = {t: Document(doc_id=t, title=t, source=t, text="", paragraphs=()) for t in (
        "中华人民共和国劳动法", "中华人民共和国劳动争议调解仲裁法", "中华人民共和国工会法", "上海市工会条例")}
    assert is_special(law["中华人民共和国劳动争议调解仲裁法"], law["中华人民共和国劳动法"])
    assert not is_special(law["中华人民共和国劳动法"], law["中华人民共和国劳动争议调解仲裁法"])
    assert is_special(law["上海市工会条例"], law["中华人民共和国工会法"])
    assert not is_special(law["中华人民共和国工会法"], law["中华人民共和国劳动法"])
    assert not is_special(law["中华人民共和国劳动法"], law["中华人民共和国劳动法"])


# ----- how the roles are shown ------------------------------------------------------


def shown_answer() -> Answer:
    lead = Citation(1, "a", "甲法", "", "第二条 探亲假每年不超过二十日。", 0, 16, 1.0, [(0, 16)], "第二条",
                    markers=[16], label="《甲法》（2018 年修正）第二条", version="2018 年修正", rank="法律")
    see_also = Citation(2, "b", "乙法<script>", "", "第三条 探亲假十五日。", 0, 11, 0.9, [(0, 11)], "第三条",
                        label="《乙法》（2007 年）第三条", version="2007 年", role=ROLE_SEE_ALSO)
    other = Citation(3, "c", "丙法", "", "第四条 <b>疗休养</b>一次。", 0, 16, 0.8, [(0, 16)], "第四条",
                     role=ROLE_OTHER)
    return Answer("第二条 探亲假每年不超过二十日。[1]", False, [lead, see_also, other], status=ANSWERED)


def test_roles_in_the_api_json():
    data = AnswerOut.model_validate(asdict(shown_answer())).model_dump()
    assert [c["role"] for c in data["citations"]] == ["", "see_also", "other"]
    assert data["citations"][0]["label"] == "《甲法》（2018 年修正）第二条"
    assert data["citations"][0]["rank"] == "法律"


def test_the_chat_shows_other_provisions_collapsed_and_escaped():
    page = answer_html(shown_answer(), {})
    own, _, rest = page.partition("<details")
    assert "甲法" in own and "丙法" not in own
    assert '<details class="uq-more uq-see_also"><summary>另见' in page
    assert '<details class="uq-more uq-other"><summary>其他相关规定（1 条）</summary>' in page
    assert "<script>" not in page and "乙法&lt;script&gt;" in page
    assert "<b>疗休养</b>" not in page and "&lt;b&gt;疗休养&lt;/b&gt;" in page
    assert "（2007 年）" in rest


def test_the_cli_lists_see_also_and_other_provisions_apart():
    printed = format_answer(shown_answer())
    assert "来源：\n[1] 《甲法》（2018 年修正） 第二条" in printed
    assert "另见：\n[2] 《乙法<script>》（2007 年） 第三条" in printed
    assert "其他相关规定：\n[3] 《丙法》 第四条" in printed


def test_answered_right_counts_the_lead_alone():
    answer = shown_answer()
    in_other = QAItem("q", (("疗休养",),))
    assert not answered_right(in_other, answer) and right_among_shown(in_other, answer)
    in_lead = QAItem("q", (("二十日",),))
    assert answered_right(in_lead, answer) and right_among_shown(in_lead, answer)


# ----- the fitted numbers -------------------------------------------------------------


def test_the_same_matter_numbers_are_optional_in_a_calibration_file():
    from bot.answerability import DEFAULT_NEAR_MARGIN, DEFAULT_SAME_MATTER, Calibration, load_calibration

    data = load_calibration(SETTINGS.embedding_model).to_json()
    data.pop("near_margin", None)
    data.pop("same_matter", None)
    old = Calibration.from_json(data)
    assert (old.near_margin, old.same_matter) == (DEFAULT_NEAR_MARGIN, DEFAULT_SAME_MATTER)
    assert Calibration.from_json({**data, "near_margin": 0.3}).near_margin == 0.3


def test_the_near_margin_is_the_median_gap_to_the_gold_passage():
    from types import SimpleNamespace

    from bot.eval.calibrate import fit_near_margin
    from bot.eval.tune_questions import Asked

    def asked(scores: list[float], gold_at: int | None, source: str = "laws_dev") -> Asked:
        hits = [SimpleNamespace(score=s, chunk=SimpleNamespace(text="答案" if i == gold_at else "别的", title="", article=""))
                for i, s in enumerate(scores)]
        return Asked(None, source, (("答案",),), True, hits, None)

    questions = [asked([3.0, 2.9], 1), asked([3.0, 2.5, 2.0], 2), asked([3.0, 2.8], 1),
                 asked([3.0, 1.0], 0),  # gold first: no gap to learn from
                 asked([3.0, 2.0], None),  # gold not retrieved
                 asked([3.0, 0.0], 1, source="squad")]  # encyclopaedia questions are not provisions
    assert fit_near_margin(questions) == pytest.approx(0.2)
    assert fit_near_margin(questions[3:]) is None


def test_the_document_view_names_place_rank_dates_and_state_escaped():
    text = ("---\nplace: 上海\n---\n# 上海市<职工>休假条例\n\n2021年3月1日 上海市第十五届人民代表大会常务委员会第二十九次会议通过\n\n"
            "<!-- INFO END -->\n\n第一条 为了保障休假，制定本条例。\n\n第二条 探亲假十五日。\n\n第三条 本条例自2021年5月1日起施行。\n")
    page = document_page(document_from_bytes(text.encode("utf-8"), "条例.md"))
    for line in ("效力级别：地方性法规", "地区：上海市（省级）", "通过：2021-03-01", "施行：2021-05-01", "状态：现行有效"):
        assert line in page
    assert "&lt;职工&gt;" in page and "<职工>" not in page
