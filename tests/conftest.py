"""Shared fixtures: an index of the bundled corpus and a bot on it, twice over.

`embedder`, `bundled_index`, `bot` and SETTINGS use the fast deterministic fake of
tests/fake_embedder.py: every test that does not measure answer quality uses them.
`model_embedder`, `model_index`, `model_bot` and MODEL_SETTINGS use the real e5 model;
a test that uses one of them is marked `model` here (`make test-fast` leaves it out), and a
test that loads the real model itself carries the marker in its module.

The converted model is cached under UNIONQA_HOME (default ~/.cache/unionqa) so
that it is converted once per machine, not once per test run; indexes are built
fresh into temporary folders.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
if os.environ.get("PYTEST_XDIST_WORKER"):
    # Two test processes on two cores: OpenMP threads of FAISS and torch in both would wait for each
    # other (an ANN test took 26 s instead of 3). One each, set before either library is loaded, as
    # `serve --workers N` does for its processes (ui/workers.py); tests that need more threads set them.
    os.environ.setdefault("OMP_NUM_THREADS", "1")

from corpus import DEFAULT_CORPUS_DIR  # noqa: E402
from index.embedding.embedder import DEFAULT_MODEL, load_embedder  # noqa: E402
from index.paths import default_model_cache  # noqa: E402
from index.store.manifest import IndexSettings  # noqa: E402
from tests.fake_embedder import FAKE_MODEL, register  # noqa: E402

register()  # load_embedder(FAKE_MODEL, ...) in this process and the processes forked from it


_HOME_PREFIX = "unionqa-test-home-"


def _isolated_home() -> tuple[Path, bool]:
    """A UNIONQA_HOME of the test run's own, for it and its child processes: a refit in the
    developer's own home (UNIONQA_HOME/calibration) must not change what the tests see. The
    converted models stay where they are (linked in), so they are not converted again; and the
    fake gets the bundled e5 calibration as its own, since its cosines are made to look like e5's
    (without one, every bot on the fake would warn that it borrows the default model's)."""
    from bot.answerability import BUNDLED_DIR, file_name, user_calibration_path

    inherited = Path(os.environ.get("UNIONQA_HOME", "/nonexistent"))
    if inherited.name.startswith(_HOME_PREFIX) and inherited.is_dir():  # a test's child, or an xdist worker
        return inherited, False
    models = default_model_cache()
    models.mkdir(parents=True, exist_ok=True)
    home = Path(tempfile.mkdtemp(prefix=_HOME_PREFIX))
    (home / "models").symlink_to(models.resolve(), target_is_directory=True)
    os.environ["UNIONQA_HOME"] = str(home)
    calibration = (BUNDLED_DIR / file_name(DEFAULT_MODEL)).read_text(encoding="utf-8")
    fake = user_calibration_path(FAKE_MODEL)
    fake.parent.mkdir(parents=True)
    fake.write_text(calibration.replace(f'"{DEFAULT_MODEL}"', f'"{FAKE_MODEL}"', 1), encoding="utf-8")
    return home, True


TEST_HOME, _MADE_HOME_HERE = _isolated_home()


def pytest_sessionfinish(session, exitstatus):
    if _MADE_HOME_HERE:  # not while another process of the run may still use it
        shutil.rmtree(TEST_HOME, ignore_errors=True)  # the models link goes, not the models

SETTINGS = IndexSettings(embedding_model=FAKE_MODEL, chunk_chars=300, chunk_overlap=1)
MODEL_SETTINGS = IndexSettings(embedding_model=DEFAULT_MODEL, chunk_chars=300, chunk_overlap=1)

# The fixtures that load the real model: a test using one is a `model` test.
MODEL_FIXTURES = {"model_embedder", "model_index", "model_bot"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if MODEL_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.model)
        # With `-n 2 --dist loadgroup` (make test): the tests on the real model's index run in one
        # process, which builds that index once, and the other model tests (the model itself, its
        # backends, the commands that load it) in one process; every other module stays whole in
        # one process, so that its module-scoped fixtures (servers, indexes) are made once.
        item.add_marker(pytest.mark.xdist_group(_group(item)))


def _group(item) -> str:
    if {"model_index", "model_bot"} & set(getattr(item, "fixturenames", ())):
        return "model-index"
    if item.get_closest_marker("model") is not None:
        return "model"
    return item.nodeid.split("::")[0]


@pytest.fixture(autouse=True)
def _real_model_only_in_model_tests(request, monkeypatch):
    """A test that is not marked `model` fails if it starts to load a real model, instead of
    quietly making `make test-fast` slow (the session's model fixtures are set up before this)."""
    if request.node.get_closest_marker("model") is None:
        import index.embedding.embedder

        def refuse(model: str, cache_dir: Path) -> str:
            raise AssertionError(f"{request.node.nodeid} loads the real model {model!r}: mark it `model`, or use the fake")

        monkeypatch.setattr(index.embedding.embedder, "resolve_model_path", refuse)


@pytest.fixture(scope="session")
def model_cache() -> Path:
    return default_model_cache()


def _bundled_index(tmp_path_factory, settings: IndexSettings, embedder) -> Path:
    from index.build import build_index

    index_dir = tmp_path_factory.mktemp("bundled-index")
    build_index(DEFAULT_CORPUS_DIR, index_dir, settings, embedder, progress=False)
    return index_dir


@pytest.fixture(scope="session")
def embedder(model_cache):
    """The fake embedder (tests/fake_embedder.py), loaded by its name as the server loads a model."""
    return load_embedder(FAKE_MODEL, model_cache)


@pytest.fixture(scope="session")
def bundled_index(tmp_path_factory, embedder) -> Path:
    """An index (FAISS + BM25) of the bundled default corpus, on the fake embedder."""
    return _bundled_index(tmp_path_factory, SETTINGS, embedder)


@pytest.fixture(scope="session")
def bot(bundled_index, model_cache):
    """The bot on `bundled_index`: real retrieval, decisions and answers, on the fake's vectors."""
    from bot.bot import Bot

    return Bot.load(bundled_index, model_cache=model_cache, expected=SETTINGS)


@pytest.fixture(scope="session")
def model_embedder(model_cache):
    """The real e5 model."""
    return load_embedder(DEFAULT_MODEL, model_cache)


@pytest.fixture(scope="session")
def model_index(tmp_path_factory, model_embedder) -> Path:
    """A real index (FAISS + BM25) of the bundled default corpus, on the real model."""
    return _bundled_index(tmp_path_factory, MODEL_SETTINGS, model_embedder)


@pytest.fixture(scope="session")
def model_bot(model_index, model_cache, model_embedder):
    """The real bot: the one whose answers the quality tests measure."""
    from bot.bot import Bot

    return Bot.load(model_index, model_cache=model_cache, expected=MODEL_SETTINGS, embedder=model_embedder)


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
