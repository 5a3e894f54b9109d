"""Shared fixtures: the real model, a real index of the bundled corpus, a real bot.

The converted model is cached under UNIONQA_HOME (default ~/.cache/unionqa) so
that it is converted once per machine, not once per test run; indexes are built
fresh into temporary folders.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from corpus import DEFAULT_CORPUS_DIR  # noqa: E402
from index.embedder import DEFAULT_MODEL, load_embedder  # noqa: E402
from index.paths import default_model_cache  # noqa: E402
from index.store import IndexSettings  # noqa: E402

SETTINGS = IndexSettings(embedding_model=DEFAULT_MODEL, chunk_chars=300, chunk_overlap=1)


@pytest.fixture(scope="session")
def model_cache() -> Path:
    return default_model_cache()


@pytest.fixture(scope="session")
def embedder(model_cache):
    return load_embedder(DEFAULT_MODEL, model_cache)


@pytest.fixture(scope="session")
def bundled_index(tmp_path_factory, embedder) -> Path:
    """A real index (FAISS + BM25) of the bundled default corpus."""
    from index.build import build_index

    index_dir = tmp_path_factory.mktemp("bundled-index")
    build_index(DEFAULT_CORPUS_DIR, index_dir, SETTINGS, embedder, progress=False)
    return index_dir


@pytest.fixture(scope="session")
def bot(bundled_index, model_cache):
    from bot.bot import Bot

    return Bot.load(bundled_index, model_cache=model_cache, expected=SETTINGS)


@pytest.fixture(scope="session")
def hostile_files(tmp_path_factory) -> dict[str, Path]:
    """The hostile files of issue 11, generated once per run (never committed)."""
    from tests.fixtures.hostile import nested_divs_html, pdf_stream_bomb, zip_bomb_docx

    folder = tmp_path_factory.mktemp("hostile")
    return {
        "docx": zip_bomb_docx(folder / "炸弹.docx"),
        "html": nested_divs_html(folder / "nested.html"),
        "pdf": pdf_stream_bomb(folder / "bomb.pdf"),
    }


@pytest.fixture(scope="module")
def llm_server():
    """The scripted OpenAI-protocol server of tests/fake_llm.py on 127.0.0.1; a test picks
    its script (`llm_server.script = "uncited"`)."""
    from tests.fake_llm import fake_llm

    with fake_llm() as server:
        yield server
