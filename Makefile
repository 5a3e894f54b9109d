# The two commands a newcomer needs:  `make run`  and  `make test`.
# Both create .venv inside the repo and install everything on first use.
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: run test lint bench setup browser clean-index

run: $(STAMP)
	$(VENV)/bin/unionqa serve

test: $(STAMP) browser
	$(VENV)/bin/ruff check bot index corpus ui tests
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check bot index corpus ui tests

setup: $(STAMP)

# torch first and pinned: an unpinned torch would pull a multi-GB CUDA build.
$(STAMP): pyproject.toml constraints.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

# The browser tests use Debian's Chromium and a CJK font; never a browser download.
browser:
	@bash scripts/install-browser.sh
