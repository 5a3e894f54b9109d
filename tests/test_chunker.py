"""Sentence splitting and chunking: offsets are exact, sizes near the target,
sections and law articles respected."""

from __future__ import annotations

import random

import pytest

from corpus.records import Document, Paragraph
from index.chunker import article_number, chunk_document
from index.records import Chunk
from index.sentences import answer_units, split_long, split_sentences

TERMINATORS = set("。！？；…!?;")
CLOSERS = set("”’」』）》〉】〕\"')]")


def make_doc(
    paragraphs: list[tuple[str, str, bool] | str], doc_id: str = "doc", pages: bool = False
) -> Document:
    """A Document from (text, section, is_heading) triples or plain strings, joined
    by "\\n" as the loaders do."""
    spans: list[Paragraph] = []
    texts: list[str] = []
    position = 0
    for index, item in enumerate(paragraphs):
        text, section, heading = (item, "", False) if isinstance(item, str) else item
        page = index // 3 + 1 if pages else None
        spans.append(Paragraph(position, position + len(text), section, heading, page))
        texts.append(text)
        position += len(text) + 1
    return Document(doc_id, "标题", "test", "\n".join(texts), tuple(spans))


def texts(text: str) -> list[str]:
    return [text[s:e] for s, e in split_sentences(text)]


# A realistic article (from a People's Daily piece on model workers): long
# paragraphs of 30-120 character sentences with quotes, numbers and a subheading.
ARTICLE = [
    "大力弘扬劳模精神劳动精神工匠精神（深入学习贯彻习近平新时代中国特色社会主义思想）",
    "工人阶级是我国的领导阶级，是先进生产力和生产关系的代表，是坚持和发展中国特色社会主义的主力军。"
    "在全国劳动模范和先进工作者表彰大会上，习近平总书记指出，“在长期实践中，我们培育形成了爱岗敬业、"
    "争创一流、艰苦奋斗、勇于创新、淡泊名利、甘于奉献的劳模精神，崇尚劳动、热爱劳动、辛勤劳动、诚实劳动的"
    "劳动精神，执着专注、精益求精、一丝不苟、追求卓越的工匠精神”，强调大力弘扬劳模精神、劳动精神、工匠精神。"
    "新时代新征程上，我们要深入学习贯彻习近平总书记重要讲话精神，深刻认识和大力弘扬劳模精神、劳动精神、"
    "工匠精神，汇聚起亿万职工群众团结奋斗的磅礴力量。",
    "劳模精神、劳动精神、工匠精神是民族精神和时代精神的生动体现，具有丰富深刻内涵",
    "党的十八大以来，以习近平同志为核心的党中央始终关心劳模和劳模工作，礼赞劳动创造，讴歌劳模精神、劳动精神、"
    "工匠精神。2013年4月28日，习近平总书记亲临全国总工会机关同全国劳动模范代表座谈，强调必须大力弘扬劳模精神、"
    "发挥劳模作用。2014年4月30日，习近平总书记在乌鲁木齐接见劳动模范和先进工作者、先进人物代表时，提出劳动精神。"
    "2016年4月26日，习近平总书记在安徽主持召开知识分子、劳动模范、青年代表座谈会时，提出工匠精神。"
    "2020年11月24日，在全国劳动模范和先进工作者表彰大会上，习近平总书记对劳模精神、劳动精神、工匠精神作出全面"
    "系统深刻阐述。习近平总书记的重要论述，丰富和深化了我们党对劳动、劳动价值的认识。",
    "劳模精神、劳动精神、工匠精神具有内在联系。劳模精神反映劳动模范在生产实践中的职业素养、职业能力、职业品质，"
    "弘扬劳模精神强调用劳模的先进思想、模范行动影响和带动全社会。劳动精神是劳动者劳动意识、劳动理念、劳动态度、"
    "劳动习惯的集中展示，弘扬劳动精神强调正确认识劳动是人类的本质活动。工匠精神不仅是大国工匠群体特有的品质，"
    "更是广大技术工人心无旁骛钻研技能的专业素质、职业精神，弘扬工匠精神强调在追求卓越中超越自己。劳动精神是"
    "劳模精神、工匠精神的根基，离开劳动创造，劳模精神和工匠精神就是无源之水、无本之木。",
    "中华全国总工会牵头做好劳模评选表彰工作，共表彰5461名全国劳动模范和先进工作者。",
    "加大劳模、大国工匠宣传力度，持续开展“中国梦·劳动美”主题宣传教育活动，推出“最美职工”“大国工匠年度人物”。"
    "组织劳模工匠进企业、进校园、进社区宣讲，让劳动光荣、创造伟大成为铿锵的时代强音！"
    "劳模精神、劳动精神、工匠精神在激发人民力量方面发挥着重要作用吗？答案是肯定的……"
    "我们要引导广大职工崇尚劳动、热爱劳动，在辛勤劳动、诚实劳动、创造性劳动中成就梦想。",
    "（作者为中华全国总工会党组书记、副主席、书记处第一书记）",
]


def sentence_bounds(doc: Document) -> tuple[set[int], set[int]]:
    spans = [
        (p.start + s, p.start + e)
        for p in doc.paragraphs
        if not p.is_heading
        for s, e in split_sentences(doc.paragraph_text(p))
    ]
    return {s for s, _ in spans}, {e for _, e in spans}


def check_chunks(doc: Document, chunks: list[Chunk], target: int) -> None:
    """Invariants every chunking must keep."""
    heading_starts = [p.start for p in doc.paragraphs if p.is_heading]
    for seq, chunk in enumerate(chunks):
        assert chunk.chunk_id == f"{doc.doc_id}#{seq}"
        assert chunk.doc_id == doc.doc_id and chunk.title == doc.title
        assert doc.text[chunk.start : chunk.end] == chunk.text
        assert chunk.text and chunk.text == chunk.text.strip()
        assert len(chunk.text) <= target
        first = doc.paragraphs[chunk.paragraph]
        assert first.start <= chunk.start < first.end + 1 and not first.is_heading
        assert chunk.section == first.section and chunk.page == first.page
        assert not any(chunk.start <= h < chunk.end for h in heading_starts)
    # All body text is in some chunk.
    covered = [False] * len(doc.text)
    for chunk in chunks:
        covered[chunk.start : chunk.end] = [True] * (chunk.end - chunk.start)
    for p in doc.paragraphs:
        if not p.is_heading:
            assert all(covered[i] or doc.text[i].isspace() for i in range(p.start, p.end))
    starts, ends = sentence_bounds(doc)
    if all(e - s <= target for s, e in zip(sorted(starts), sorted(ends), strict=True)):
        # No sentence had to be cut: chunks are runs of whole sentences.
        assert all(c.start in starts and c.end in ends for c in chunks)
    starts = [c.start for c in chunks]
    assert starts == sorted(starts) and len(set(starts)) == len(starts)


# --- sentences -------------------------------------------------------------


def test_closing_quotes_stay_with_their_sentence() -> None:
    assert texts("他说：“好！”然后走了。") == ["他说：“好！”", "然后走了。"]
    assert texts("“我们走吧。”她说。") == ["“我们走吧。”", "她说。"]
    assert texts("他说：“好！”。下一句") == ["他说：“好！”。", "下一句"]
    assert texts("《劳动法》规定（见附件。）然后") == ["《劳动法》规定（见附件。）", "然后"]
    assert texts('He said "ok!" then left.') == ['He said "ok!"', "then left."]
    assert texts("『引号；』「括号？」") == ["『引号；』", "「括号？」"]


def test_terminator_runs_and_newlines() -> None:
    assert texts("等等……然后呢？！好吧!?是;否") == ["等等……", "然后呢？！", "好吧!?", "是;", "否"]
    assert texts("第一行\n第二行。\n\n  第三行") == ["第一行", "第二行。", "第三行"]
    assert texts("没有句号的句子") == ["没有句号的句子"]
    assert texts("") == [] and texts("  \n\u3000 ") == []
    assert texts("\u3000\u3000首行缩进。 后面 ") == ["首行缩进。", "后面"]


def test_decimal_points_and_commas_do_not_end_sentences() -> None:
    assert texts("增长3.5%，达到1,000人。") == ["增长3.5%，达到1,000人。"]


def test_answer_units_keep_a_sentence_ending_with_a_colon_with_the_next() -> None:
    text = "第四十三条 工会经费的来源：\n（一）工会会员缴纳的会费；\n（二）其他收入。工会经费主要用于为职工服务。"
    assert [text[s:e] for s, e in answer_units(text)] == [
        "第四十三条 工会经费的来源：\n（一）工会会员缴纳的会费；",
        "（二）其他收入。",
        "工会经费主要用于为职工服务。",
    ]
    assert answer_units("下列情形：") == [(0, 5)]
    assert answer_units("名单如下:\n张三。李四。") == [(0, 9), (9, 12)]
    text = "职工书屋每周开放六天。借阅期限为三十天！"
    assert answer_units(text) == split_sentences(text)


def random_text(rng: random.Random, length: int) -> str:
    alphabet = list("劳动合同工会职工权益ab1 ") * 4 + list('。！？；…!?;，、：,”’」』）》"“‘（《\n\u3000')
    return "".join(rng.choice(alphabet) for _ in range(length))


@pytest.mark.parametrize("seed", range(40))
def test_sentence_spans_fuzz(seed: int) -> None:
    rng = random.Random(seed)
    text = random_text(rng, rng.randrange(0, 400))
    spans = split_sentences(text)
    covered = [False] * len(text)
    previous_end = 0
    for start, end in spans:
        assert previous_end <= start < end <= len(text)
        piece = text[start:end]
        assert piece == piece.strip() and piece
        assert "\n" not in piece
        # Whatever follows the first terminator is more terminators and closers.
        first = next((i for i, ch in enumerate(piece) if ch in TERMINATORS), len(piece))
        assert set(piece[first:]) <= TERMINATORS | CLOSERS
        for i in range(start, end):
            covered[i] = True
        previous_end = end
    assert all(covered[i] or ch.isspace() for i, ch in enumerate(text))


def test_split_long_prefers_commas() -> None:
    clause = "用人单位应当依法建立和完善劳动规章制度，"
    sentence = clause * 12 + "保障劳动者享有劳动权利。"
    pieces = split_long(sentence, 0, len(sentence), 100)
    assert len(pieces) >= 3
    for start, end in pieces:
        assert end - start <= 100
    assert all(sentence[e - 1] == "，" for _, e in pieces[:-1])
    assert "".join(sentence[s:e] for s, e in pieces) == sentence


def test_split_long_falls_back_to_enumeration_commas_then_anywhere() -> None:
    sentence = "、".join(["劳动模范先进工作者"] * 30)
    pieces = split_long(sentence, 0, len(sentence), 50)
    assert all(sentence[e - 1] == "、" for _, e in pieces[:-1])
    solid = "劳" * 250
    pieces = split_long(solid, 0, 250, 100)
    assert [e - s for s, e in pieces] == [84, 83, 83]  # even pieces, no tiny remainder
    latin = "x" * 95 + " " + "y" * 10
    assert [latin[s:e] for s, e in split_long(latin, 0, len(latin), 100)] == ["x" * 95, "y" * 10]


def test_split_long_leaves_short_spans_and_strips() -> None:
    text = "  短句。  "
    assert split_long(text, 0, len(text), 100) == [(2, 5)]
    assert split_long(text, 0, 2, 100) == []
    with pytest.raises(ValueError):
        split_long(text, 0, len(text), 0)


# --- chunks of an ordinary document ----------------------------------------


def test_article_chunks_slice_back_exactly_and_are_near_target() -> None:
    doc = make_doc(ARTICLE, pages=True)
    for target in (120, 200, 300, 500):
        chunks = chunk_document(doc, target_chars=target)
        check_chunks(doc, chunks, target)
        sizes = [len(c.text) for c in chunks]
        assert min(sizes[:-1]) >= 0.3 * target
        assert sum(sizes[:-1]) / len(sizes[:-1]) >= 0.6 * target


def test_consecutive_chunks_overlap_by_exactly_one_sentence() -> None:
    doc = make_doc(ARTICLE)
    chunks = chunk_document(doc, target_chars=200, overlap_sentences=1)
    overlaps = 0
    for before, after in zip(chunks, chunks[1:], strict=False):
        if after.start < before.end:
            shared = doc.text[after.start : before.end]
            assert len(split_sentences(shared)) == 1
            assert before.text.endswith(shared) and after.text.startswith(shared)
            overlaps += 1
    assert overlaps >= len(chunks) // 2
    no_overlap = chunk_document(doc, target_chars=200, overlap_sentences=0)
    check_chunks(doc, no_overlap, 200)
    assert all(a.end <= b.start for a, b in zip(no_overlap, no_overlap[1:], strict=False))


def test_short_paragraphs_are_merged() -> None:
    paragraphs = [f"第{i}段只有一句话，内容很短。" for i in range(12)]
    doc = make_doc(paragraphs)
    chunks = chunk_document(doc, target_chars=100, overlap_sentences=0)
    check_chunks(doc, chunks, 100)
    assert len(chunks) < len(paragraphs) / 3
    assert "\n" in chunks[0].text


def test_paragraph_end_is_preferred_break_when_chunk_is_full_enough() -> None:
    first = "这是第一段的句子，长度大约二十个字。" * 4  # 72 chars
    second = "第二段开头的一句话。" + "第二段后续的句子，也有一些长度。" * 5
    doc = make_doc([first, second])
    chunks = chunk_document(doc, target_chars=100, overlap_sentences=0)
    check_chunks(doc, chunks, 100)
    assert chunks[0].end == doc.paragraphs[0].end


def test_over_long_sentence_is_split_at_commas() -> None:
    long_sentence = "劳动者在该用人单位连续工作满十年的，" * 20 + "应当订立无固定期限劳动合同。"
    doc = make_doc(["前面一句。", long_sentence, "后面一句。"])
    chunks = chunk_document(doc, target_chars=100)
    check_chunks(doc, chunks, 100)
    middle = [c for c in chunks if c.text.startswith("劳动者") or c.text.startswith("连续")]
    assert len(middle) >= 3
    for c in chunks:
        assert c.text[-1] in "，。"


def test_chunks_never_cross_sections_and_headings_are_not_text() -> None:
    doc = make_doc(
        [
            ("第一章 总则", "第一章 总则", True),
            ("总则里的第一句话。总则里的第二句话。", "第一章 总则", False),
            ("总则里的短段落。", "第一章 总则", False),
            ("第二章 工会组织", "第二章 工会组织", True),
            ("工会组织里的一句话。", "第二章 工会组织", False),
            ("另一节没有标题段落。", "第三节", False),
        ]
    )
    chunks = chunk_document(doc, target_chars=300)
    check_chunks(doc, chunks, 300)
    assert [c.section for c in chunks] == ["第一章 总则", "第二章 工会组织", "第三节"]
    assert all("章" not in c.text for c in chunks)
    assert chunks[0].text == "总则里的第一句话。总则里的第二句话。\n总则里的短段落。"


def test_empty_document_and_bad_target() -> None:
    assert chunk_document(make_doc([])) == []
    assert chunk_document(make_doc(["", "   "])) == []
    with pytest.raises(ValueError):
        chunk_document(make_doc(["一句。"]), target_chars=0)


@pytest.mark.parametrize("seed", range(30))
def test_chunk_offsets_fuzz(seed: int) -> None:
    rng = random.Random(1000 + seed)
    paragraphs: list[tuple[str, str, bool] | str] = []
    section = ""
    for _ in range(rng.randrange(1, 25)):
        if rng.random() < 0.1:
            section = f"第{rng.randrange(9)}章"
            paragraphs.append((section, section, True))
        elif rng.random() < 0.15:
            body = random_text(rng, rng.randrange(0, 200)).replace("\n", "")
            paragraphs.append((f"第{rng.choice('一二三十百')}条 {body}", section, False))
        else:
            paragraphs.append((random_text(rng, rng.randrange(0, 500)).replace("\n", ""), section, False))
    doc = make_doc(paragraphs, doc_id=f"fuzz{seed}")
    for target in (40, 150, 300):
        check_chunks(
            doc, chunk_document(doc, target_chars=target, overlap_sentences=rng.randrange(3)), target
        )


# --- laws ----------------------------------------------------------------------

LONG_ARTICLE = [
    "第十四条 有下列情形之一，劳动者提出或者同意续订、订立劳动合同的，应当订立无固定期限劳动合同："
] + [
    f"（{n}）劳动者在该用人单位连续工作满十年且距法定退休年龄不足十年，或者连续订立二次固定期限劳动合同的；"
    for n in "一二三四五六七"
]

LAW = [
    ("第一章 总则", "第一章 总则", True),
    ("第一条 为了完善劳动合同制度，制定本法。", "第一章 总则", False),
    ("第二条 本法适用于中华人民共和国境内的用人单位。", "第一章 总则", False),
    ("第三条 订立劳动合同，应当遵循合法、公平、平等自愿的原则。", "第一章 总则", False),
    ("第二章 劳动合同的订立", "第二章 劳动合同的订立", True),
    ("第十条 建立劳动关系，应当订立书面劳动合同。", "第二章 劳动合同的订立", False),
    (
        "已建立劳动关系，未同时订立书面劳动合同的，应当自用工之日起一个月内订立书面劳动合同。",
        "第二章 劳动合同的订立",
        False,
    ),
    *[(text, "第二章 劳动合同的订立", False) for text in LONG_ARTICLE],
    (
        "第十五条 以完成一定工作任务为期限的劳动合同，是指双方约定以某项工作的完成为合同期限。",
        "第二章 劳动合同的订立",
        False,
    ),
    ("第十六条 劳动合同文本由用人单位和劳动者各执一份。", "第二章 劳动合同的订立", False),
    ("第十九条 劳动合同期限三个月以上不满一年的，试用期不得超过一个月。", "第二章 劳动合同的订立", False),
    ("同一用人单位与同一劳动者只能约定一次试用期。", "第二章 劳动合同的订立", False),
]


def article_spans(doc: Document) -> dict[str, tuple[int, int]]:
    """Article number → span of the article (its paragraphs up to the next one)."""
    spans: dict[str, tuple[int, int]] = {}
    current = ""
    for p in doc.paragraphs:
        number = "" if p.is_heading else article_number(doc.paragraph_text(p))
        if number:
            current = number
            spans[current] = (p.start, p.end)
        elif p.is_heading:
            current = ""
        elif current:
            spans[current] = (spans[current][0], p.end)
    return spans


def test_article_number() -> None:
    assert article_number("第十九条 劳动合同期限") == "第十九条"
    assert article_number("第一百零五条\u3000内容") == "第一百零五条"
    assert article_number("第十条之一 内容") == "第十条之一"
    assert article_number("第三条") == "第三条"
    assert article_number("第三条规定，工会应当") == ""
    assert article_number("根据第三条 的规定") == ""


@pytest.mark.parametrize("target", [80, 120, 200, 300])
def test_law_articles_are_never_split_or_joined_wrongly(target: int) -> None:
    doc = make_doc(LAW, doc_id="law")
    chunks = chunk_document(doc, target_chars=target)
    check_chunks(doc, chunks, target)
    spans = article_spans(doc)
    assert all(c.article in spans for c in chunks)
    for chunk in chunks:
        touched = [n for n, (s, e) in spans.items() if s < chunk.end and chunk.start < e]
        # One article a chunk: the whole article when it fits, else a part of it.
        assert touched == [chunk.article]
        start, end = spans[chunk.article]
        if end - start <= target:
            assert (chunk.start, chunk.end) == (start, end)
        else:
            assert chunk.article == "第十四条"
        # A chunk that opens its article shows the article's number.
        if chunk.start == start:
            assert chunk.text.startswith(chunk.article)
    # The long article is cut into several overlapping parts, all labelled with it.
    parts = [c for c in chunks if c.article == "第十四条"]
    assert len(parts) >= 2
    assert parts[0].text.startswith("第十四条")
    if target >= 120:  # room for an overlapping item next to a new one
        for before, after in zip(parts, parts[1:], strict=False):
            assert after.start < before.end
    # Nothing overlaps across articles.
    for before, after in zip(chunks, chunks[1:], strict=False):
        if after.start < before.end:
            assert before.article == after.article == "第十四条"


def test_short_law_articles_are_not_packed_together() -> None:
    # Each article gets a vector of its own, so that a question about one short article
    # is not matched through its neighbours' words.
    doc = make_doc(LAW, doc_id="law")
    chunks = chunk_document(doc, target_chars=300)
    first = chunks[0]
    assert first.article == "第一条" and first.section == "第一章 总则"
    assert "第二条" not in first.text
    assert [c.article for c in chunks[:3]] == ["第一条", "第二条", "第三条"]
    assert chunks[0].end <= chunks[1].start  # no overlap across articles
    last = chunks[-1]
    assert last.article == "第十九条"
    assert last.text.startswith("第十九条") and last.text.endswith("只能约定一次试用期。")


def test_article_at_names_the_article_of_an_offset() -> None:
    from index.chunker import article_at

    doc = make_doc(LAW, doc_id="law")
    spans = article_spans(doc)
    for paragraph in doc.paragraphs:
        text = doc.paragraph_text(paragraph)
        if paragraph.is_heading:
            assert article_at(doc, paragraph.start) == ""
        elif number := article_number(text):
            assert article_at(doc, paragraph.start) == number
            assert article_at(doc, paragraph.end - 1) == number
    # a continuation paragraph belongs to the article above it
    for number, (start, end) in spans.items():
        assert {article_at(doc, offset) for offset in range(start, end)} == {number}
