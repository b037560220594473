# audio_assets: the two commands a newcomer needs are `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
# A CPU build of PyTorch by default (a bare `torch` may pull a multi-GB CUDA build). On a GPU machine:
#   make demo TORCH_SPEC="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128"
TORCH_SPEC ?= torch==2.13.0

export DAGSTER_HOME ?= $(CURDIR)/.dagster_home
export AUDIO_ROOT ?= $(CURDIR)/data/sample_corpus/wav48_silence_trimmed
export RESULTS_DIR ?= $(CURDIR)/results
export PARQUET_DIR ?= $(DAGSTER_HOME)/parquet

BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo dev test lint system-deps home clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet $(TORCH_SPEC)
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

home:
	mkdir -p "$(DAGSTER_HOME)"
	cp dagster.yaml "$(DAGSTER_HOME)/dagster.yaml"

# Register every speaker folder of AUDIO_ROOT (default: the bundled sample corpus) and materialise all.
demo: setup home
	$(BIN)/audio-assets demo

# The UI and the daemon (sensors, backfills, run queue) on http://127.0.0.1:3000
dev: setup home
	$(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

test: setup system-deps
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check audio_assets audio_assets_tests
	$(BIN)/ruff format --check audio_assets audio_assets_tests

# espeak-ng synthesises the test speech; installed with apt-get when missing (root or sudo).
system-deps:
	@command -v espeak-ng >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq espeak-ng; \
	  elif command -v sudo >/dev/null; then sudo apt-get update -qq && sudo apt-get install -y -qq espeak-ng; \
	  else echo "please install espeak-ng (apt-get install espeak-ng)" >&2; exit 1; fi; }

clean:
	rm -rf "$(DAGSTER_HOME)" results
