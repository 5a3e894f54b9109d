"""The ONNX export (index/embedding/onnx_backend.py) is silent and right: the first `make run` exports the
model, and its warnings about traced constants are silenced at the export because the graph
they describe holds for every input, which is checked here on other batch sizes, lengths and
padding than the export traced."""

from __future__ import annotations

import gc
import warnings

import numpy as np
import pytest
import torch

from index.embedding.onnx_backend import onnx_file


def warned(caught: list[warnings.WarningMessage]) -> list[str]:
    """The warnings caught, less ResourceWarnings: those come from the garbage collector finding
    what earlier tests in this process left open (event loops, sockets), not from the code here."""
    return [f"{w.category.__name__}: {w.message}" for w in caught if not issubclass(w.category, ResourceWarning)]


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    """A small random BERT, e5-small's architecture: what the export traces is the same code."""
    from transformers import BertConfig, BertModel

    torch.manual_seed(21)
    config = BertConfig(vocab_size=120, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=64, max_position_embeddings=64, pad_token_id=1)
    folder = tmp_path_factory.mktemp("tiny-bert")
    BertModel(config).eval().save_pretrained(folder)
    return folder


def test_the_export_warns_of_nothing_and_its_graph_holds_for_other_inputs(tiny_bert):
    import onnxruntime
    from transformers import AutoModel

    gc.collect()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        path = onnx_file(tiny_bert, "onnx")
    assert warned(caught) == []

    model = AutoModel.from_pretrained(str(tiny_bert), attn_implementation="eager").eval()
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    generator = torch.Generator().manual_seed(3)
    for batch, length in ((1, 3), (3, 17), (5, 40)):  # traced with 2 x 8, no padding
        ids = torch.randint(5, 120, (batch, length), generator=generator)
        mask = torch.ones_like(ids)
        for row in range(1, batch):  # rows of other lengths, padded
            mask[row, length - row * length // (batch + 1):] = 0
            ids[row][mask[row] == 0] = 1
        with torch.no_grad():
            expected = model(input_ids=ids, attention_mask=mask).last_hidden_state.numpy()
        (got,) = session.run(None, {"input_ids": ids.numpy(), "attention_mask": mask.numpy()})
        real = mask.numpy().astype(bool)  # padded positions' states are never pooled
        assert np.allclose(got[real], expected[real], atol=1e-4), (batch, length)


@pytest.mark.model
def test_loading_the_model_on_onnx_warns_of_nothing(model_cache):
    from index.embedding.embedder import DEFAULT_MODEL, load_embedder

    gc.collect()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        embedder = load_embedder(DEFAULT_MODEL, model_cache, backend="onnx")
        vectors = embedder.encode_passages(["工会会员有哪些权利？"])
    assert warned(caught) == []
    assert vectors.shape == (1, 384)
