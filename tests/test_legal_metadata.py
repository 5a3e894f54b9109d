"""A law's place, rank, dates and state, read from its title, preamble and front
matter (corpus/laws.py, corpus/places.py), and the citation label built from them."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from corpus.laws import citation_label, enacted, law_metadata, version_label
from corpus.loader import document_from_bytes, load_corpus
from corpus.places import CITY, PROVINCE, load_gazetteer, short_name

FIXTURES = Path(__file__).parent / "fixtures" / "laws"
ARTICLES = "\n\n第一条 为了规范，制定本规定。\n\n第二条 适用于本地区。\n\n第三条 自公布之日起施行。\n"


@pytest.mark.parametrize(("title", "preamble", "rank", "jurisdiction", "place"), [
    ("中华人民共和国某某法", "2001年1月1日 第九届全国人民代表大会常务委员会第二十次会议通过", "法律", "national", ""),
    ("某某条例", "2005年3月1日 中华人民共和国国务院令第100号公布", "行政法规", "national", ""),
    ("浙江省某某条例", "2010年3月30日 浙江省第十一届人民代表大会常务委员会第十七次会议通过", "地方性法规",
     PROVINCE, "浙江省"),
    ("杭州市某某条例", "2015年6月1日 杭州市第十二届人民代表大会常务委员会第三十次会议通过", "地方性法规", CITY, "杭州市"),
    ("重庆市某某条例", "2011年11月25日 重庆市第三届人民代表大会常务委员会第二十八次会议通过", "地方性法规",
     PROVINCE, "重庆市"),
    ("上海市某某办法", "2019年1月1日 上海市人民政府令第10号公布", "规章", PROVINCE, "上海市"),
    ("关于做好某某工作的意见", "", "文件", "national", ""),
])
def test_rank_and_jurisdiction_from_the_enacting_body(title, preamble, rank, jurisdiction, place):
    metadata = law_metadata(title, f"{title}.md", preamble)
    assert (metadata["rank"], metadata["jurisdiction"], metadata["place"]) == (rank, jurisdiction, place)


def test_the_place_of_an_implementing_measure_comes_from_its_enacting_body():
    # the title opens with no place, the preamble's 人大常委会 names it
    metadata = law_metadata("实施《中华人民共和国工会法》办法", "x.md",
                            "1994年9月8日 北京市第十届人民代表大会常务委员会第十二次会议通过")
    assert (metadata["place"], metadata["jurisdiction"], metadata["rank"]) == ("北京市", PROVINCE, "地方性法规")


def test_history_dates_the_latest_amendment_and_the_passing_date():
    preamble = (
        "1998年12月26日 重庆市第一届人民代表大会常务委员会第十三次会议通过\n"
        "2001年6月26日 重庆市第一届人民代表大会常务委员会第三十三次会议《关于修改〈重庆市某条例〉的决定》第一次修正"
        "  2006年9月29日重庆市第二届人民代表大会常务委员会第二十六会议修订  根据\n"
        "2011年11月25日 重庆市第三届人民代表大会常务委员会第二十八次会议《关于修改部分地方性法规的决定》第三次修正）"
    )
    metadata = law_metadata("重庆市某条例", "重庆市某条例(2011-11-29).md", preamble)
    assert metadata["passed"] == "1998-12-26"
    assert (metadata["amended"], metadata["amendment"]) == ("2011-11-25", "修正")
    assert enacted(metadata) == "1998-12-26"  # precedence reads the passing date, not the amendment's
    assert citation_label("重庆市某条例", metadata, "第十三条") == "《重庆市某条例》（2011 年修正）第十三条"


def test_in_force_unless_repealed_or_not_yet_effective():
    future = law_metadata("某某条例", "x.md", "2030年1月1日 国务院第1次常务会议通过\n2031年1月1日 施行",
                          today=date(2026, 1, 1))
    assert future["in_force"] == "false" and version_label(future) == "2030 年，尚未施行"
    repealed = law_metadata("某某条例", "x.md", "2001年1月1日 国务院令第1号公布\n2020年1月1日 废止")
    assert repealed["in_force"] == "false" and "已废止" in version_label(repealed)
    body = law_metadata("某某法", "x.md", "2007年12月29日 第十届全国人民代表大会常务委员会通过",
                        body="第九十条 本法自2008年5月1日起施行。", today=date(2026, 1, 1))
    assert body["effective"] == "2008-05-01" and body["in_force"] == "true"


def test_front_matter_sets_the_metadata_explicitly():
    text = "---\n地区: 杭州\nrank: 规章\npassed: 2020-02-03\n---\n# 职工疗休养办法\n" + ARTICLES
    document = document_from_bytes(text.encode("utf-8"), "职工疗休养办法.md")
    metadata = document.metadata
    assert (metadata["place"], metadata["jurisdiction"], metadata["rank"]) == ("杭州市", CITY, "规章")
    assert metadata["passed"] == "2020-02-03"
    # a notice, not a law, whose front matter says where it applies
    notice = document_from_bytes("---\nplace: 上海市\n---\n# 关于疗休养的通知\n\n今年组织疗休养。\n".encode(), "通知.md")
    assert notice.metadata["place"] == "上海市" and notice.metadata["rank"] == "文件"


def test_the_metadata_is_part_of_the_document_hash():
    plain = document_from_bytes(("# 职工疗休养办法\n" + ARTICLES).encode("utf-8"), "办法.md")
    placed = document_from_bytes(("---\nplace: 上海\n---\n# 职工疗休养办法\n" + ARTICLES).encode("utf-8"), "办法.md")
    assert plain.text == placed.text and plain.content_hash != placed.content_hash


def test_fixture_corpus_metadata():
    documents = {d.title: d.metadata for d in load_corpus(FIXTURES, isolated=False).documents}
    shanghai = documents["上海市职工休假条例"]
    assert (shanghai["place"], shanghai["rank"], shanghai["passed"]) == ("上海市", "地方性法规", "2021-03-01")
    old = documents["中华人民共和国职工休息甲法"]
    assert (old["jurisdiction"], old["rank"], old["passed"], old["amended"]) == ("national", "法律", "1994-07-05",
                                                                                 "2018-12-29")


def test_gazetteer_names_places_in_questions():
    gazetteer = load_gazetteer()
    assert [p.name for p in gazetteer.find("上海这边试用期多久")] == ["上海市"]
    hangzhou = gazetteer.find("杭州的企业职代会")[0]
    assert (hangzhou.name, hangzhou.level, hangzhou.province) == ("杭州市", CITY, "浙江省")
    assert hangzhou.within(gazetteer.get("浙江")) and not hangzhou.within(gazetteer.get("河南"))
    assert gazetteer.find("在郑州上班")[0].province == "河南省"
    assert gazetteer.find("阿里巴巴的员工") == []  # a short form that is an everyday word needs its full name
    assert short_name("延边朝鲜族自治州") == "延边" and short_name("内蒙古自治区") == "内蒙古"


def test_gazetteer_reads_english_province_names_as_whole_words():
    gazetteer = load_gazetteer()
    assert [p.name for p in gazetteer.find("In Beijing, can the employer…")] == ["北京市"]
    assert [p.name for p in gazetteer.find("杭州和上海，杭州")] == ["杭州市", "上海市"]
    assert gazetteer.find("Shanghaied workers") == []
